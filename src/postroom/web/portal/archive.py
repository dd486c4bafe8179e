"""The archive browser: mailboxes, a mailbox's folder tree and messages (newest first, paged), one
message (headers, text, HTML in a sandboxed frame, attachments), downloads as ``.eml`` / ``.msg``,
and filing selected messages to a location.

The same calls as the API (``web/api/archive.py``, ``web/api/filings.py``): the archive
repository, ``services.exports`` and ``services.filings.file_messages``. A message's HTML is never
part of a portal page: it is served by its own route with a Content-Security-Policy that blocks
every script and every remote load (``HTML_POLICY``), into an ``<iframe sandbox>`` that gives it
no scripts, no same-origin access, no forms, popups or navigation of the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from postroom.archive import repository as repo
from postroom.db.models import Tenant
from postroom.domain.filing import FilingSource
from postroom.errors import InvalidInput, NotFound
from postroom.services import filings, locations
from postroom.services.access import Role, tenant_for
from postroom.services.exports import ExportFormat, export_message
from postroom.services.message_view import parse_message_id, read_attachment, read_message
from postroom.web.api.archive import content_disposition
from postroom.web.deps import RuntimeDep
from postroom.web.portal.auth import ViewerDep, safe_next
from postroom.web.portal.middleware import CONTENT_SECURITY_POLICY
from postroom.web.portal.rendering import render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
# The message page may frame this site's pages (the HTML route), nothing else.
MESSAGE_PAGE_POLICY = CONTENT_SECURITY_POLICY + "; frame-src 'self'"
# The HTML of a message: inline styles and data: images only; sandboxed even when opened directly.
HTML_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox"
)
HTML_HEADERS = {
    "Content-Security-Policy": HTML_POLICY,
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}


async def form_pairs(request: Request) -> list[tuple[str, str]]:
    """Every field of a URL-encoded form, repeated names kept (the checked messages)."""
    try:
        return parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return []


FormPairsDep = Annotated[list[tuple[str, str]], Depends(form_pairs)]


@dataclass
class FolderNode:
    id: int
    name: str
    path: str
    messages: int
    deleted_at_source: str | None
    children: list[FolderNode] = field(default_factory=list)


def folder_tree(folders: list[dict[str, Any]]) -> list[FolderNode]:
    """The folders (sorted by path) as a tree; a folder whose parent is missing is a root."""
    roots: list[FolderNode] = []
    by_path: dict[str, FolderNode] = {}
    for f in sorted(folders, key=lambda f: str(f["path"])):
        path = str(f["path"])
        parent_path, _, name = path.rpartition(repo.PATH_SEPARATOR)
        node = FolderNode(int(f["id"]), name, path, int(f["messages"]), f["deleted_at_source"])
        by_path[path] = node
        parent = by_path.get(parent_path) if parent_path else None
        (parent.children if parent else roots).append(node)
    return roots


def _base(tenant: Tenant) -> str:
    return f"/tenants/{quote(tenant.name)}"


def _context(viewer: Any, tenant: Tenant, **values: Any) -> dict[str, Any]:
    return {"viewer": viewer, "tenant": viewer.choice(tenant), "active": "archive", "base": _base(tenant), **values}


def _filing_locations(session: Session, tenant_id: str) -> list[dict[str, str]]:
    return [{"id": x.id, "name": x.name} for x in locations.search_locations(session, tenant_id) if x.enabled]


@router.get("/tenants/{tenant}/archive")
def mailboxes_page(request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        context = _context(viewer, t, mailboxes=repo.list_mailboxes(session, t.id))
    return render(request, "archive/mailboxes.html", context)


@router.get("/tenants/{tenant}/archive/mailboxes/{mailbox}")
def mailbox_page(
    request: Request,
    tenant: str,
    mailbox: str,
    viewer: ViewerDep,
    runtime: RuntimeDep,
    folder: str = "",
    page: Annotated[int, Query(ge=1, le=10**6)] = 1,
) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        box = repo.get_mailbox(session, t.id, mailbox)
        folders = repo.list_folders(session, box)
        chosen = None
        if folder:
            chosen = repo.get_folder(session, box, folder)
        elif folders:
            inbox = next((f for f in folders if str(f["path"]).upper() == "INBOX"), None)
            first = inbox or next((f for f in folders if f["messages"]), folders[0])
            chosen = repo.get_folder(session, box, str(first["id"]))
        rows: list[dict[str, Any]] = []
        if chosen is not None:
            rows = repo.list_messages(session, chosen, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
        total = next((int(f["messages"]) for f in folders if chosen and f["id"] == chosen.id), 0)
        box_url = f"{_base(t)}/archive/mailboxes/{box.id}"
        folder_url = f"{box_url}?folder={chosen.id}" if chosen else box_url
        context = _context(
            viewer,
            t,
            mailbox={"id": box.id, "address": box.address, "display_name": box.display_name},
            tree=folder_tree(folders),
            folder={"id": chosen.id, "path": chosen.path} if chosen else None,
            messages=rows[:PAGE_SIZE],
            page=page,
            pages=max(1, -(-total // PAGE_SIZE)),
            total=total,
            has_next=len(rows) > PAGE_SIZE,
            box_url=box_url,
            folder_url=folder_url,
            here=folder_url + (f"&page={page}" if chosen and page > 1 else ""),
            filing_locations=_filing_locations(session, t.id),
        )
    return render(request, "archive/mailbox.html", context)


@router.get("/tenants/{tenant}/archive/messages/{key}")
def message_page(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        filing_locations = _filing_locations(session, t.id)
        mailbox_ids = {m["address"]: m["id"] for m in repo.list_mailboxes(session, t.id)}
    view = read_message(runtime, t.id, parse_message_id(key))
    message_url = f"{_base(t)}/archive/messages/{view.message['id']}"
    context = _context(
        viewer,
        t,
        message=view.message,
        details=view.message.get("metadata") or {},
        parts=view.parts,
        mailbox_ids=mailbox_ids,
        message_url=message_url,
        here=message_url,
        filing_locations=filing_locations,
    )
    return render(request, "archive/message.html", context, headers={"Content-Security-Policy": MESSAGE_PAGE_POLICY})


@router.get("/tenants/{tenant}/archive/messages/{key}/html")
def message_html(tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    """The HTML body alone, for the message page's sandboxed frame (see ``HTML_POLICY``)."""
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
    html = read_message(runtime, t.id, parse_message_id(key)).parts.inline_html()
    if html is None:
        raise NotFound("HTML part of message", key)
    return Response(html, media_type="text/html; charset=utf-8", headers=HTML_HEADERS)


@router.get("/tenants/{tenant}/archive/messages/{key}/attachments/{index}")
def attachment(tenant: str, key: str, index: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    """An attachment, always as a download (never shown by the browser)."""
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
    if not index.isdigit() or len(index) > 6:
        raise NotFound("attachment", index)
    found, data = read_attachment(runtime, t.id, parse_message_id(key), int(index))
    headers = {"Content-Disposition": content_disposition(found.name), "Content-Security-Policy": "sandbox"}
    return Response(data, media_type="application/octet-stream", headers=headers)


@router.get("/tenants/{tenant}/archive/messages/{key}/download")
def download(
    tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep, format: ExportFormat = ExportFormat.EML
) -> Response:
    """The message as ``.eml`` (its archived bytes) or ``.msg``, as the API's download."""
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
    exported = export_message(runtime, t.id, parse_message_id(key), format)
    headers = {"Content-Disposition": content_disposition(exported.file_name), "Content-Security-Policy": "sandbox"}
    return Response(exported.data, media_type=format.media_type, headers=headers)


@router.post("/tenants/{tenant}/archive/filings")
def file_selected(
    request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep, form: FormPairsDep
) -> Response:
    """File the checked messages to the chosen location (``filings.file_messages``, as the API)."""
    fields = dict(form)
    back = safe_next(fields.get("back"))
    ids = [parse_message_id(value) for name, value in form if name == "message"]
    location_key = fields.get("location", "")
    error = "check at least one message to file" if not ids else None
    error = "choose the location to file to" if not location_key else error
    result: dict[str, Any] = {}
    if error is None:
        try:
            with runtime.transaction() as session:  # all or nothing
                t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
                filed = filings.file_messages(
                    session, t.id, location_key, ids, source=FilingSource.PORTAL, filed_by=viewer.email
                )
                name = locations.get_location(session, t.id, location_key).name
                result = {"location": name, "created": len(filed.created), "already": len(filed.already)}
        except InvalidInput as exc:
            error = "; ".join(e.message for e in exc.errors)
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        context = _context(viewer, t, result=result, error=error, back=back)
    return render(request, "archive/filed.html", context, status_code=422 if error else 200)
