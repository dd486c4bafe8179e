"""Tenants: listed for everyone by their roles, created by system administrators."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from postroom.services import tenants
from postroom.services.access import tenant_for
from postroom.web.deps import ActorDep, RuntimeDep

router = APIRouter(tags=["tenants"])


class TenantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    display_name: str | None = None


@router.get("/tenants", summary="Tenants you can see")
def list_tenants(actor: ActorDep, runtime: RuntimeDep) -> list[dict[str, object]]:
    with runtime.transaction() as session:
        return [tenants.tenant_to_dict(t) for t in tenants.list_tenants(session, actor)]


@router.post("/tenants", status_code=201, summary="Create a tenant (system administrators)")
def create_tenant(body: TenantIn, actor: ActorDep, runtime: RuntimeDep) -> dict[str, object]:
    with runtime.transaction() as session:
        return tenants.tenant_to_dict(tenants.create_tenant(session, actor, body.name, body.display_name))


@router.get("/tenants/{tenant}", summary="One tenant, by name or ID")
def get_tenant(tenant: str, actor: ActorDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        return tenants.tenant_to_dict(tenant_for(session, actor, tenant))
