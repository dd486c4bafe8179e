"""Schedules (seed 002, PRODUCT.md §4): what runs, and when, in 15-minute frames and a time zone.

Only the rules live here for now; computing due times and running them comes with the scheduler.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from postroom.domain.naming import clean_name
from postroom.errors import FieldError, InvalidInput

FRAME_MINUTES = 15


class ScheduleType(StrEnum):
    FOLDER_SYNC = "folder-sync"
    DIRECTORY_SYNC = "directory-sync"


class RecurrenceKind(StrEnum):
    ONCE = "once"
    DAILY = "daily"
    INTERVAL = "interval"


@dataclass(frozen=True)
class Recurrence:
    """``once`` at a local date and time, ``daily`` at a time, or every N minutes/hours."""

    kind: RecurrenceKind
    at: str | None = None  # "HH:MM" for daily, "YYYY-MM-DDTHH:MM" for once (schedule's time zone)
    every_minutes: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind.value, "at": self.at, "every_minutes": self.every_minutes}

    def __str__(self) -> str:
        if self.kind is RecurrenceKind.ONCE:
            return f"once at {self.at}"
        if self.kind is RecurrenceKind.DAILY:
            return f"daily at {self.at}"
        minutes = self.every_minutes or 0
        return f"every {minutes // 60} hours" if minutes % 60 == 0 else f"every {minutes} minutes"


@dataclass(frozen=True)
class ScheduleSettings:
    name: str
    type: ScheduleType
    enabled: bool
    recurrence: Recurrence
    timezone: str
    profile_id: str | None


_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _frame_error(field: str) -> FieldError:
    return FieldError(field, f"must fall on a {FRAME_MINUTES}-minute frame (minutes 00, 15, 30 or 45)")


def parse_recurrence(raw: Mapping[str, object]) -> Recurrence:
    errors: list[FieldError] = []
    try:
        kind = RecurrenceKind(str(raw.get("kind", "")).strip().lower())
    except ValueError:
        raise InvalidInput(FieldError("recurrence.kind", "must be once, daily or interval")) from None
    at = raw.get("at")
    every = raw.get("every_minutes")
    if kind is RecurrenceKind.DAILY:
        match = _TIME.fullmatch(str(at or "").strip())
        if not match:
            errors.append(FieldError("recurrence.at", "must be a time of day as HH:MM, e.g. 02:30"))
        elif int(match.group(2)) % FRAME_MINUTES:
            errors.append(_frame_error("recurrence.at"))
        return _done(errors, Recurrence(kind, at=str(at).strip()))
    if kind is RecurrenceKind.ONCE:
        try:
            when = datetime.strptime(str(at or "").strip(), "%Y-%m-%dT%H:%M")
        except ValueError:
            errors.append(FieldError("recurrence.at", "must be a local date and time as YYYY-MM-DDTHH:MM"))
        else:
            if when.minute % FRAME_MINUTES:
                errors.append(_frame_error("recurrence.at"))
        return _done(errors, Recurrence(kind, at=str(at).strip()))
    try:
        minutes = int(str(every).strip())
    except ValueError:
        minutes = -1
    if isinstance(every, bool) or not FRAME_MINUTES <= minutes <= 7 * 24 * 60 or minutes % FRAME_MINUTES:
        errors.append(
            FieldError("recurrence.every_minutes", "must be a multiple of 15 minutes between 15 and 10080 (a week)")
        )
    return _done(errors, Recurrence(kind, every_minutes=minutes))


def _done(errors: list[FieldError], recurrence: Recurrence) -> Recurrence:
    if errors:
        raise InvalidInput(errors)
    return recurrence


def parse_timezone(value: object) -> str:
    name = str(value or "UTC").strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        name = ""
    if not name or name not in available_timezones() | {"UTC"}:
        raise InvalidInput(FieldError("timezone", "must be an IANA time zone such as Europe/London or UTC"))
    return name


def validate_schedule(raw: Mapping[str, object]) -> ScheduleSettings:
    errors: list[FieldError] = []
    known = {"name", "type", "enabled", "recurrence", "timezone", "profile_id"}
    errors += [FieldError(k, "unknown field") for k in raw if k not in known]

    name: str | None = None
    try:
        name = clean_name(raw.get("name"))
    except InvalidInput as exc:
        errors += exc.errors
    try:
        stype = ScheduleType(str(raw.get("type", "folder-sync")).strip().lower())
    except ValueError:
        stype = None
        errors.append(FieldError("type", "must be folder-sync or directory-sync"))
    recurrence_raw = raw.get("recurrence")
    recurrence = None
    if not isinstance(recurrence_raw, Mapping):
        errors.append(FieldError("recurrence", "is required: kind once, daily or interval, with at or every_minutes"))
    else:
        try:
            recurrence = parse_recurrence(recurrence_raw)
        except InvalidInput as exc:
            errors += exc.errors
    timezone = None
    try:
        timezone = parse_timezone(raw.get("timezone"))
    except InvalidInput as exc:
        errors += exc.errors
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        errors.append(FieldError("enabled", "must be true or false"))
    profile_id = raw.get("profile_id")
    if stype is ScheduleType.FOLDER_SYNC and not profile_id:
        errors.append(FieldError("profile_id", "is required for a folder-sync schedule"))
    if errors:
        raise InvalidInput(errors)
    assert name and stype and recurrence and timezone
    return ScheduleSettings(name, stype, bool(enabled), recurrence, timezone, str(profile_id) if profile_id else None)
