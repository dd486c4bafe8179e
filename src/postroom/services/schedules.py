"""Schedules: stored and validated now; the scheduler that runs them arrives later."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from postroom.db.models import Profile, Schedule
from postroom.domain.naming import is_storable, like_contains_pattern, name_key
from postroom.domain.schedule import Recurrence, RecurrenceKind, validate_schedule
from postroom.errors import FieldError, InvalidInput, NameTaken, NotFound
from postroom.services.profiles import get_profile


def create_schedule(session: Session, tenant_id: str, raw: Mapping[str, object]) -> Schedule:
    values = dict(raw)
    if values.get("profile_id"):
        try:
            values["profile_id"] = get_profile(session, tenant_id, str(values["profile_id"])).id
        except NotFound:
            raise InvalidInput(
                FieldError("profile_id", f"no profile named or with ID {values['profile_id']!r} in this tenant")
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
        recurrence=settings.recurrence.to_dict(),
        timezone=settings.timezone,
    )
    session.add(schedule)
    session.flush()
    return schedule


def get_schedule(session: Session, tenant_id: str, key: str) -> Schedule:
    key = key.strip()
    if not is_storable(key):
        raise NotFound("schedule", key)
    schedule = session.scalar(
        select(Schedule).where(
            Schedule.tenant_id == tenant_id,
            (Schedule.id == key.lower()) | (Schedule.name_key == name_key(key)),
        )
    )
    if schedule is None:
        raise NotFound("schedule", key)
    return schedule


def set_enabled(session: Session, tenant_id: str, key: str, enabled: bool) -> Schedule:
    """Enable or pause; pausing never stops a process that is already running."""
    schedule = get_schedule(session, tenant_id, key)
    schedule.enabled = enabled
    session.flush()
    return schedule


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
    rec = schedule.recurrence
    recurrence = Recurrence(RecurrenceKind(rec["kind"]), rec.get("at"), rec.get("every_minutes"))
    profile = session.get(Profile, schedule.profile_id) if schedule.profile_id else None
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
        "created_at": schedule.created_at.isoformat(),
    }
