"""The process log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query

from postroom.domain.process import ProcessStatus, ProcessType, Severity
from postroom.errors import FieldError, InvalidInput
from postroom.services import processes
from postroom.services.access import Role, tenant_for
from postroom.web.deps import ActorDep, RuntimeDep

router = APIRouter(tags=["processes"])


def _status(value: str | None) -> ProcessStatus | None:
    if value is None:
        return None
    try:
        return ProcessStatus(value.strip().lower())
    except ValueError:
        names = ", ".join(s.value for s in ProcessStatus)
        raise InvalidInput(FieldError("status", f"must be one of {names}")) from None


@router.get("/tenants/{tenant}/processes", summary="The process log, newest first, filtered")
def list_processes(
    tenant: str,
    actor: ActorDep,
    runtime: RuntimeDep,
    type: str | None = None,
    request_id: str | None = None,
    min_severity: str | None = Query(default=None, description="debug, info, warning or error"),
    status: str | None = None,
    since: datetime | None = Query(default=None, description="ISO 8601 with zone, e.g. 2026-11-22T00:00:00Z"),
    until: datetime | None = None,
    include_subprocesses: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    flt = processes.ProcessFilter(
        type=ProcessType.parse(type) if type else None,
        request_id=request_id,
        min_severity=Severity.parse(min_severity, "min_severity") if min_severity else None,
        status=_status(status),
        since=since,
        until=until,
        include_subprocesses=include_subprocesses,
        limit=limit,
        offset=offset,
    )
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return [processes.process_to_dict(session, p) for p in processes.list_processes(session, t.id, flt)]


@router.get("/tenants/{tenant}/processes/{key}", summary="One process with messages and sub-processes")
def get_process(tenant: str, key: str, actor: ActorDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return processes.process_to_dict(session, processes.get_process(session, t.id, key), details=True)


@router.post("/tenants/{tenant}/processes/{key}/cancel", summary="Ask a running process to stop")
def cancel_process(tenant: str, key: str, actor: ActorDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return processes.process_to_dict(session, processes.request_cancel(session, t.id, key))
