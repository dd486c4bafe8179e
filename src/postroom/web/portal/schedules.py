"""The schedules page (issue 6): list, search, create, edit (type and profile read-only),
enable/disable, delete.

Every value is checked by ``services.schedules`` and ``domain.schedule`` (the API's rules); this
module maps the form's fields to the service's input and the service's errors back to the fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any
from urllib.parse import quote
from zoneinfo import available_timezones

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from postroom.db.models import Tenant
from postroom.domain.schedule import RecurrenceKind, ScheduleType
from postroom.errors import InvalidInput, NameTaken
from postroom.services import profiles, schedules
from postroom.services.access import Role, tenant_for
from postroom.web.deps import RuntimeDep
from postroom.web.portal.auth import FormDep, Viewer, ViewerDep
from postroom.web.portal.rendering import render

router = APIRouter(include_in_schema=False)

TYPE_LABELS = {
    ScheduleType.FOLDER_SYNC: "Folder synchronization",
    ScheduleType.DIRECTORY_SYNC: "Directory synchronization",
}
KIND_LABELS = {
    RecurrenceKind.DAILY: "Daily, at a time",
    RecurrenceKind.INTERVAL: "Every N minutes",
    RecurrenceKind.ONCE: "Once, at a date and time",
}
LABELS = {
    "name": "Name",
    "type": "Type",
    "profile_id": "Profile",
    "directory_service_id": "Directory service",
    "enabled": "Enabled",
    "recurrence_kind": "Recurrence",
    "at_time": "Time of day",
    "at_datetime": "Date and time",
    "every_minutes": "Every (minutes)",
    "timezone": "Time zone",
}


@cache
def timezones() -> tuple[str, ...]:
    return tuple(sorted(available_timezones() | {"UTC"}))


def service_input(form: Mapping[str, str]) -> dict[str, object]:
    """The form's values in the shape the service (and the API's JSON) takes."""
    kind = form.get("recurrence_kind", "")
    recurrence: dict[str, object] = {"kind": kind}
    if kind == RecurrenceKind.DAILY:
        recurrence["at"] = form.get("at_time", "")
    elif kind == RecurrenceKind.ONCE:
        recurrence["at"] = form.get("at_datetime", "")
    elif kind == RecurrenceKind.INTERVAL:
        recurrence["every_minutes"] = form.get("every_minutes", "")
    return {
        "name": form.get("name", ""),
        "enabled": form.get("enabled") == "true",
        "recurrence": recurrence,
        "timezone": form.get("timezone", ""),
    }


def form_values(data: Mapping[str, Any]) -> dict[str, str]:
    """A stored schedule (``schedule_to_dict``) as the form's text values."""
    recurrence = data["recurrence"]
    kind = str(recurrence["kind"])
    at = str(recurrence.get("at") or "")
    every = recurrence.get("every_minutes")
    return {
        "name": data["name"],
        "type": data["type"],
        "profile_id": data.get("profile_id") or "",
        "directory_service_id": data.get("directory_service_id") or "",
        "enabled": "true" if data["enabled"] else "",
        "recurrence_kind": kind,
        "at_time": at if kind == RecurrenceKind.DAILY else "",
        "at_datetime": at if kind == RecurrenceKind.ONCE else "",
        "every_minutes": "" if every is None else str(every),
        "timezone": data["timezone"],
    }


def field_errors(error: InvalidInput | NameTaken, kind: str) -> dict[str, str]:
    """The service's errors keyed by the form field they belong to."""
    if isinstance(error, NameTaken):
        return {"name": str(error)}
    at_field = "at_datetime" if kind == RecurrenceKind.ONCE else "at_time"
    fields = {
        "recurrence": "recurrence_kind",
        "recurrence.kind": "recurrence_kind",
        "recurrence.at": at_field,
        "recurrence.every_minutes": "every_minutes",
    }
    messages: dict[str, str] = {}
    for e in error.errors:
        name = fields.get(e.field, e.field)
        messages[name] = f"{messages[name]}; {e.message}" if name in messages else e.message
    return messages


def _profile_choices(session: Session, tenant: Tenant) -> list[tuple[str, str]]:
    return [("", "— choose —")] + [(p.id, p.name) for p in profiles.search_profiles(session, tenant.id)]


def _directory_choices(session: Session, tenant: Tenant) -> list[tuple[str, str]]:
    from postroom.services import directories  # ldap3 only where a directory is used

    found = directories.search_directories(session, tenant.id)
    return [("", "— choose —")] + [(d.id, d.name) for d in found]


def _render_form(
    request: Request,
    session: Session,
    viewer: Viewer,
    tenant: Tenant,
    values: Mapping[str, str],
    *,
    schedule: Mapping[str, Any] | None,
    errors: Mapping[str, str] | None = None,
) -> Response:
    base = f"/tenants/{quote(tenant.name)}/schedules"
    errors = dict(errors or {})
    type_value = values.get("type", "")
    context = {
        "viewer": viewer,
        "tenant": viewer.choice(tenant),
        "active": "schedules",
        "schedule": schedule,
        "values": values,
        "errors": errors,
        "error_summary": [(f"f-{name}", LABELS.get(name, name), message) for name, message in errors.items()],
        "types": [(t.value, label) for t, label in TYPE_LABELS.items()],
        "type_label": next((label for t, label in TYPE_LABELS.items() if t.value == type_value), type_value),
        "kinds": [(k.value, label) for k, label in KIND_LABELS.items()],
        "profiles": _profile_choices(session, tenant),
        "directories": _directory_choices(session, tenant),
        "timezones": timezones(),
        "action": f"{base}/{schedule['id']}" if schedule else f"{base}/new",
        "list_url": base,
    }
    return render(request, "schedules/form.html", context, status_code=422 if errors else 200)


@router.get("/tenants/{tenant}/schedules")
def list_page(
    request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep, q: str = "", saved: str = ""
) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        rows = [schedules.schedule_to_dict(session, s) for s in schedules.list_schedules(session, t.id, q)]
        context = {
            "viewer": viewer,
            "tenant": viewer.choice(t),
            "active": "schedules",
            "schedules": rows,
            "type_labels": {t.value: label for t, label in TYPE_LABELS.items()},
            "q": q,
            "saved_name": next((r["name"] for r in rows if r["id"] == saved), None),
            "list_url": f"/tenants/{quote(t.name)}/schedules",
        }
    return render(request, "schedules/list.html", context)


@router.get("/tenants/{tenant}/schedules/new")
def new_page(request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep, profile_id: str = "") -> Response:
    """An empty form; ``?profile_id=`` (the profiles page's "Create schedule") preselects the profile."""
    values = {
        "type": ScheduleType.FOLDER_SYNC.value,
        "profile_id": profile_id,
        "enabled": "true",
        "recurrence_kind": RecurrenceKind.DAILY.value,
        "at_time": "02:00",
        "timezone": "UTC",
    }
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        return _render_form(request, session, viewer, t, values, schedule=None)


@router.post("/tenants/{tenant}/schedules/new")
def create(request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep, form: FormDep) -> Response:
    raw = {**service_input(form), "type": form.get("type", "")}
    if form.get("type") == ScheduleType.FOLDER_SYNC:
        raw["profile_id"] = form.get("profile_id", "")
    if form.get("type") == ScheduleType.DIRECTORY_SYNC:
        raw["directory_service_id"] = form.get("directory_service_id", "")
    try:
        with runtime.transaction() as session:  # rolled back on a rule broken
            t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
            schedule = schedules.create_schedule(session, t.id, raw)
            location = f"/tenants/{quote(t.name)}/schedules?saved={schedule.id}"
        return RedirectResponse(location, status_code=303)
    except (InvalidInput, NameTaken) as exc:
        errors = field_errors(exc, form.get("recurrence_kind", ""))
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        return _render_form(request, session, viewer, t, form, schedule=None, errors=errors)


@router.get("/tenants/{tenant}/schedules/{key}")
def edit_page(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        data = schedules.schedule_to_dict(session, schedules.get_schedule(session, t.id, key))
        return _render_form(request, session, viewer, t, form_values(data), schedule=data)


@router.post("/tenants/{tenant}/schedules/{key}")
def save(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep, form: FormDep) -> Response:
    try:
        with runtime.transaction() as session:  # rolled back on a rule broken
            t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
            schedule = schedules.get_schedule(session, t.id, key)
            schedules.update_schedule(session, t.id, schedule.id, service_input(form))  # type and profile stay
            location = f"/tenants/{quote(t.name)}/schedules?saved={schedule.id}"
        return RedirectResponse(location, status_code=303)
    except (InvalidInput, NameTaken) as exc:
        errors = field_errors(exc, form.get("recurrence_kind", ""))
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        data = schedules.schedule_to_dict(session, schedules.get_schedule(session, t.id, key))
        values = {**form, "type": data["type"], "profile_id": data.get("profile_id") or ""}
        return _render_form(request, session, viewer, t, values, schedule=data, errors=errors)


@router.post("/tenants/{tenant}/schedules/{key}/enabled")
def set_enabled(
    request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep, form: FormDep
) -> Response:
    """Enable (``enabled=true``) or disable (anything else) from the list; back to the list."""
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        schedule = schedules.set_enabled(session, t.id, key, form.get("enabled") == "true")
        location = f"/tenants/{quote(t.name)}/schedules?saved={schedule.id}"
    return RedirectResponse(location, status_code=303)


@router.get("/tenants/{tenant}/schedules/{key}/delete")
def delete_page(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        data = schedules.schedule_to_dict(session, schedules.get_schedule(session, t.id, key))
        context = {
            "viewer": viewer,
            "tenant": viewer.choice(t),
            "active": "schedules",
            "schedule": data,
            "list_url": f"/tenants/{quote(t.name)}/schedules",
        }
    return render(request, "schedules/delete.html", context)


@router.post("/tenants/{tenant}/schedules/{key}/delete")
def delete(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        schedules.delete_schedule(session, t.id, key)
        location = f"/tenants/{quote(t.name)}/schedules"
    return RedirectResponse(location, status_code=303)
