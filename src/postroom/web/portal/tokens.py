"""The API tokens page (issue 6): the viewer's own API tokens; create one (its value is shown
once, on the page that answers the form), revoke one.

The same ``services.users`` functions as the API's ``/tokens`` routes; any role may manage their
own tokens, as with the API.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from postroom.db.models import Tenant
from postroom.errors import FieldError, InvalidInput
from postroom.services import users
from postroom.services.access import tenant_for
from postroom.web.deps import RuntimeDep
from postroom.web.portal.auth import FormDep, Viewer, ViewerDep
from postroom.web.portal.rendering import render

router = APIRouter(include_in_schema=False)


def parse_days(value: str) -> int | None:
    """The form's "expires in days": empty for never."""
    text = value.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(
            FieldError("expires_in_days", "must be a whole number of days, or empty for never")
        ) from None


def _page(
    request: Request,
    session: Session,
    viewer: Viewer,
    tenant: Tenant,
    *,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    created: Mapping[str, object] | None = None,
    status_code: int = 200,
) -> Response:
    user = users.get_user(session, viewer.user_id)
    context = {
        "viewer": viewer,
        "tenant": viewer.choice(tenant),
        "active": "tokens",
        "tokens": [users.token_to_dict(token) for token in users.list_tokens(session, user)],
        "values": dict(values or {}),
        "errors": dict(errors or {}),
        "created": created,
        "list_url": f"/tenants/{quote(tenant.name)}/tokens",
    }
    return render(request, "tokens/list.html", context, status_code=422 if errors else status_code)


@router.get("/tenants/{tenant}/tokens")
def list_page(request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant)
        return _page(request, session, viewer, t)


@router.post("/tenants/{tenant}/tokens/new")
def create(request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep, form: FormDep) -> Response:
    try:
        with runtime.transaction() as session:
            t = tenant_for(session, viewer.actor, tenant)
            user = users.get_user(session, viewer.user_id)
            days = parse_days(form.get("expires_in_days", ""))
            token, plaintext = users.create_token(session, user, form.get("name", ""), expires_in_days=days)
            created = {**users.token_to_dict(token), "token": plaintext}
            # The value is in this answer only (no redirect, and the portal sends Cache-Control: no-store).
            return _page(request, session, viewer, t, created=created, status_code=201)
    except InvalidInput as exc:
        errors: dict[str, str] = {}
        for e in exc.errors:
            errors[e.field] = f"{errors[e.field]}; {e.message}" if e.field in errors else e.message
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant)
        return _page(request, session, viewer, t, values=form, errors=errors)


@router.post("/tenants/{tenant}/tokens/{key}/revoke")
def revoke(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant)
        users.revoke_token(session, viewer.actor, key)  # another user's token is not found, as with the API
        location = f"/tenants/{quote(t.name)}/tokens"
    return RedirectResponse(location, status_code=303)
