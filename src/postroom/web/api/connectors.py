"""Connectors for administrators: licenses, path roots and status (the protocol is ``connector_v1``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from postroom.domain.connector import DEFAULT_LICENSE_NAME
from postroom.services import connectors
from postroom.services.access import Role, tenant_for
from postroom.web.deps import ActorDep, RuntimeDep

router = APIRouter(tags=["connectors"])


class PathRootFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    server: str = Field(description="A sync path prefix as locations name it, e.g. \\\\fs\\projects")
    local: str = Field(description="The folder the connector reaches it at, e.g. /mnt/projects")


class NewConnector(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    path_roots: list[PathRootFields] = Field(default_factory=list)
    server_url: str | None = Field(
        default=None,
        description="The URL the connector reaches this server at (default POSTROOM_PUBLIC_URL, else the URL "
        "of this request)",
    )


class ConnectorChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    path_roots: list[PathRootFields] | None = Field(default=None, description="Replaces the path roots")


def _roots(roots: list[PathRootFields] | None) -> list[dict[str, Any]] | None:
    return None if roots is None else [root.model_dump() for root in roots]


@router.post("/tenants/{tenant}/connectors", status_code=201, summary="Create a connector and its license file")
def create_connector(
    tenant: str, body: NewConnector, actor: ActorDep, runtime: RuntimeDep, request: Request
) -> dict[str, Any]:
    # Without POSTROOM_PUBLIC_URL, the URL this request reached the server at: HOST may be 0.0.0.0.
    explicit = body.server_url or runtime.settings.public_url or str(request.base_url)
    server_url = connectors.license_server_url(runtime.settings, explicit)
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        connector, license_text = connectors.create_connector(
            session, t, body.name, _roots(body.path_roots) or [], actor.email, server_url
        )
        data = connectors.connector_to_dict(session, connector)
    return {"connector": data, "license": license_text, "file_name": DEFAULT_LICENSE_NAME}


@router.get("/tenants/{tenant}/connectors", summary="The tenant's connectors with their status")
def list_connectors(tenant: str, actor: ActorDep, runtime: RuntimeDep) -> list[dict[str, Any]]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return [connectors.connector_to_dict(session, c) for c in connectors.list_connectors(session, t.id)]


@router.get("/tenants/{tenant}/connectors/{key}", summary="One connector (ID, key or name) with per-location status")
def get_connector(tenant: str, key: str, actor: ActorDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return connectors.connector_to_dict(session, connectors.get_connector(session, t.id, key), locations=True)


@router.patch("/tenants/{tenant}/connectors/{key}", summary="Rename a connector or replace its path roots")
def update_connector(
    tenant: str, key: str, body: ConnectorChanges, actor: ActorDep, runtime: RuntimeDep
) -> dict[str, Any]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        connector = connectors.update_connector(session, t.id, key, name=body.name, path_roots=_roots(body.path_roots))
        return connectors.connector_to_dict(session, connector)


@router.post("/tenants/{tenant}/connectors/{key}/revoke", summary="Revoke a connector's license and end its lease")
def revoke_connector(tenant: str, key: str, actor: ActorDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return connectors.connector_to_dict(session, connectors.revoke_connector(session, t.id, key))
