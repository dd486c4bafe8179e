"""The lock that keeps two runs of one profile from overlapping, across processes and machines.

A ``profile_runs`` row per profile holds the running process, the worker that runs it and an
expiry that the worker's heartbeat pushes forward. Every change is one conditional UPDATE (or the
INSERT of a profile's first row), so two workers racing for a profile on SQLite or PostgreSQL
cannot both win. A worker that is killed stops renewing; once its lock has expired the scheduler
hands the lock back (``holder`` empty, "waiting for a worker") and queues the run again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from postroom.db.models import ProfileRun


class Claim(StrEnum):
    ACQUIRED = "acquired"  # the caller's process may run
    SAME_PROCESS = "same-process"  # this very process is already running elsewhere (a duplicate task)
    OTHER_PROCESS = "other-process"  # another run of the profile is in progress


@dataclass(frozen=True)
class LockState:
    claim: Claim
    process_id: str | None  # who holds it (the caller when acquired)


def acquire(
    session: Session,
    tenant_id: str,
    profile_id: str,
    process_id: str,
    holder: str,
    now: datetime,
    lease_seconds: int,
) -> LockState:
    """Take the profile's lock for ``process_id``: free, expired, or handed back to this process."""
    expires = now + timedelta(seconds=lease_seconds)
    values = {"process_id": process_id, "holder": holder, "acquired_at": now, "expires_at": expires}
    taken = session.execute(
        update(ProfileRun)
        .where(
            ProfileRun.profile_id == profile_id,
            or_(
                ProfileRun.process_id.is_(None),
                ProfileRun.expires_at < now,
                and_(ProfileRun.process_id == process_id, ProfileRun.holder.is_(None)),
            ),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if getattr(taken, "rowcount", 0) == 1:
        return LockState(Claim.ACQUIRED, process_id)
    current = _current(session, profile_id)
    if current is None:
        try:
            with session.begin_nested():
                session.add(ProfileRun(profile_id=profile_id, tenant_id=tenant_id, **values))
            return LockState(Claim.ACQUIRED, process_id)
        except IntegrityError:  # another worker inserted the first row just now
            current = _current(session, profile_id)
    assert current is not None
    same = current.process_id == process_id
    return LockState(Claim.SAME_PROCESS if same else Claim.OTHER_PROCESS, current.process_id)


def _current(session: Session, profile_id: str) -> ProfileRun | None:
    return session.scalar(
        select(ProfileRun).where(ProfileRun.profile_id == profile_id).execution_options(populate_existing=True)
    )


def renew(session: Session, profile_id: str, process_id: str, holder: str, now: datetime, lease_seconds: int) -> bool:
    """The heartbeat: push the expiry on; ``False`` when the lock is no longer this worker's."""
    result = session.execute(
        update(ProfileRun)
        .where(
            ProfileRun.profile_id == profile_id,
            ProfileRun.process_id == process_id,
            ProfileRun.holder == holder,
        )
        .values(expires_at=now + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


def release(session: Session, profile_id: str, process_id: str, holder: str | None = None) -> bool:
    """Free the lock if ``process_id`` (and, when given, ``holder``) still holds it."""
    conditions = [ProfileRun.profile_id == profile_id, ProfileRun.process_id == process_id]
    if holder is not None:
        conditions.append(ProfileRun.holder == holder)
    result = session.execute(
        update(ProfileRun)
        .where(*conditions)
        .values(process_id=None, holder=None, acquired_at=None, expires_at=None)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


def hand_back(session: Session, profile_id: str, process_id: str, holder: str, now: datetime) -> bool:
    """A worker shutting down mid-run gives its lock up at once, so the run is queued again now."""
    result = session.execute(
        update(ProfileRun)
        .where(
            ProfileRun.profile_id == profile_id,
            ProfileRun.process_id == process_id,
            ProfileRun.holder == holder,
        )
        .values(expires_at=now - timedelta(seconds=1))
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


def expired(session: Session, now: datetime, limit: int = 100) -> list[ProfileRun]:
    """Locks whose holder stopped renewing them: runs interrupted by a killed worker."""
    return list(
        session.scalars(
            select(ProfileRun)
            .where(ProfileRun.process_id.is_not(None), ProfileRun.expires_at < now)
            .order_by(ProfileRun.expires_at)
            .limit(limit)
        )
    )


def requeue(session: Session, row: ProfileRun, now: datetime, lease_seconds: int) -> bool:
    """Claim an expired lock for re-queueing (one scheduler wins): holder emptied, a new deadline."""
    result = session.execute(
        update(ProfileRun)
        .where(
            ProfileRun.profile_id == row.profile_id,
            ProfileRun.process_id == row.process_id,
            ProfileRun.expires_at == row.expires_at,
        )
        .values(holder=None, expires_at=now + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


def pass_to(
    session: Session, profile_id: str, process_id: str, holder: str, new_holder: str, now: datetime, lease_seconds: int
) -> bool:
    """Hand the lock from the worker that fanned a run out to the run's mailbox tasks, which renew
    it as ``new_holder`` while any of them runs."""
    result = session.execute(
        update(ProfileRun)
        .where(
            ProfileRun.profile_id == profile_id,
            ProfileRun.process_id == process_id,
            ProfileRun.holder == holder,
        )
        .values(holder=new_holder, expires_at=now + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1
