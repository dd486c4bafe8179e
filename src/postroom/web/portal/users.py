"""The users page (issue 6): the tenant's users with their roles; add a user, change a role, take
a user out of the tenant.

Adding a user is the API's ``POST /tenants/{tenant}/users`` (``services.users``); role changes and
removals are ``services.memberships``, which keeps at least one administrator in every tenant.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from postroom.db.models import Membership, Tenant
from postroom.errors import Conflict, FieldError, InvalidInput
from postroom.security import passwords
from postroom.services import memberships, users
from postroom.services.access import Role, tenant_for
from postroom.web.deps import RuntimeDep
from postroom.web.portal.auth import FormDep, Viewer, ViewerDep
from postroom.web.portal.rendering import render

router = APIRouter(include_in_schema=False)
ROLES = [(Role.ADMIN.value, "admin: manages the tenant"), (Role.USER.value, "user: works in the tenant")]
LABELS = {"email": "E-mail", "display_name": "Display name", "password": "Password", "role": "Role"}


def _rows(session: Session, tenant: Tenant) -> list[dict[str, Any]]:
    """The tenant's users, each with its role in this tenant only (never other tenants' names)."""
    rows = []
    for user in users.list_users(session, tenant):
        membership = session.get(Membership, (user.id, tenant.id))
        rows.append(
            {
                "id": user.id,
                "email": user.email,
                "display_name": user.display_name,
                "disabled": user.disabled,
                "role": membership.role if membership else "",
            }
        )
    return rows


def _list(
    request: Request,
    session: Session,
    viewer: Viewer,
    tenant: Tenant,
    *,
    notice: str | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "viewer": viewer,
        "tenant": viewer.choice(tenant),
        "active": "users",
        "users": _rows(session, tenant),
        "roles": ROLES,
        "notice": notice,
        "problem": problem,
        "list_url": f"/tenants/{quote(tenant.name)}/users",
    }
    return render(request, "users/list.html", context, status_code=status_code)


@router.get("/tenants/{tenant}/users")
def list_page(request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep, saved: str = "") -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        notice = None
        if saved:
            email = next((u.email for u in users.list_users(session, t) if u.id == saved), None)
            notice = f"User {email} saved." if email else None
        return _list(request, session, viewer, t, notice=notice)


def _form(
    request: Request, viewer: Viewer, tenant: Tenant, values: Mapping[str, str], errors: Mapping[str, str]
) -> Response:
    context = {
        "viewer": viewer,
        "tenant": viewer.choice(tenant),
        "active": "users",
        "values": {k: v for k, v in values.items() if k != "password"},  # a password is never sent back
        "errors": dict(errors),
        "error_summary": [(f"f-{k}", LABELS.get(k, k), v) for k, v in errors.items()],
        "roles": ROLES,
        "list_url": f"/tenants/{quote(tenant.name)}/users",
    }
    return render(request, "users/form.html", context, status_code=422 if errors else 200)


def _check_all(form: Mapping[str, str]) -> None:
    """Every rule of the service's that the form breaks, at once (the service stops at the first)."""
    problems: list[FieldError] = []
    checks: tuple[Callable[[], object], ...] = (
        lambda: users.clean_email(form.get("email", "")),
        lambda: passwords.check_password_strength(form.get("password", "")),
        lambda: users.parse_role(form.get("role", "")),
    )
    for check in checks:
        try:
            check()
        except InvalidInput as exc:
            problems += exc.errors
    if problems:
        raise InvalidInput(problems)


@router.get("/tenants/{tenant}/users/new")
def new_page(request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
    return _form(request, viewer, t, {"role": Role.USER.value}, {})


@router.post("/tenants/{tenant}/users/new")
def create(request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep, form: FormDep) -> Response:
    errors: dict[str, str] = {}
    try:
        with runtime.transaction() as session:  # rolled back on a rule broken
            t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
            _check_all(form)
            role = users.parse_role(form.get("role", ""))
            user = users.create_user(
                session, form.get("email", ""), form.get("password", ""), display_name=form.get("display_name", "")
            )
            users.set_membership(session, user, t, role)
            location = f"/tenants/{quote(t.name)}/users?saved={user.id}"
        return RedirectResponse(location, status_code=303)
    except InvalidInput as exc:
        for e in exc.errors:
            errors[e.field] = f"{errors[e.field]}; {e.message}" if e.field in errors else e.message
    except Conflict as exc:  # the e-mail address has an account already
        errors["email"] = str(exc)
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
    return _form(request, viewer, t, form, errors)


@router.post("/tenants/{tenant}/users/{key}/role")
def change_role(
    request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep, form: FormDep
) -> Response:
    try:
        with runtime.transaction() as session:
            t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
            user, _ = memberships.get_member(session, t, key)  # another tenant's user is not found
            role = users.parse_role(form.get("role", ""))
            memberships.change_role(session, t, user.id, role)
            own = user.id == viewer.user_id
            location = f"/tenants/{quote(t.name)}/" if own and role is not Role.ADMIN else None
            location = location or f"/tenants/{quote(t.name)}/users?saved={user.id}"
    except (Conflict, InvalidInput) as exc:
        with runtime.transaction() as session:
            t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
            status = 409 if isinstance(exc, Conflict) else 422
            return _list(request, session, viewer, t, problem=str(exc), status_code=status)
    return RedirectResponse(location, status_code=303)


@router.get("/tenants/{tenant}/users/{key}/remove")
def remove_page(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        user, membership = memberships.get_member(session, t, key)
        context = {
            "viewer": viewer,
            "tenant": viewer.choice(t),
            "active": "users",
            "user": {"id": user.id, "email": user.email, "role": membership.role},
            "own": user.id == viewer.user_id,
            "list_url": f"/tenants/{quote(t.name)}/users",
        }
    return render(request, "users/remove.html", context)


@router.post("/tenants/{tenant}/users/{key}/remove")
def remove(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    try:
        with runtime.transaction() as session:
            t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
            user = memberships.remove_member(session, t, key)
            location = "/" if user.id == viewer.user_id else f"/tenants/{quote(t.name)}/users"
    except Conflict as exc:  # the tenant's last administrator
        with runtime.transaction() as session:
            t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
            return _list(request, session, viewer, t, problem=str(exc), status_code=409)
    return RedirectResponse(location, status_code=303)
