"""The archive: mailboxes, folder trees, messages and their original bytes."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from postroom.archive import repository as repo
from postroom.services.access import Role, tenant_for
from postroom.services.exports import ExportFormat, export_message
from postroom.services.message_view import read_attachment, read_message
from postroom.web.deps import ActorDep, RuntimeDep

router = APIRouter(tags=["archive"])
MessageId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The message ID from a listing")]


@router.get("/tenants/{tenant}/archive/mailboxes", summary="Archive mailboxes with message counts")
def list_mailboxes(tenant: str, actor: ActorDep, runtime: RuntimeDep) -> list[dict[str, Any]]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return repo.list_mailboxes(session, t.id)


@router.get("/tenants/{tenant}/archive/mailboxes/{mailbox}/folders", summary="A mailbox's folder tree")
def list_folders(tenant: str, mailbox: str, actor: ActorDep, runtime: RuntimeDep) -> list[dict[str, Any]]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return repo.list_folders(session, repo.get_mailbox(session, t.id, mailbox))


@router.get(
    "/tenants/{tenant}/archive/mailboxes/{mailbox}/messages",
    summary="Messages of one folder (by path or ID), newest first",
)
def list_messages(
    tenant: str,
    mailbox: str,
    actor: ActorDep,
    runtime: RuntimeDep,
    folder: str = Query(description="Folder path such as INBOX or Projects/Surrey Court, or its ID"),
    limit: int = Query(default=100, ge=1, le=1000),
    offset: int = Query(default=0, ge=0, le=2**31 - 1),
) -> list[dict[str, Any]]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        box = repo.get_mailbox(session, t.id, mailbox)
        return repo.list_messages(session, repo.get_folder(session, box, folder), limit=limit, offset=offset)


@router.get("/tenants/{tenant}/archive/messages/{message_id}", summary="One message's metadata and folders")
def get_message(tenant: str, actor: ActorDep, runtime: RuntimeDep, message_id: MessageId) -> dict[str, Any]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return repo.message_to_dict(session, repo.get_message(session, t.id, message_id))


@router.get(
    "/tenants/{tenant}/archive/messages/{message_id}/download",
    summary="The message as a file: its original bytes (eml) or Outlook .msg",
    response_class=Response,
    responses={200: {"content": {"message/rfc822": {}, "application/vnd.ms-outlook": {}}}},
)
def download_message(
    tenant: str,
    actor: ActorDep,
    runtime: RuntimeDep,
    message_id: MessageId,
    format: Annotated[ExportFormat, Query(description="eml: exactly as archived; msg: converted")] = ExportFormat.EML,
) -> Response:
    with runtime.sessions() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
    exported = export_message(runtime, t.id, message_id, format)
    headers = {"Content-Disposition": content_disposition(exported.file_name)}
    if exported.warnings:  # what the conversion could not carry over, for the person downloading
        headers["X-Postroom-Warnings"] = str(len(exported.warnings))
    return Response(exported.data, media_type=format.media_type, headers=headers)


@router.get(
    "/tenants/{tenant}/archive/messages/{message_id}/eml",
    summary="The message's original bytes, exactly as archived (same as download?format=eml)",
    response_class=Response,
    responses={200: {"content": {"message/rfc822": {}}}},
)
def download_eml(tenant: str, actor: ActorDep, runtime: RuntimeDep, message_id: MessageId) -> Response:
    return download_message(tenant, actor, runtime, message_id, ExportFormat.EML)


@router.get(
    "/tenants/{tenant}/archive/messages/{message_id}/content",
    summary="The message as a person reads it: header section, text and HTML bodies, attachments",
    description="The same reading as the portal's message page. `html` is the sender's HTML as written: "
    "untrusted, so show it only sandboxed, without scripts and remote content. Each attachment's `index` "
    "downloads it from `…/attachments/{index}`. `warnings` name what could not be read.",
)
def message_content(tenant: str, actor: ActorDep, runtime: RuntimeDep, message_id: MessageId) -> dict[str, Any]:
    with runtime.sessions() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
    parts = read_message(runtime, t.id, message_id).parts
    return {
        "headers": parts.headers,
        "text": parts.text,
        "html": parts.html,
        "attachments": [
            {"index": a.index, "name": a.name, "content_type": a.content_type, "size": a.size}
            for a in parts.attachments
        ],
        "warnings": parts.warnings,
    }


@router.get(
    "/tenants/{tenant}/archive/messages/{message_id}/attachments/{index}",
    summary="One attachment's decoded bytes, as a download",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_attachment(
    tenant: str,
    actor: ActorDep,
    runtime: RuntimeDep,
    message_id: MessageId,
    index: Annotated[int, Path(ge=1, le=999_999, description="The attachment's index from …/content")],
) -> Response:
    with runtime.sessions() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
    found, data = read_attachment(runtime, t.id, message_id, index)
    # Always a download of opaque bytes: a browser must never render an attachment in our origin.
    headers = {"Content-Disposition": content_disposition(found.name), "Content-Security-Policy": "sandbox"}
    return Response(data, media_type="application/octet-stream", headers=headers)


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback name and the real one per RFC 6266 / RFC 5987."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
