"""``/api/connector/v1/``: the protocol a sync connector speaks (decision 0004).

Every request authenticates with the license secret (``Authorization: Bearer prc_…``); the
fenced ones also carry ``Postroom-Fencing-Token``, the token of the lease they act under. The
rules live in ``services/deliveries.py``; these routes only translate.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from postroom import __version__
from postroom.db.models import Tenant
from postroom.errors import BlobStoreError, LeaseLost, PostroomError
from postroom.services import connectors, deliveries
from postroom.web.deps import LicenseSecretDep, RuntimeDep
from postroom.web.errors import error_body, status_for

PREFIX = "/api/connector/v1"
FENCING_HEADER = "Postroom-Fencing-Token"
MESSAGES_MEDIA_TYPE = "application/vnd.postroom.messages"

router = APIRouter(prefix=PREFIX, tags=["connector protocol"])


TokenHeader = Annotated[
    str | None, Header(alias=FENCING_HEADER, description="The fencing token of the lease (fenced requests)")
]


def _fencing_token(token: str | None) -> int | None:
    """The header's token; a missing one is refused by the service, an unreadable one here."""
    if token is None:
        return None
    try:
        return int(token.strip())
    except ValueError:
        raise LeaseLost(f"{FENCING_HEADER} must be the whole number the lease was granted with") from None


class LeaseRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    instance_id: str = Field(max_length=100, description="The installation's ID, kept in its state folder")
    host: str = Field(max_length=255)
    version: str = Field(default="", max_length=100)


class HeartbeatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    backlog_local: int | None = Field(default=None, description="Results waiting in the connector's journal")


class ClaimRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(default=100, ge=1, le=deliveries.MAX_CLAIM)


class ResultsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    results: list[dict[str, Any]] = Field(max_length=deliveries.MAX_RESULTS)


@router.get("/hello", summary="Check the license; the server's settings and who holds the lease")
def hello(secret: LicenseSecretDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        connector = connectors.authenticate(session, secret)
        tenant = session.get(Tenant, connector.tenant_id)
        lease = deliveries.live_lease(session, connector.tenant_id)
        return {
            "connector": {"id": connector.id, "name": connector.name, "tenant": tenant.name if tenant else None},
            "server_version": __version__,
            "lease_seconds": runtime.settings.connector_lease_seconds,
            "poll_seconds": runtime.settings.connector_poll_seconds,
            "lease": deliveries.holder_to_dict(session, lease) if lease else None,
        }


@router.post("/lease", summary="Take the tenant's lease; 409 LeaseHeld names the holder")
def take_lease(body: LeaseRequest, secret: LicenseSecretDep, runtime: RuntimeDep) -> dict[str, Any]:
    seconds = runtime.settings.connector_lease_seconds
    with runtime.transaction() as session:
        connector = connectors.authenticate(session, secret)
        grant = deliveries.acquire_lease(
            session,
            connector,
            instance_id=body.instance_id,
            host=body.host,
            version=body.version,
            lease_seconds=seconds,
        )
    return {
        "fencing_token": grant.fencing_token,
        "expires_at": grant.expires_at.isoformat(),
        "lease_seconds": grant.lease_seconds,
    }


@router.post("/heartbeat", summary="Renew the lease (fenced)")
def heartbeat(
    body: HeartbeatRequest,
    secret: LicenseSecretDep,
    runtime: RuntimeDep,
    token: TokenHeader = None,
) -> dict[str, Any]:
    with runtime.transaction() as session:
        connector = connectors.authenticate(session, secret)
        expires = deliveries.heartbeat(
            session, connector, _fencing_token(token), lease_seconds=runtime.settings.connector_lease_seconds
        )
    return {"expires_at": expires.isoformat()}


@router.delete("/lease", status_code=204, summary="Release the lease on a clean stop (fenced)")
def release_lease(secret: LicenseSecretDep, runtime: RuntimeDep, token: TokenHeader = None) -> Response:
    with runtime.transaction() as session:
        connector = connectors.authenticate(session, secret)
        deliveries.release_lease(session, connector, _fencing_token(token))
    return Response(status_code=204)


@router.get("/config", summary="The tenant's locations and this connector's path roots")
def config(secret: LicenseSecretDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        return deliveries.connector_config(session, connectors.authenticate(session, secret))


@router.post("/deliveries/claim", summary="Claim deliveries to write (fenced)")
def claim(
    body: ClaimRequest,
    secret: LicenseSecretDep,
    runtime: RuntimeDep,
    token: TokenHeader = None,
) -> dict[str, Any]:
    with runtime.transaction() as session:
        connector = connectors.authenticate(session, secret)
        claimed = deliveries.claim(
            session,
            connector,
            _fencing_token(token),
            limit=body.limit,
            lease_seconds=runtime.settings.connector_lease_seconds,
        )
    return {"deliveries": claimed}


@router.get(
    "/deliveries/{delivery_id}/message",
    summary="A claimed delivery's archived EML bytes, streamed (fenced)",
    response_class=StreamingResponse,
    responses={200: {"content": {"message/rfc822": {}}}},
)
def message(
    delivery_id: str,
    secret: LicenseSecretDep,
    runtime: RuntimeDep,
    token: TokenHeader = None,
) -> StreamingResponse:
    with runtime.transaction() as session:
        connector = connectors.authenticate(session, secret)
        download = deliveries.claimed_message(session, connector, _fencing_token(token), delivery_id)
    chunks = download.chunks(runtime.blobs)
    first = next(chunks, b"")  # opens the blob now, so that a missing one is a 404, not a broken stream
    headers = {"Content-Length": str(download.size), "Postroom-Content-SHA256": download.sha256}

    def body() -> Any:
        yield first
        yield from chunks

    return StreamingResponse(body(), media_type="message/rfc822", headers=headers)


class FetchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[str] = Field(min_length=1, max_length=deliveries.MAX_FETCH, description="Claimed deliveries, in order")


@router.post(
    "/deliveries/messages",
    summary="Several claimed deliveries' EML bytes in one framed stream (fenced)",
    response_class=StreamingResponse,
    responses={200: {"content": {MESSAGES_MEDIA_TYPE: {}}}},
)
def messages(
    body: FetchRequest,
    secret: LicenseSecretDep,
    runtime: RuntimeDep,
    token: TokenHeader = None,
) -> StreamingResponse:
    """One part per requested ID, in order: a JSON line ``{"id", "size", "sha256"}`` and then exactly
    ``size`` bytes, or ``{"id", "error": {"status", "error", "message"}}`` and no bytes; the stream
    ends with ``{"end": true, "count": N}``. A stream cut short has no end line (decision 0004)."""
    with runtime.transaction() as session:
        connector = connectors.authenticate(session, secret)
        answers = deliveries.claimed_messages(session, connector, _fencing_token(token), body.ids)
    blobs = runtime.blobs

    def parts() -> Iterator[bytes]:
        for answer in answers:
            if isinstance(answer, deliveries.Refusal):
                yield _line({"id": answer.delivery_id, "error": _refusal(answer.error)})
                continue
            chunks = answer.chunks(blobs)
            try:
                first = next(chunks, b"")  # a missing blob is this part's error, not a broken stream
            except BlobStoreError as exc:
                yield _line({"id": answer.delivery_id, "error": _refusal(exc)})
                continue
            yield _line({"id": answer.delivery_id, "size": answer.size, "sha256": answer.sha256}) + first
            yield from chunks
        yield _line({"end": True, "count": len(answers)})

    return StreamingResponse(_coalesced(parts()), media_type=MESSAGES_MEDIA_TYPE)


def _coalesced(pieces: Iterator[bytes], at_least: int = 256 * 1024) -> Iterator[bytes]:
    """``pieces`` joined into blocks of at least ``at_least`` bytes: each block of a sync iterator
    costs the server a trip to a worker thread, and most messages are smaller than that."""
    block: list[bytes] = []
    size = 0
    for piece in pieces:
        block.append(piece)
        size += len(piece)
        if size >= at_least:
            yield b"".join(block)
            block, size = [], 0
    if block:
        yield b"".join(block)


def _line(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode() + b"\n"


def _refusal(error: PostroomError) -> dict[str, Any]:
    return {"status": status_for(error), **error_body(error)}


@router.post("/deliveries/results", summary="Report what became of claimed deliveries (fenced)")
def results(
    body: ResultsRequest,
    secret: LicenseSecretDep,
    runtime: RuntimeDep,
    token: TokenHeader = None,
) -> dict[str, Any]:
    with runtime.transaction() as session:
        connector = connectors.authenticate(session, secret)
        answers = deliveries.record_results(
            session,
            connector,
            _fencing_token(token),
            body.results,
            retry_seconds=runtime.settings.connector_retry_seconds,
        )
    return {"results": answers}
