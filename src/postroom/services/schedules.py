"""Schedules: stored, validated, and given their next due time (``services/scheduler.py`` runs them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from postroom.db.models import DirectoryService, Process, Profile, Schedule
from postroom.db.types import utcnow
from postroom.domain.naming import is_storable, like_contains_pattern, name_key
from postroom.domain.schedule import recurrence_of, validate_schedule
from postroom.errors import FieldError, InvalidInput, NameTaken, NotFound
from postroom.services import lookup
from postroom.services.profiles import get_profile
from postroom.services.scheduler import Queued, next_due, queue_schedule


def create_schedule(session: Session, tenant_id: str, raw: Mapping[str, object]) -> Schedule:
    values = dict(raw)
    if values.get("profile_id"):
        try:
            values["profile_id"] = get_profile(session, tenant_id, str(values["profile_id"])).id
        except NotFound:
            raise InvalidInput(
                FieldError("profile_id", f"no profile named or with ID {values['profile_id']!r} in this tenant")
            ) from None
    if values.get("directory_service_id"):
        from postroom.services.directories import get_directory  # ldap3 only where a directory is used

        try:
            values["directory_service_id"] = get_directory(session, tenant_id, str(values["directory_service_id"])).id
        except NotFound:
            raise InvalidInput(
                FieldError(
                    "directory_service_id",
                    f"no directory service named or with ID {values['directory_service_id']!r} in this tenant",
                )
            ) from None
    settings = validate_schedule(values)
    if session.scalar(
        select(Schedule).where(Schedule.tenant_id == tenant_id, Schedule.name_key == name_key(settings.name))
    ):
        raise NameTaken("schedule", settings.name)
    schedule = Schedule(
        tenant_id=tenant_id,
        name=settings.name,
        name_key=name_key(settings.name),
        type=settings.type.value,
        enabled=settings.enabled,
        profile_id=settings.profile_id,
        directory_service_id=settings.directory_service_id,
        recurrence=settings.recurrence.to_dict(),
        timezone=settings.timezone,
    )
    schedule.next_run_at = next_due(schedule, utcnow())
    session.add(schedule)
    session.flush()
    return schedule


def update_schedule(session: Session, tenant_id: str, key: str, changes: Mapping[str, object]) -> Schedule:
    """Change a schedule's name, recurrence, time zone or enabled state (its type stays).

    The next due time is computed again from now; a run in progress carries on.
    """
    schedule = get_schedule(session, tenant_id, key)
    if "type" in changes and str(changes["type"]).strip().lower() != schedule.type:
        raise InvalidInput(FieldError("type", "cannot be changed after the schedule is created"))
    current: dict[str, object] = {
        "name": schedule.name,
        "type": schedule.type,
        "enabled": schedule.enabled,
        "recurrence": schedule.recurrence,
        "timezone": schedule.timezone,
        "profile_id": schedule.profile_id,
    }
    current.update({k: v for k, v in changes.items() if v is not None and k != "profile_id"})
    settings = validate_schedule(current)
    if name_key(settings.name) != schedule.name_key and session.scalar(
        select(Schedule).where(Schedule.tenant_id == tenant_id, Schedule.name_key == name_key(settings.name))
    ):
        raise NameTaken("schedule", settings.name)
    schedule.name, schedule.name_key = settings.name, name_key(settings.name)
    schedule.enabled = settings.enabled
    schedule.recurrence = settings.recurrence.to_dict()
    schedule.timezone = settings.timezone
    schedule.next_run_at = next_due(schedule, utcnow())
    session.flush()
    return schedule


def get_schedule(session: Session, tenant_id: str, key: str) -> Schedule:
    """A schedule of the tenant by ID or (case-insensitive) name."""
    return lookup.get(session, Schedule, tenant_id, key, "schedule")


def set_enabled(session: Session, tenant_id: str, key: str, enabled: bool) -> Schedule:
    """Enable or pause; pausing never stops a process that is already running."""
    schedule = get_schedule(session, tenant_id, key)
    if schedule.enabled != enabled:
        schedule.enabled = enabled
        schedule.next_run_at = next_due(schedule, utcnow())  # no catch-up for the paused time
    session.flush()
    return schedule


def run_schedule_now(session: Session, tenant_id: str, key: str) -> tuple[Queued, Process]:
    """Queue the schedule's run now (paused or not); its next due time stays as it is."""
    return queue_schedule(session, get_schedule(session, tenant_id, key))


def delete_schedule(session: Session, tenant_id: str, key: str) -> None:
    session.delete(get_schedule(session, tenant_id, key))
    session.flush()


def list_schedules(session: Session, tenant_id: str, search: str | None = None) -> list[Schedule]:
    stmt = select(Schedule).where(Schedule.tenant_id == tenant_id).order_by(Schedule.name_key)
    if search and not is_storable(search):
        return []  # no name or ID contains it
    if search and search.strip():
        stmt = stmt.where(
            Schedule.name_key.like(like_contains_pattern(search), escape="\\") | (Schedule.id == search.strip().lower())
        )
    return list(session.scalars(stmt))


def schedule_to_dict(session: Session, schedule: Schedule) -> dict[str, Any]:
    recurrence = recurrence_of(schedule.recurrence)
    profile = session.get(Profile, schedule.profile_id) if schedule.profile_id else None
    directory = session.get(DirectoryService, schedule.directory_service_id) if schedule.directory_service_id else None
    last = session.get(Process, schedule.last_process_id) if schedule.last_process_id else None
    return {
        "id": schedule.id,
        "name": schedule.name,
        "type": schedule.type,
        "enabled": schedule.enabled,
        "recurrence": recurrence.to_dict(),
        "recurrence_text": str(recurrence),
        "timezone": schedule.timezone,
        "profile_id": schedule.profile_id,
        "profile_name": profile.name if profile else None,
        "directory_service_id": schedule.directory_service_id,
        "directory_service_name": directory.name if directory else None,
        "created_at": schedule.created_at.isoformat(),
        "next_run_at": schedule.next_run_at.isoformat() if schedule.next_run_at else None,
        "last_run_at": schedule.last_run_at.isoformat() if schedule.last_run_at else None,
        "last_process": (
            {"id": last.id, "request_id": last.request_id, "status": last.status} if last is not None else None
        ),
    }
