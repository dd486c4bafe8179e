"""Schedules: when a profile runs. (Running them arrives with the scheduler.)"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from postroom.services import schedules
from postroom.services.access import Role, tenant_for
from postroom.web.deps import ActorDep, RuntimeDep

router = APIRouter(tags=["schedules"])


class RecurrenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(description="once, daily or interval")
    at: str | None = Field(default=None, description="daily: HH:MM; once: YYYY-MM-DDTHH:MM (15-minute frames)")
    every_minutes: int | str | None = Field(default=None, description="interval: a multiple of 15")


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    type: str = "folder-sync"
    profile_id: str | None = Field(default=None, description="ID or name of the profile to run")
    enabled: bool = True
    recurrence: RecurrenceIn
    timezone: str = "UTC"


class SchedulePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool


@router.get("/tenants/{tenant}/schedules", summary="List or search schedules")
def list_schedules(tenant: str, actor: ActorDep, runtime: RuntimeDep, q: str | None = None) -> list[dict[str, Any]]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return [schedules.schedule_to_dict(session, s) for s in schedules.list_schedules(session, t.id, q)]


@router.post("/tenants/{tenant}/schedules", status_code=201, summary="Create a schedule")
def create_schedule(tenant: str, body: ScheduleIn, actor: ActorDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return schedules.schedule_to_dict(session, schedules.create_schedule(session, t.id, body.model_dump()))


@router.patch("/tenants/{tenant}/schedules/{key}", summary="Enable or pause a schedule")
def update_schedule(tenant: str, key: str, body: SchedulePatch, actor: ActorDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return schedules.schedule_to_dict(session, schedules.set_enabled(session, t.id, key, body.enabled))


@router.delete("/tenants/{tenant}/schedules/{key}", status_code=204, summary="Delete a schedule")
def delete_schedule(tenant: str, key: str, actor: ActorDep, runtime: RuntimeDep) -> None:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        schedules.delete_schedule(session, t.id, key)
