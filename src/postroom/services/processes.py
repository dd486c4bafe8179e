"""The process log: every run is a process with messages; sub-processes feed their parent."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from postroom.db.models import DirectoryService, Process, ProcessMessage, Profile, Schedule
from postroom.db.types import utcnow
from postroom.domain.naming import is_storable
from postroom.domain.process import ProcessStatus, ProcessType, Severity
from postroom.errors import Conflict, FieldError, InvalidInput, NotFound
from postroom.services.beats import beating

if TYPE_CHECKING:
    from postroom.runtime import Runtime


def new_request_id() -> str:
    """A short, unique, copyable ID that support and logs can quote: ``R-`` and 16 hex digits."""
    return f"R-{secrets.token_hex(8).upper()}"


def start_process(
    session: Session,
    tenant_id: str,
    type: ProcessType,
    *,
    configuration_id: str | None = None,
    parent: Process | None = None,
    status: ProcessStatus = ProcessStatus.RUNNING,
) -> Process:
    process = Process(
        tenant_id=tenant_id,
        request_id=new_request_id(),
        type=type.value,
        status=status.value,
        max_severity=Severity.INFO,
        configuration_id=configuration_id,
        parent_id=parent.id if parent else None,
        started_at=utcnow() if status is ProcessStatus.RUNNING else None,
    )
    session.add(process)
    session.flush()
    return process


def resume_process(session: Session, process_id: str) -> Process:
    """Start (again) a queued process, or one whose earlier attempt was interrupted.

    Sub-processes that an interrupted attempt left unfinished are closed as failed.
    """
    process = session.get(Process, process_id)
    if process is None:
        raise NotFound("process", process_id)
    for child in session.scalars(
        select(Process).where(
            Process.parent_id == process.id,
            Process.status.in_([ProcessStatus.QUEUED.value, ProcessStatus.RUNNING.value]),
        )
    ):
        log(session, child, Severity.WARNING, "interrupted: the worker running it stopped")
        finish_process(session, child, ProcessStatus.FAILED)
    process.status = ProcessStatus.RUNNING.value
    process.finished_at = None
    if process.started_at is None:
        process.started_at = utcnow()
    session.flush()
    return process


def log(session: Session, process: Process, severity: Severity, text: str) -> ProcessMessage:
    """Add a message; the process's maximum severity, and its ancestors', rise with it."""
    message = ProcessMessage(process_id=process.id, severity=int(severity), text=text)
    session.add(message)
    node: Process | None = process
    while node is not None:
        if node.max_severity < severity:
            node.max_severity = int(severity)
        node = session.get(Process, node.parent_id) if node.parent_id else None
    session.flush()
    return message


def outcome_of(process: Process) -> ProcessStatus:
    """How a process that ends now ended: cancelled if asked to, failed if it logged an error."""
    if process.cancel_requested:
        return ProcessStatus.CANCELLED
    if process.max_severity >= Severity.ERROR:
        return ProcessStatus.FAILED
    return ProcessStatus.SUCCEEDED


def finish_process(session: Session, process: Process, status: ProcessStatus | None = None) -> Process:
    """Mark a process done; without a status, as :func:`outcome_of` says."""
    status = status or outcome_of(process)
    process.status = status.value
    process.finished_at = utcnow()
    if process.started_at is None:
        process.started_at = process.finished_at
    session.flush()
    return process


def get_process(session: Session, tenant_id: str, key: str) -> Process:
    """A process of the tenant by its ID or its request ID (both case-insensitive)."""
    key = key.strip()
    if not is_storable(key):
        raise NotFound("process", key)
    process = session.scalar(
        select(Process).where(
            Process.tenant_id == tenant_id,
            (Process.id == key.lower()) | (Process.request_id == key.upper()),
        )
    )
    if process is None:
        raise NotFound("process", key)
    return process


def request_cancel(session: Session, tenant_id: str, key: str) -> Process:
    """Ask a running or queued process to stop; the code running it checks and ends it as cancelled."""
    process = get_process(session, tenant_id, key)
    if ProcessStatus(process.status).finished:
        raise Conflict(f"process {process.request_id} already finished ({process.status}); nothing to cancel")
    process.cancel_requested = True
    if process.status == ProcessStatus.QUEUED:
        finish_process(session, process, ProcessStatus.CANCELLED)
    session.flush()
    return process


MAX_OFFSET = 2**31 - 1  # far past any log, and an integer every database takes


@dataclass(frozen=True)
class ProcessFilter:
    type: ProcessType | None = None
    request_id: str | None = None
    min_severity: Severity | None = None
    status: ProcessStatus | None = None
    since: datetime | None = None
    until: datetime | None = None
    include_subprocesses: bool = False
    limit: int = 100
    offset: int = 0

    def __post_init__(self) -> None:
        errors = []
        if not 1 <= self.limit <= 1000:
            errors.append(FieldError("limit", "must be between 1 and 1000"))
        if not 0 <= self.offset <= MAX_OFFSET:
            errors.append(FieldError("offset", f"must be between 0 and {MAX_OFFSET}"))
        for field in ("since", "until"):
            value = getattr(self, field)
            if value is not None and value.tzinfo is None:
                errors.append(FieldError(field, "needs a time zone, e.g. 2026-11-22T10:00:00Z"))
            elif value is not None and _out_of_range(value):
                errors.append(FieldError(field, "is out of range: in UTC it must fall in the years 1-9999"))
        if self.since and self.until and self.since.tzinfo and self.until.tzinfo and self.since > self.until:
            errors.append(FieldError("since", "must not be later than until"))
        if errors:
            raise InvalidInput(errors)


def _out_of_range(value: datetime) -> bool:
    """Whether ``value`` (with a zone) leaves the datetime range when converted to UTC, as stored."""
    try:
        value.astimezone(UTC)
    except OverflowError:
        return True
    return False


def list_processes(session: Session, tenant_id: str, flt: ProcessFilter) -> list[Process]:
    """Newest first. Time filters apply to when the process was created."""
    if flt.request_id and not is_storable(flt.request_id):
        return []  # no request ID contains it
    stmt = select(Process).where(Process.tenant_id == tenant_id)
    if flt.request_id:
        stmt = stmt.where(Process.request_id == flt.request_id.strip().upper())
    elif not flt.include_subprocesses:
        stmt = stmt.where(Process.parent_id.is_(None))
    if flt.type:
        stmt = stmt.where(Process.type == flt.type.value)
    if flt.min_severity is not None:
        stmt = stmt.where(Process.max_severity >= int(flt.min_severity))
    if flt.status:
        stmt = stmt.where(Process.status == flt.status.value)
    if flt.since:
        stmt = stmt.where(Process.created_at >= flt.since)
    if flt.until:
        stmt = stmt.where(Process.created_at <= flt.until)
    stmt = stmt.order_by(Process.created_at.desc(), Process.id).limit(flt.limit).offset(flt.offset)
    return list(session.scalars(stmt))


def configuration_name(session: Session, configuration_id: str | None) -> str | None:
    """Resolve the ID a process ran for to the name a person knows it by."""
    if configuration_id is None:
        return None
    profile = session.get(Profile, configuration_id)
    if profile is not None:
        return profile.name
    schedule = session.get(Schedule, configuration_id)
    if schedule is not None:
        return schedule.name
    directory = session.get(DirectoryService, configuration_id)
    return directory.name if directory is not None else None


def process_to_dict(session: Session, process: Process, *, details: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": process.id,
        "request_id": process.request_id,
        "type": process.type,
        "status": process.status,
        "max_severity": Severity(process.max_severity).label,
        "configuration_id": process.configuration_id,
        "configuration_name": configuration_name(session, process.configuration_id),
        "parent_id": process.parent_id,
        "cancel_requested": process.cancel_requested,
        "created_at": process.created_at.isoformat(),
        "started_at": process.started_at.isoformat() if process.started_at else None,
        "finished_at": process.finished_at.isoformat() if process.finished_at else None,
    }
    if details:
        data["messages"] = [
            {"time": m.time.isoformat(), "severity": Severity(m.severity).label, "text": m.text}
            for m in process.messages
        ]
        children = session.scalars(
            select(Process).where(Process.parent_id == process.id).order_by(Process.created_at, Process.id)
        )
        data["subprocesses"] = [process_to_dict(session, child, details=True) for child in children]
    return data


# --- processes nothing else watches: a heartbeat, and an end when it stops --------------------


@contextmanager
def kept_alive(runtime: Runtime, process_id: str) -> Iterator[None]:
    """Renew the process's ``alive_until`` while the block runs (:func:`postroom.services.beats.beating`).
    If the process dies with its worker (killed, machine lost), :func:`end_abandoned` finds it
    past ``alive_until`` and ends it, instead of it showing as running for ever. Profile runs do
    not need this: their profile lock has its own heartbeat."""
    lease = runtime.settings.run_lease_seconds

    def renew() -> None:
        with runtime.transaction() as session:
            session.execute(
                update(Process)
                .where(Process.id == process_id, Process.finished_at.is_(None))
                .values(alive_until=utcnow() + timedelta(seconds=lease))
                .execution_options(synchronize_session=False)
            )

    renew()
    with beating(lease, renew, f"process {process_id}"):
        yield


def end_abandoned(session: Session, now: datetime) -> list[Process]:
    """End the running processes whose heartbeat stopped (see :func:`kept_alive`) as failed."""
    abandoned = list(
        session.scalars(
            select(Process).where(
                Process.finished_at.is_(None), Process.alive_until.is_not(None), Process.alive_until < now
            )
        )
    )
    for process in abandoned:
        log(
            session,
            process,
            Severity.ERROR,
            "the worker running this process stopped (no heartbeat since "
            f"{process.alive_until:%Y-%m-%d %H:%M:%S} UTC), so it did not finish; nothing it did is lost: "
            "start it again, or let its schedule run it",
        )
        finish_process(session, process, ProcessStatus.FAILED)
    return abandoned
