"""The filing rules page: list, create, edit, delete, and "apply now" (one rule or all of them).

Every value is checked by ``services.filing_rules`` (the API's rules, ``web/api/filing_rules.py``);
applying is ``filing_rules.apply_rules``, as ``POST …/filing-rules/apply`` and ``postroom rule apply``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from postroom.db.models import Tenant
from postroom.domain.filing_rule import CONDITIONS
from postroom.errors import InvalidInput, NameTaken
from postroom.services import filing_rules, locations
from postroom.services.access import Role, tenant_for
from postroom.web.deps import RuntimeDep
from postroom.web.portal.auth import FormDep, Viewer, ViewerDep
from postroom.web.portal.rendering import render

router = APIRouter(include_in_schema=False)
LABELS = {
    "name": "Name",
    "location": "Location",
    "enabled": "Enabled",
    "conditions": "Conditions",
    "folder": "Folder",
    "sender": "Sender",
    "recipient": "Recipient",
    "subject": "Subject pattern",
    "project_code": "Project code pattern",
}


def service_input(form: Mapping[str, str], *, creating: bool) -> dict[str, object]:
    """The form's values as the service takes them; an empty condition is left out (creating)
    or removed (editing)."""
    conditions: dict[str, object] = {}
    for name in CONDITIONS:
        value = form.get(name, "").strip()
        if value or not creating:
            conditions[name] = value or None
    return {
        "name": form.get("name", ""),
        "location": form.get("location", ""),
        "enabled": form.get("enabled") == "true",
        "conditions": conditions,
    }


def form_values(data: Mapping[str, Any]) -> dict[str, str]:
    values = {"name": data["name"], "location": data["location_id"], "enabled": "true" if data["enabled"] else ""}
    values.update({name: str(data["conditions"].get(name) or "") for name in CONDITIONS})
    return values


def errors_of(exc: InvalidInput | NameTaken) -> dict[str, str]:
    if not isinstance(exc, InvalidInput):
        return {"name": str(exc)}
    messages: dict[str, str] = {}
    for e in exc.errors:
        name = e.field.removeprefix("conditions.")
        messages[name] = f"{messages[name]}; {e.message}" if name in messages else e.message
    return messages


def _list_url(tenant: Tenant) -> str:
    return f"/tenants/{quote(tenant.name)}/filing-rules"


def _list(request: Request, session: Session, viewer: Viewer, tenant: Tenant, **extra: Any) -> dict[str, Any]:
    return {
        "viewer": viewer,
        "tenant": viewer.choice(tenant),
        "active": "filing-rules",
        "rules": [filing_rules.rule_to_dict(session, r) for r in filing_rules.list_rules(session, tenant.id)],
        "list_url": _list_url(tenant),
        "locations_url": f"/tenants/{quote(tenant.name)}/locations",
        "saved_name": None,
        "applied": None,
        "error": None,
        **extra,
    }


def _form(
    request: Request,
    session: Session,
    viewer: Viewer,
    tenant: Tenant,
    values: Mapping[str, str],
    *,
    rule: Mapping[str, Any] | None,
    errors: Mapping[str, str] | None = None,
) -> Response:
    errors = dict(errors or {})
    base = _list_url(tenant)
    choices = [("", "— choose —")] + [(x.id, x.name) for x in locations.search_locations(session, tenant.id)]
    context = {
        "viewer": viewer,
        "tenant": viewer.choice(tenant),
        "active": "filing-rules",
        "rule": rule,
        "values": values,
        "errors": errors,
        "labels": LABELS,
        "locations": choices,
        "action": f"{base}/{rule['id']}" if rule else f"{base}/new",
        "list_url": base,
    }
    return render(request, "filing_rules/form.html", context, status_code=422 if errors else 200)


@router.get("/tenants/{tenant}/filing-rules")
def list_page(request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep, saved: str = "") -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        context = _list(request, session, viewer, t)
        context["saved_name"] = next((r["name"] for r in context["rules"] if r["id"] == saved), None)
    return render(request, "filing_rules/list.html", context)


@router.post("/tenants/{tenant}/filing-rules/apply")
def apply_all(request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep, form: FormDep) -> Response:
    """Apply every enabled rule (or the one named by ``rule``) to all the tenant's archived mail."""
    error: str | None = None
    applied: dict[str, Any] | None = None
    try:
        with runtime.transaction() as session:
            t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
            applied = filing_rules.apply_rules(session, t.id, rule_key=form.get("rule") or None).to_dict()
    except InvalidInput as exc:
        error = "; ".join(e.message for e in exc.errors)
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        context = _list(request, session, viewer, t, applied=applied, error=error)
    return render(request, "filing_rules/list.html", context, status_code=422 if error else 200)


@router.get("/tenants/{tenant}/filing-rules/new")
def new_page(request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        return _form(request, session, viewer, t, {"enabled": "true"}, rule=None)


@router.post("/tenants/{tenant}/filing-rules/new")
def create(request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep, form: FormDep) -> Response:
    try:
        with runtime.transaction() as session:  # rolled back on a rule broken
            t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
            rule = filing_rules.create_rule(session, t.id, service_input(form, creating=True))
            target = f"{_list_url(t)}?saved={rule.id}"
        return RedirectResponse(target, status_code=303)
    except (InvalidInput, NameTaken) as exc:
        errors = errors_of(exc)
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        return _form(request, session, viewer, t, form, rule=None, errors=errors)


@router.get("/tenants/{tenant}/filing-rules/{key}")
def edit_page(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        data = filing_rules.rule_to_dict(session, filing_rules.get_rule(session, t.id, key))
        return _form(request, session, viewer, t, form_values(data), rule=data)


@router.post("/tenants/{tenant}/filing-rules/{key}")
def save(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep, form: FormDep) -> Response:
    try:
        with runtime.transaction() as session:  # rolled back on a rule broken
            t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
            rule = filing_rules.update_rule(session, t.id, key, service_input(form, creating=False))
            target = f"{_list_url(t)}?saved={rule.id}"
        return RedirectResponse(target, status_code=303)
    except (InvalidInput, NameTaken) as exc:
        errors = errors_of(exc)
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        data = filing_rules.rule_to_dict(session, filing_rules.get_rule(session, t.id, key))
        return _form(request, session, viewer, t, form, rule=data, errors=errors)


@router.get("/tenants/{tenant}/filing-rules/{key}/delete")
def delete_page(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        data = filing_rules.rule_to_dict(session, filing_rules.get_rule(session, t.id, key))
    context = {
        "viewer": viewer,
        "tenant": viewer.choice(t),
        "active": "filing-rules",
        "rule": data,
        "list_url": _list_url(t),
    }
    return render(request, "filing_rules/delete.html", context)


@router.post("/tenants/{tenant}/filing-rules/{key}/delete")
def delete(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        filing_rules.delete_rule(session, t.id, key)
        target = _list_url(t)
    return RedirectResponse(target, status_code=303)
