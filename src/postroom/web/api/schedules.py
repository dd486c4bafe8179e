"""Schedules: when a profile runs; the scheduler in ``postroom serve`` queues them when due."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from postroom.jobs.queue import queue_for
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
    profile_id: str | None = Field(default=None, description="folder-sync: ID or name of the profile to run")
    directory_service_id: str | None = Field(
        default=None, description="directory-sync: ID or name of the directory service whose users to synchronize"
    )
    enabled: bool = True
    recurrence: RecurrenceIn
    timezone: str = "UTC"


class SchedulePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    enabled: bool | None = None
    recurrence: RecurrenceIn | None = None
    timezone: str | None = None


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


@router.patch(
    "/tenants/{tenant}/schedules/{key}",
    summary="Edit a schedule (name, recurrence, time zone) or enable / pause it; its next run is computed anew",
)
def update_schedule(tenant: str, key: str, body: SchedulePatch, actor: ActorDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        changes = body.model_dump(exclude_none=True)
        return schedules.schedule_to_dict(session, schedules.update_schedule(session, t.id, key, changes))


@router.post(
    "/tenants/{tenant}/schedules/{key}/run",
    status_code=202,
    summary="Queue the schedule's profile now; answers with the queued run's request ID",
)
def run_schedule(tenant: str, key: str, actor: ActorDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        run, process = schedules.run_schedule_now(session, t.id, key)
        request_id, tenant_name = process.request_id, t.name
    queue_for(runtime).enqueue(run)
    return {
        "request_id": request_id,
        "status": "queued",
        "process": f"/api/v1/tenants/{tenant_name}/processes/{request_id}",
    }


@router.delete("/tenants/{tenant}/schedules/{key}", status_code=204, summary="Delete a schedule")
def delete_schedule(tenant: str, key: str, actor: ActorDep, runtime: RuntimeDep) -> None:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        schedules.delete_schedule(session, t.id, key)
