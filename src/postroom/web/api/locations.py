"""Locations: the project folders messages are filed to (issue 5)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from postroom.services import locations
from postroom.services.access import Role, tenant_for
from postroom.web.deps import ActorDep, RuntimeDep

router = APIRouter(tags=["locations"])


class LocationFields(BaseModel):
    """A new location's fields, or the fields that change; ``null`` keeps the default or current value."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    sync_path: str | None = Field(
        default=None,
        description="The folder: a POSIX path (/srv/projects/…), a UNC path (\\\\server\\share\\…), a drive "
        "path (C:\\…) or a URL (smb://, sftp://, webdav://, webdavs://, s3://, file://)",
    )
    format: str | None = Field(default=None, description="eml or msg (default msg)")
    naming_template: str | None = Field(default=None, description="File name template (default {date} {subject})")
    enabled: bool | None = Field(default=None, description="Default true")

    def changes(self) -> dict[str, object]:
        return self.model_dump(exclude_unset=True)


@router.get("/tenants/{tenant}/locations", summary="List or search: name contains q, or ID equals q")
def list_locations(tenant: str, actor: ActorDep, runtime: RuntimeDep, q: str | None = None) -> list[dict[str, Any]]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return [locations.location_to_dict(x) for x in locations.search_locations(session, t.id, q)]


@router.post("/tenants/{tenant}/locations", status_code=201, summary="Create a location")
def create_location(tenant: str, body: LocationFields, actor: ActorDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return locations.location_to_dict(locations.create_location(session, t.id, body.changes()))


@router.get("/tenants/{tenant}/locations/{key}", summary="One location, by ID or name")
def get_location(tenant: str, key: str, actor: ActorDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return locations.location_to_dict(locations.get_location(session, t.id, key))


@router.patch("/tenants/{tenant}/locations/{key}", summary="Edit a location")
def update_location(
    tenant: str, key: str, body: LocationFields, actor: ActorDep, runtime: RuntimeDep
) -> dict[str, Any]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return locations.location_to_dict(locations.update_location(session, t.id, key, body.changes()))


@router.delete("/tenants/{tenant}/locations/{key}", status_code=204, summary="Delete a location")
def delete_location(tenant: str, key: str, actor: ActorDep, runtime: RuntimeDep) -> None:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        locations.delete_location(session, t.id, key)
