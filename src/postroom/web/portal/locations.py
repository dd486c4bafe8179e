"""The locations page: list and search, create, edit, delete — with each location's normalised sync
path and how its deliveries stand.

Every value is checked by ``services.locations`` (the API's rules, ``web/api/locations.py``);
the delivery counts are ``services.connectors.location_status``, as ``postroom connector show``
prints them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from postroom.db.models import Tenant
from postroom.domain.location import FileFormat
from postroom.errors import Conflict, InvalidInput, NameTaken
from postroom.formats.naming import DEFAULT_TEMPLATE
from postroom.services import connectors, locations
from postroom.services.access import Role, tenant_for
from postroom.web.deps import RuntimeDep
from postroom.web.portal.auth import FormDep, Viewer, ViewerDep
from postroom.web.portal.rendering import render

router = APIRouter(include_in_schema=False)
FIELDS = ("name", "sync_path", "format", "naming_template")
LABELS = {
    "name": "Name",
    "sync_path": "Sync path",
    "format": "File format",
    "naming_template": "File name template",
    "enabled": "Enabled",
}


def service_input(form: Mapping[str, str]) -> dict[str, object]:
    """The form's values as the service (and the API) takes them."""
    raw: dict[str, object] = {name: form.get(name, "") for name in FIELDS}
    raw["naming_template"] = form.get("naming_template", "").strip() or None  # empty: the default, or as it was
    raw["enabled"] = form.get("enabled") == "true"
    return raw


def form_values(data: Mapping[str, Any]) -> dict[str, str]:
    values = {name: str(data.get(name) or "") for name in FIELDS}
    values["enabled"] = "true" if data.get("enabled") else ""
    return values


def errors_of(exc: InvalidInput | Conflict) -> dict[str, str]:
    if isinstance(exc, NameTaken):
        return {"name": str(exc)}
    if not isinstance(exc, InvalidInput):
        return {"sync_path": str(exc)}  # the same folder as another location's
    messages: dict[str, str] = {}
    for e in exc.errors:
        messages[e.field] = f"{messages[e.field]}; {e.message}" if e.field in messages else e.message
    return messages


def _list_url(tenant: Tenant) -> str:
    return f"/tenants/{quote(tenant.name)}/locations"


def _form(
    request: Request,
    viewer: Viewer,
    tenant: Tenant,
    values: Mapping[str, str],
    *,
    location: Mapping[str, Any] | None,
    errors: Mapping[str, str] | None = None,
) -> Response:
    errors = dict(errors or {})
    base = _list_url(tenant)
    context = {
        "viewer": viewer,
        "tenant": viewer.choice(tenant),
        "active": "locations",
        "location": location,
        "values": values,
        "errors": errors,
        "labels": LABELS,
        "formats": [(f.value, f.value) for f in FileFormat],
        "default_template": str(DEFAULT_TEMPLATE),
        "action": f"{base}/{location['id']}" if location else f"{base}/new",
        "list_url": base,
    }
    return render(request, "locations/form.html", context, status_code=422 if errors else 200)


@router.get("/tenants/{tenant}/locations")
def list_page(
    request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep, q: str = "", saved: str = ""
) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        status = {row["id"]: row for row in connectors.location_status(session, t.id)}
        rows = [
            {**locations.location_to_dict(x), "status": status.get(x.id, {})}
            for x in locations.search_locations(session, t.id, q)
        ]
        context = {
            "viewer": viewer,
            "tenant": viewer.choice(t),
            "active": "locations",
            "locations": rows,
            "q": q,
            "saved_name": next((r["name"] for r in rows if r["id"] == saved), None),
            "list_url": _list_url(t),
        }
    return render(request, "locations/list.html", context)


@router.get("/tenants/{tenant}/locations/new")
def new_page(request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
    values = {"format": FileFormat.MSG.value, "naming_template": str(DEFAULT_TEMPLATE), "enabled": "true"}
    return _form(request, viewer, t, values, location=None)


@router.post("/tenants/{tenant}/locations/new")
def create(request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep, form: FormDep) -> Response:
    try:
        with runtime.transaction() as session:  # rolled back on a rule broken
            t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
            location = locations.create_location(session, t.id, service_input(form))
            target = f"{_list_url(t)}?saved={location.id}"
        return RedirectResponse(target, status_code=303)
    except (InvalidInput, Conflict) as exc:
        errors = errors_of(exc)
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
    return _form(request, viewer, t, form, location=None, errors=errors)


@router.get("/tenants/{tenant}/locations/{key}")
def edit_page(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        data = locations.location_to_dict(locations.get_location(session, t.id, key))
    return _form(request, viewer, t, form_values(data), location=data)


@router.post("/tenants/{tenant}/locations/{key}")
def save(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep, form: FormDep) -> Response:
    try:
        with runtime.transaction() as session:  # rolled back on a rule broken
            t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
            location = locations.update_location(session, t.id, key, service_input(form))
            target = f"{_list_url(t)}?saved={location.id}"
        return RedirectResponse(target, status_code=303)
    except (InvalidInput, Conflict) as exc:
        errors = errors_of(exc)
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        data = locations.location_to_dict(locations.get_location(session, t.id, key))
    return _form(request, viewer, t, form, location=data, errors=errors)


@router.get("/tenants/{tenant}/locations/{key}/delete")
def delete_page(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        data = locations.location_to_dict(locations.get_location(session, t.id, key))
        status = next((s for s in connectors.location_status(session, t.id) if s["id"] == data["id"]), {})
    context = {
        "viewer": viewer,
        "tenant": viewer.choice(t),
        "active": "locations",
        "location": data,
        "status": status,
        "list_url": _list_url(t),
    }
    return render(request, "locations/delete.html", context)


@router.post("/tenants/{tenant}/locations/{key}/delete")
def delete(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        locations.delete_location(session, t.id, key)
        target = _list_url(t)
    return RedirectResponse(target, status_code=303)
