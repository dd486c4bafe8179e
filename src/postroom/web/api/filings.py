"""Filings: archived messages filed to locations (issue 5)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from postroom.domain.filing import FilingSource
from postroom.services import filings
from postroom.services.access import Role, tenant_for
from postroom.web.deps import ActorDep, RuntimeDep

router = APIRouter(tags=["filings"])

MessageIdItem = Annotated[int, Field(ge=1, le=filings.MAX_MESSAGE_ID)]


class FilingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message_ids: list[MessageIdItem] = Field(
        min_length=1,
        max_length=filings.MAX_MESSAGES_PER_REQUEST,
        description="Archive message IDs; repeats count once, and a message already filed there stays as it is",
    )


def _result(session: Session, result: filings.FilingResult) -> dict[str, Any]:
    return {
        "created": [filings.filing_to_dict(session, f) for f in result.created],
        "already": [filings.filing_to_dict(session, f) for f in result.already],
    }


@router.post(
    "/tenants/{tenant}/locations/{key}/filings",
    summary="File archived messages to a location: all of them, or none when one is not found",
)
def file_messages(tenant: str, key: str, body: FilingRequest, actor: ActorDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        result = filings.file_messages(
            session, t.id, key, body.message_ids, source=FilingSource.API, filed_by=actor.email
        )
        return _result(session, result)


@router.get("/tenants/{tenant}/filings", summary="Filings, newest first; of one location and status if given")
def list_filings(
    tenant: str,
    actor: ActorDep,
    runtime: RuntimeDep,
    location: str | None = Query(default=None, description="A location's name or ID"),
    status: str | None = Query(default=None, description="pending, written, present, skipped or failed"),
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        found = filings.list_filings(session, t.id, location=location, status=status, limit=limit)
        return [filings.filing_to_dict(session, f) for f in found]


@router.get("/tenants/{tenant}/filings/{filing_id}", summary="One filing and its delivery state")
def get_filing(tenant: str, filing_id: str, actor: ActorDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return filings.filing_to_dict(session, filings.get_filing(session, t.id, filing_id))


@router.delete("/tenants/{tenant}/filings/{filing_id}", status_code=204, summary="Take back a pending filing")
def delete_filing(tenant: str, filing_id: str, actor: ActorDep, runtime: RuntimeDep) -> None:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        filings.unfile(session, t.id, filing_id)
