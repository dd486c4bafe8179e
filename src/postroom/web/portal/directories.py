"""The directory services page: list and search, create, edit, delete, and for each one Test,
Mailboxes and Synchronize users — where the mailboxes of multiple-mailbox profiles come from.

Every value is checked by ``services.directories`` (the API's rules, ``web/api/directories.py``).
The form shows only the fields of the chosen type (``ldap`` or ``static``); the type is fixed
once created. Synchronize users starts a ``directory-sync`` process in the background, as the API
does, and shows it (the process page refreshes itself while it runs).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from postroom.db.models import Tenant
from postroom.domain.directory import DirectoryType, LdapSecurity, allowed_secret_kinds
from postroom.domain.secret import SecretKind
from postroom.errors import InUse, InvalidInput, NameTaken, SourceError
from postroom.runtime import Runtime
from postroom.services import directories, secrets
from postroom.services.access import Role, tenant_for
from postroom.web.deps import RuntimeDep
from postroom.web.portal.auth import FormDep, Viewer, ViewerDep
from postroom.web.portal.rendering import render

router = APIRouter(include_in_schema=False)
ACTIVE = "directories"


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str  # text, select, textarea, secret, security
    help: str = ""
    required: bool = False


FIELDS_BY_TYPE: dict[DirectoryType, tuple[Field, ...]] = {
    DirectoryType.LDAP: (
        Field("server_name", "Server name", "text", "Host name or address only, without ldap:// and port.", True),
        Field("security", "Security", "security", "starttls or ldaps; none sends the bind password readable."),
        Field("port", "Port", "text", "Empty for the default: 389, or 636 with ldaps (global catalog: 3268/3269)."),
        Field(
            "tls_trusted_ca",
            "Trusted CA certificates (PEM)",
            "textarea",
            "Only for a server whose certificate the system does not trust. The certificate is always verified.",
        ),
        Field("secret_id", "Bind secret", "secret", "A username/password secret: its username is the bind DN."),
        Field("base_dn", "Base DN", "text", "The DN searched below, e.g. dc=example,dc=com.", True),
        Field("filter", "Filter", "text", "Empty for the default, (&(objectClass=person)(mail=*))."),
        Field("mail_attribute", "Mail attribute", "text", "Empty for the default, mail."),
        Field("display_name_attribute", "Display-name attribute", "text", "Empty for the default, displayName."),
        Field("page_size", "Page size", "text", "Entries per page, 1-10000; empty for 500 (Active Directory: ≤ 1000)."),
        Field("timeout", "Timeout (seconds)", "text", "0 waits as long as it takes; empty for 30."),
    ),
    DirectoryType.STATIC: (
        Field(
            "entries",
            "Mailboxes (CSV)",
            "textarea",
            "One mailbox a line: address,display name (the name may be left out). "
            "A header line and ; or tab separators are understood. Saving replaces the whole list.",
        ),
    ),
}
LABELS = {"name": "Name", "type": "Type"} | {f.name: f.label for fs in FIELDS_BY_TYPE.values() for f in fs}


def _parse_type(value: object) -> DirectoryType | None:
    try:
        return DirectoryType(str(value)) if value else None
    except ValueError:
        return None


def service_input(form: Mapping[str, str], type_: DirectoryType | None, *, creating: bool) -> dict[str, object]:
    """The form's values as the service (and the API) takes them: only the type's own fields."""
    raw: dict[str, object] = {"name": form.get("name", "")}
    if creating:
        raw["type"] = form.get("type", "")
    for field in FIELDS_BY_TYPE.get(type_, ()) if type_ else ():
        raw[field.name] = form.get(field.name, "")
    return raw


def entries_csv(entries: list[dict[str, Any]]) -> str:
    """A static list as the CSV text the form edits (and the service reads back unchanged)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for entry in entries:
        writer.writerow([entry["address"], entry["display_name"]] if entry.get("display_name") else [entry["address"]])
    return out.getvalue()


def form_values(data: Mapping[str, Any]) -> dict[str, str]:
    """A stored directory service (``directory_to_dict``) as the form's text values."""
    values = {"name": str(data["name"]), "type": str(data["type"])}
    for field in FIELDS_BY_TYPE[DirectoryType(data["type"])]:
        value = data.get(field.name)
        values[field.name] = "" if value is None else str(value)
    if data["type"] == DirectoryType.STATIC.value:
        values["entries"] = entries_csv(data.get("entries") or [])
    return values


def errors_of(exc: InvalidInput | NameTaken) -> dict[str, str]:
    if isinstance(exc, NameTaken):
        return {"name": str(exc)}
    messages: dict[str, str] = {}
    for e in exc.errors:
        name = e.field.split(".", 1)[0]
        messages[name] = f"{messages[name]}; {e.message}" if name in messages else e.message
    return messages


def _list_url(tenant: Tenant) -> str:
    return f"/tenants/{quote(tenant.name)}/directories"


def _secret_choices(session: Session, tenant: Tenant) -> list[tuple[str, str]]:
    kinds = allowed_secret_kinds(DirectoryType.LDAP)
    return [("", "— none: anonymous bind —")] + [
        (s.id, f"{s.name} ({s.summary.get('username', '')})" if s.summary.get("username") else s.name)
        for s in secrets.list_secrets(session, tenant.id)
        if SecretKind(s.kind) in kinds
    ]


def _page(viewer: Viewer, tenant: Tenant, **context: Any) -> dict[str, Any]:
    return {
        "viewer": viewer,
        "tenant": viewer.choice(tenant),
        "active": ACTIVE,
        "list_url": _list_url(tenant),
    } | context


def _form(
    request: Request,
    session: Session,
    viewer: Viewer,
    tenant: Tenant,
    values: Mapping[str, str],
    *,
    directory: Mapping[str, Any] | None,
    errors: Mapping[str, str] | None = None,
) -> Response:
    errors = dict(errors or {})
    type_ = _parse_type(directory["type"] if directory else values.get("type"))
    base = _list_url(tenant)
    context = _page(
        viewer,
        tenant,
        directory=directory,
        values=values,
        errors=errors,
        labels=LABELS,
        type=type_.value if type_ else "",
        types=[(t.value, t.label) for t in DirectoryType],
        fields=FIELDS_BY_TYPE.get(type_, ()) if type_ else (),
        securities=[(s.value, s.value) for s in LdapSecurity],
        secrets=_secret_choices(session, tenant),
        action=f"{base}/{directory['id']}" if directory else f"{base}/new",
    )
    return render(request, "directories/form.html", context, status_code=422 if errors else 200)


@router.get("/tenants/{tenant}/directories")
def list_page(
    request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep, q: str = "", saved: str = ""
) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        rows = [directories.directory_to_dict(session, d) for d in directories.search_directories(session, t.id, q)]
        context = _page(
            viewer, t, directories=rows, q=q, saved_name=next((r["name"] for r in rows if r["id"] == saved), None)
        )
    return render(request, "directories/list.html", context)


@router.get("/tenants/{tenant}/directories/new")
def new_page(request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        values = {k: v for k, v in request.query_params.items() if k != "_swap"}
        values["type"] = (_parse_type(values.get("type")) or DirectoryType.LDAP).value
        values.setdefault("security", LdapSecurity.STARTTLS.value)
        return _form(request, session, viewer, t, values, directory=None)


@router.post("/tenants/{tenant}/directories/new")
def create(request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep, form: FormDep) -> Response:
    errors: dict[str, str] = {}
    if not form.get("_swap"):  # the no-script "show the fields" button saves nothing
        try:
            with runtime.transaction() as session:  # rolled back on a rule broken
                t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
                raw = service_input(form, _parse_type(form.get("type")), creating=True)
                directory = directories.create_directory(session, t.id, raw)
                target = f"{_list_url(t)}?saved={directory.id}"
            return RedirectResponse(target, status_code=303)
        except (InvalidInput, NameTaken) as exc:
            errors = errors_of(exc)
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        return _form(request, session, viewer, t, form, directory=None, errors=errors)


@router.get("/tenants/{tenant}/directories/{key}")
def edit_page(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        data = directories.directory_to_dict(session, directories.get_directory(session, t.id, key))
        return _form(request, session, viewer, t, form_values(data), directory=data)


@router.post("/tenants/{tenant}/directories/{key}")
def save(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep, form: FormDep) -> Response:
    try:
        with runtime.transaction() as session:  # rolled back on a rule broken
            t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
            current = directories.get_directory(session, t.id, key)
            raw = service_input(form, _parse_type(current.type), creating=False)
            directory = directories.update_directory(session, t.id, current.id, raw)
            target = f"{_list_url(t)}?saved={directory.id}"
        return RedirectResponse(target, status_code=303)
    except (InvalidInput, NameTaken) as exc:
        errors = errors_of(exc)
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        data = directories.directory_to_dict(session, directories.get_directory(session, t.id, key))
        return _form(request, session, viewer, t, {**form, "type": data["type"]}, directory=data, errors=errors)


def _delete_page(
    request: Request, viewer: Viewer, t: Tenant, data: Mapping[str, Any], refused: str | None = None
) -> Response:
    context = _page(viewer, t, directory=data, refused=refused)
    return render(request, "directories/delete.html", context, status_code=409 if refused else 200)


@router.get("/tenants/{tenant}/directories/{key}/delete")
def delete_page(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        data = directories.directory_to_dict(session, directories.get_directory(session, t.id, key))
    return _delete_page(request, viewer, t, data)


@router.post("/tenants/{tenant}/directories/{key}/delete")
def delete(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    try:
        with runtime.transaction() as session:
            t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
            directories.delete_directory(session, t.id, key)
            target = _list_url(t)
        return RedirectResponse(target, status_code=303)
    except InUse as exc:
        refused = str(exc)
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        data = directories.directory_to_dict(session, directories.get_directory(session, t.id, key))
    return _delete_page(request, viewer, t, data, refused)


def _directory(runtime: Runtime, viewer: Viewer, tenant: str, key: str) -> tuple[Tenant, dict[str, Any]]:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        return t, directories.directory_to_dict(session, directories.get_directory(session, t.id, key))


@router.get("/tenants/{tenant}/directories/{key}/test")
def test_page(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    t, data = _directory(runtime, viewer, tenant, key)
    return render(request, "directories/test.html", _page(viewer, t, directory=data, result=None))


@router.post("/tenants/{tenant}/directories/{key}/test")
def test(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    """Run the directory's test now (the API's ``POST …/test``): every step, its raw error and hint."""
    t, data = _directory(runtime, viewer, tenant, key)
    result = directories.check_directory(runtime, t.id, data["id"])
    template = "profiles/test_result.html" if request.headers.get("HX-Request") else "directories/test.html"
    return render(request, template, _page(viewer, t, directory=data, result=result))


@router.get("/tenants/{tenant}/directories/{key}/mailboxes")
def mailboxes_page(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    """Read the directory now: its mailboxes, and the entries left out with why."""
    t, data = _directory(runtime, viewer, tenant, key)
    try:
        listing, error = directories.list_mailboxes(runtime, t.id, data["id"]), None
    except SourceError as exc:
        listing, error = None, str(exc)
    context = _page(viewer, t, directory=data, listing=listing, error=error)
    return render(request, "directories/mailboxes.html", context, status_code=502 if error else 200)


@router.post("/tenants/{tenant}/directories/{key}/sync")
def synchronize(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    """Synchronize users now (a ``directory-sync`` process), then show that process."""
    t, data = _directory(runtime, viewer, tenant, key)
    started = directories.start_directory_sync(runtime, t.id, data["id"])
    return RedirectResponse(f"/tenants/{quote(t.name)}/processes/{started.request_id}", status_code=303)
