"""Run a profile now. The run happens in the background; follow it in the process log.

It takes the profile's lock like a scheduled run: if another run of the profile is in progress,
this one ends as skipped, naming it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from postroom.services.access import Role, tenant_for
from postroom.services.scheduler import start_run
from postroom.web.deps import ActorDep, RuntimeDep

router = APIRouter(tags=["profiles"])


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dry_run_delete: bool = False


@router.post(
    "/tenants/{tenant}/profiles/{key}/run",
    status_code=202,
    summary="Synchronize the profile now; answers at once with the run's request ID",
)
def run_profile(
    tenant: str, key: str, actor: ActorDep, runtime: RuntimeDep, body: RunIn | None = None
) -> dict[str, Any]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        tenant_name = t.name
    prepared = start_run(runtime, t.id, key, dry_run_delete=bool(body and body.dry_run_delete))
    return {
        "request_id": prepared.request_id,
        "status": "running",
        "process": f"/api/v1/tenants/{tenant_name}/processes/{prepared.request_id}",
    }
