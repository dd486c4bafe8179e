"""Signing in and out, who is viewing, and the tenant they look at.

Passwords are checked by ``services.users.authenticate_password`` and tenants by
``services.access.tenant_for``, exactly as for the API: a tenant the viewer has no role in is
*not found*.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from postroom.db.models import Tenant, User
from postroom.errors import NotAuthenticated
from postroom.services.access import Actor, Role, tenant_for
from postroom.services.tenants import list_tenants
from postroom.services.users import authenticate_password
from postroom.web.deps import RuntimeDep
from postroom.web.portal.middleware import session_state
from postroom.web.portal.rendering import render
from postroom.web.portal.session import PortalSession, password_fingerprint

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class TenantChoice:
    id: str
    name: str
    display_name: str
    role: Role


@dataclass(frozen=True)
class Viewer:
    """The signed-in person, the tenants they may switch between, and the one they last chose."""

    user_id: str
    email: str
    actor: Actor
    tenants: tuple[TenantChoice, ...]
    current: TenantChoice | None

    def choice(self, tenant: Tenant) -> TenantChoice:
        role = self.actor.role_in(tenant.id)
        assert role is not None
        return TenantChoice(tenant.id, tenant.name, tenant.display_name, role)


async def form_fields(request: Request) -> dict[str, str]:
    """The fields of a URL-encoded form (the last value of a repeated name wins)."""
    body = await request.body()
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        return {}


FormDep = Annotated[dict[str, str], Depends(form_fields)]


def _viewer(session: Session, user: User, tenant_id: str | None) -> Viewer:
    actor = Actor.for_user(session, user)
    choices = []
    for tenant in list_tenants(session, actor):
        role = actor.role_in(tenant.id)
        assert role is not None
        choices.append(TenantChoice(tenant.id, tenant.name, tenant.display_name, role))
    current = next((c for c in choices if c.id == tenant_id), choices[0] if choices else None)
    return Viewer(user.id, user.email, actor, tuple(choices), current)


def get_viewer(request: Request, runtime: RuntimeDep) -> Viewer:
    """The signed-in viewer; NotAuthenticated (a redirect to the sign-in page) otherwise."""
    state = session_state(request)
    portal_session = state.session
    if portal_session.user_id is None:
        raise NotAuthenticated("sign in to continue")
    with runtime.transaction() as session:
        user = session.get(User, portal_session.user_id)
        if user is None or user.disabled or portal_session.password != password_fingerprint(user.password_hash):
            state.replace(PortalSession())
            raise NotAuthenticated("your session has ended; sign in again")
        return _viewer(session, user, portal_session.tenant_id)


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only, never another host."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or "\\" in target:
        return "/"
    if any(ord(ch) < 0x20 for ch in target):
        return "/"
    return target


def login_redirect(request: Request) -> Response:
    """Where a page that needs a signed-in viewer sends everyone else."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = "/login" if target == "/" else f"/login?next={quote(target, safe='/')}"
    if request.headers.get("HX-Request"):
        return Response(status_code=204, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


@router.get("/login")
def login_page(request: Request, next: str | None = None, signed_out: bool = False) -> Response:
    if session_state(request).session.user_id is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    message = "You are signed out." if signed_out else None
    return render(request, "login.html", {"next": safe_next(next), "email": "", "error": None, "message": message})


@router.post("/login")
def login(request: Request, runtime: RuntimeDep, form: FormDep) -> Response:
    email, password = form.get("email", ""), form.get("password", "")
    target = safe_next(form.get("next"))
    try:
        with runtime.transaction() as session:
            user = authenticate_password(session, email, password)
            viewer = _viewer(session, user, None)
            fresh = PortalSession.signed_in(user.id, user.password_hash, viewer.current.id if viewer.current else None)
    except NotAuthenticated as exc:
        context = {"next": target, "email": email, "error": str(exc), "message": None}
        return render(request, "login.html", context, status_code=401)
    session_state(request).replace(fresh)
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
def logout(request: Request) -> Response:
    session_state(request).replace(PortalSession())
    return RedirectResponse("/login?signed_out=true", status_code=303)


@router.post("/switch-tenant")
def switch_tenant(request: Request, runtime: RuntimeDep, viewer: ViewerDep, form: FormDep) -> Response:
    with runtime.transaction() as session:
        tenant = tenant_for(session, viewer.actor, form.get("tenant", ""))
        name = tenant.name
        state = session_state(request)
        state.replace(replace(state.session, tenant_id=tenant.id))
    return RedirectResponse(f"/tenants/{quote(name)}/", status_code=303)
