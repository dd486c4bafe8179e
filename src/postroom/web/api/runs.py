"""Run a profile now. The run happens in the background; follow it in the process log."""

from __future__ import annotations

import logging
import threading
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from postroom.runtime import Runtime
from postroom.services.access import Role, tenant_for
from postroom.services.sync import PreparedRun, execute_run, prepare_run
from postroom.web.deps import ActorDep, RuntimeDep

router = APIRouter(tags=["profiles"])
logger = logging.getLogger("postroom.runs")


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dry_run_delete: bool = False


def _execute(runtime: Runtime, prepared: PreparedRun) -> None:
    try:
        execute_run(runtime, prepared)
    except Exception:  # already recorded in the process log as an internal error
        logger.exception("run %s failed", prepared.request_id)


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
    prepared = prepare_run(runtime, t.id, key, dry_run_delete=bool(body and body.dry_run_delete))
    threading.Thread(target=_execute, args=(runtime, prepared), name=f"run-{prepared.request_id}", daemon=True).start()
    return {
        "request_id": prepared.request_id,
        "status": "running",
        "process": f"/api/v1/tenants/{tenant_name}/processes/{prepared.request_id}",
    }
