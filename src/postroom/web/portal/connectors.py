"""The connectors page: each connector's status (what it last said, its lease, the backlog and how
every location's deliveries stand, as ``postroom connector show``), creating a license, editing the
name and path roots, and revoking (after a confirmation).

The calls are those of ``web/api/connectors.py``. A new license's text holds the connector's
secret, which the server keeps only as a hash: the page that follows the creation shows it and
offers it as ``Sync-license.lic`` once, and it cannot be shown again.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from postroom.db.models import Tenant
from postroom.domain.connector import DEFAULT_LICENSE_NAME
from postroom.domain.naming import clean_name
from postroom.errors import FieldError, InvalidInput, NameTaken
from postroom.runtime import Runtime
from postroom.services import connectors
from postroom.services.access import Role, tenant_for
from postroom.web.deps import RuntimeDep
from postroom.web.portal.auth import FormDep, Viewer, ViewerDep
from postroom.web.portal.rendering import render

router = APIRouter(include_in_schema=False)
LABELS = {"name": "Name", "path_roots": "Path roots"}


def parse_roots(text: str, name: str) -> list[connectors.RootText]:
    """One ``SERVER=LOCAL`` per line (empty lines ignored); one InvalidInput naming every bad line,
    and a bad ``name`` too (the service checks the rest: every problem shows at once)."""
    problems: list[FieldError] = []
    roots = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                roots.append(connectors.parse_root(line.strip(), f"path_roots line {number}"))
            except InvalidInput as exc:
                problems.extend(exc.errors)
    if problems:
        try:
            clean_name(name)
        except InvalidInput as exc:
            problems = exc.errors + problems
        raise InvalidInput(problems)
    return roots


def roots_text(roots: list[dict[str, str]]) -> str:
    return "\n".join(f"{root['server']}={root['local']}" for root in roots)


def errors_of(exc: InvalidInput | NameTaken) -> dict[str, str]:
    if not isinstance(exc, InvalidInput):
        return {"name": str(exc)}
    messages: dict[str, str] = {}
    for e in exc.errors:
        name = "path_roots" if e.field.startswith("path_roots") else "name" if e.field == "name" else e.field
        text = f"{e.field}: {e.message}" if name == "path_roots" and e.field != "path_roots" else e.message
        messages[name] = f"{messages[name]}; {text}" if name in messages else text
    return messages


def _list_url(tenant: Tenant) -> str:
    return f"/tenants/{quote(tenant.name)}/connectors"


def _context(viewer: Viewer, tenant: Tenant, **values: Any) -> dict[str, Any]:
    return {
        "viewer": viewer,
        "tenant": viewer.choice(tenant),
        "active": "connectors",
        "list_url": _list_url(tenant),
        "labels": LABELS,
        **values,
    }


@router.get("/tenants/{tenant}/connectors")
def list_page(request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep, saved: str = "") -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        rows = [connectors.connector_to_dict(session, c) for c in connectors.list_connectors(session, t.id)]
        status = connectors.location_status(session, t.id)
        context = _context(
            viewer,
            t,
            connectors=rows,
            locations=status,
            backlog=connectors.backlog(session, t.id),
            saved_name=next((r["name"] for r in rows if r["id"] == saved), None),
        )
    return render(request, "connectors/list.html", context)


def _server_url(request: Request, runtime: Runtime) -> str:
    """As the API: POSTROOM_PUBLIC_URL, else the URL this request reached the server at."""
    explicit = runtime.settings.public_url or str(request.base_url)
    return connectors.license_server_url(runtime.settings, explicit)


@router.get("/tenants/{tenant}/connectors/new")
def new_page(request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
    context = _context(viewer, t, connector=None, values={}, errors={}, server_url=_server_url(request, runtime))
    return render(request, "connectors/form.html", context)


@router.post("/tenants/{tenant}/connectors/new")
def create(request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep, form: FormDep) -> Response:
    """Create the connector; the answer shows its license once, with the download."""
    server_url = _server_url(request, runtime)
    try:
        with runtime.transaction() as session:  # rolled back on a rule broken
            t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
            roots = parse_roots(form.get("path_roots", ""), form.get("name", ""))
            connector, license_text = connectors.create_connector(
                session, t, form.get("name", ""), roots, viewer.email, server_url
            )
            data = connectors.connector_to_dict(session, connector)
    except (InvalidInput, NameTaken) as exc:
        with runtime.transaction() as session:
            t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        context = _context(viewer, t, connector=None, values=form, errors=errors_of(exc), server_url=server_url)
        return render(request, "connectors/form.html", context, status_code=422)
    context = _context(
        viewer,
        t,
        connector=data,
        license_text=license_text,
        license_name=DEFAULT_LICENSE_NAME,
        license_href="data:application/octet-stream;base64," + base64.b64encode(license_text.encode()).decode(),
    )
    return render(request, "connectors/created.html", context, status_code=201)


@router.get("/tenants/{tenant}/connectors/{key}")
def details_page(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        data = connectors.connector_to_dict(session, connectors.get_connector(session, t.id, key), locations=True)
    values = {"name": data["name"], "path_roots": roots_text(data["path_roots"])}
    return render(request, "connectors/form.html", _context(viewer, t, connector=data, values=values, errors={}))


@router.post("/tenants/{tenant}/connectors/{key}")
def save(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep, form: FormDep) -> Response:
    try:
        with runtime.transaction() as session:  # rolled back on a rule broken
            t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
            roots = parse_roots(form.get("path_roots", ""), form.get("name", ""))
            connector = connectors.update_connector(session, t.id, key, name=form.get("name", ""), path_roots=roots)
            target = f"{_list_url(t)}?saved={connector.id}"
        return RedirectResponse(target, status_code=303)
    except (InvalidInput, NameTaken) as exc:
        errors = errors_of(exc)
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        data = connectors.connector_to_dict(session, connectors.get_connector(session, t.id, key), locations=True)
    context = _context(viewer, t, connector=data, values=form, errors=errors)
    return render(request, "connectors/form.html", context, status_code=422)


@router.get("/tenants/{tenant}/connectors/{key}/revoke")
def revoke_page(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        data = connectors.connector_to_dict(session, connectors.get_connector(session, t.id, key))
    return render(request, "connectors/revoke.html", _context(viewer, t, connector=data))


@router.post("/tenants/{tenant}/connectors/{key}/revoke")
def revoke(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        connector = connectors.revoke_connector(session, t.id, key)
        target = f"{_list_url(t)}?saved={connector.id}"
    return RedirectResponse(target, status_code=303)
