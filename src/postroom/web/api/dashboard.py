"""The dashboard as data: what the portal's first page shows an administrator."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from postroom.services import dashboard
from postroom.services.access import Role, tenant_for
from postroom.web.deps import ActorDep, RuntimeDep

router = APIRouter(tags=["dashboard"])


@router.get(
    "/tenants/{tenant}/dashboard",
    summary="Running processes, errors in the last 24 hours, archive counts, connectors and notifications",
)
def get_dashboard(tenant: str, actor: ActorDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        return dashboard.dashboard(session, tenant_for(session, actor, tenant, need=Role.ADMIN))
