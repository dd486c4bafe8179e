"""The dashboard: what runs, what failed in the last 24 hours, the archive, the connectors and what
needs attention. A process's details, where the dashboard links to, are on the process log page
(``processes``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from postroom.db.models import Tenant
from postroom.services import dashboard as service
from postroom.services.access import Role, tenant_for
from postroom.web.deps import RuntimeDep
from postroom.web.portal.auth import ViewerDep
from postroom.web.portal.rendering import render

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(request: Request, viewer: ViewerDep) -> Response:
    """The dashboard of the tenant chosen last (the first one at sign-in)."""
    if viewer.current is None:
        return render(request, "no_tenant.html", {"viewer": viewer, "active": "dashboard"})
    return RedirectResponse(f"/tenants/{quote(viewer.current.name)}/", status_code=303)


_LINKS = {"secret-expires": "secrets", "profile-unscheduled": "profiles", "location-unreachable": "locations"}


def dashboard_facts(session: Session, tenant: Tenant) -> dict[str, Any]:
    """The dashboard service's facts, with links to the portal's pages."""
    facts = service.dashboard(session, tenant)
    base = f"/tenants/{quote(tenant.name)}"
    since_text = facts["failed_since"][:16]  # the process log's filter (UTC), as its form sends it
    facts["errors_url"] = f"{base}/processes?{urlencode({'min_severity': 'error', 'since': since_text})}"
    for note in facts["notifications"]:
        note["url"] = f"{base}/{_LINKS[note['kind']]}/{note['id']}"
    return facts


@router.get("/tenants/{tenant}/")
def dashboard(request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant)
        choice = viewer.choice(t)
        facts = dashboard_facts(session, t) if choice.role is Role.ADMIN else None
    context = {"viewer": viewer, "tenant": choice, "active": "dashboard", "facts": facts}
    return render(request, "dashboard.html", context)
