"""Schedules (seed 002, PRODUCT.md §4): what runs, and when, in 15-minute frames and a time zone.

When a schedule is due (:func:`next_run`) follows one rule for every kind: a schedule names
*wall-clock times* in its IANA zone, and each of those times runs once.

- ``daily at HH:MM``: that time on every local date.
- ``every N minutes``: the local times that are a whole number of N-minute steps after local
  midnight of Monday 2000-01-03. Every 60 minutes runs at :00, every 90 at 00:00, 01:30, 03:00…
  each day (N divides a day), every 7 days on Mondays at midnight; an N that does not divide a
  day keeps its steps across midnight (every 420 minutes: Monday 00:00, 07:00, 14:00, 21:00,
  Tuesday 04:00…).
- ``once at YYYY-MM-DDTHH:MM``: that one local time.

Across daylight-saving changes: a time that does not exist (the hour skipped in spring) runs at
the first instant after the gap (a 02:30 in New York on the spring-forward day runs at 03:00 EDT,
and every step inside the gap runs there once); a time that happens twice (the hour repeated in
autumn) runs at its first occurrence only, so an every-15-minutes schedule rests during the
repeated hour. Due times are computed from "now", so a server that was down runs a schedule once
when it comes back, not once per missed time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
    directory_service_id: str | None = None


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
    known = {"name", "type", "enabled", "recurrence", "timezone", "profile_id", "directory_service_id"}
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
    directory_id = raw.get("directory_service_id")
    if stype is ScheduleType.FOLDER_SYNC:
        if not profile_id:
            errors.append(FieldError("profile_id", "is required for a folder-sync schedule"))
        if directory_id:
            errors.append(
                FieldError("directory_service_id", "only a directory-sync schedule names a directory service")
            )
    if stype is ScheduleType.DIRECTORY_SYNC:
        if not directory_id:
            errors.append(FieldError("directory_service_id", "is required for a directory-sync schedule"))
        if profile_id:
            errors.append(FieldError("profile_id", "only a folder-sync schedule names a profile"))
    if errors:
        raise InvalidInput(errors)
    assert name and stype and recurrence and timezone
    return ScheduleSettings(
        name,
        stype,
        bool(enabled),
        recurrence,
        timezone,
        str(profile_id) if profile_id else None,
        str(directory_id) if directory_id else None,
    )


# --- due times ---------------------------------------------------------------------------------

GRID_EPOCH = datetime(2000, 1, 3)  # a Monday, local midnight: interval steps count from here
_DAY = 24 * 60


def local_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant at which the clocks of ``zone`` show ``wall`` (naive) for the first time.

    A wall time in a gap (clocks jumped over it) gives the first instant after the gap.
    """
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # In a gap: fold=1 reads it with the offset after the change, fold=0 with the one before; the
    # change lies between the two. Bisect (in seconds) for the first instant showing ``wall`` or later.
    other = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    low, high = min(other, first), max(other, first)
    while high - low > timedelta(seconds=1):
        mid = low + timedelta(seconds=(high - low).total_seconds() // 2)
        if mid.astimezone(zone).replace(tzinfo=None) >= wall:
            high = mid
        else:
            low = mid
    return high


def next_run(recurrence: Recurrence, timezone: str, after: datetime) -> datetime | None:
    """The first instant (UTC) strictly after ``after`` at which the schedule is due; ``None``: never again.

    ``after`` is "now" when a run was just started, or when the schedule was created, enabled or
    edited: a schedule never owes more than one run, however long nothing ran.
    """
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    after = after.astimezone(UTC)
    zone = ZoneInfo(timezone)
    if recurrence.kind is RecurrenceKind.ONCE:
        at = datetime.strptime(str(recurrence.at), "%Y-%m-%dT%H:%M")
        when = local_instant(at, zone)
        return when if when > after else None
    if recurrence.kind is RecurrenceKind.DAILY:
        hours, minutes = (int(part) for part in str(recurrence.at).split(":"))
        step, offset = _DAY, hours * 60 + minutes
    else:
        step, offset = int(recurrence.every_minutes or 0), 0
        if step <= 0:
            raise ValueError("an interval schedule needs every_minutes")
    # Start a few steps (at least a day) before the local wall time of ``after`` and walk
    # forward: wall times map to instants in order, so the first one past ``after`` is the answer.
    wall_after = after.astimezone(zone).replace(tzinfo=None)
    elapsed = int((wall_after - GRID_EPOCH).total_seconds() // 60) - offset
    k = elapsed // step - max(2, -(-_DAY // step))
    while True:
        wall = GRID_EPOCH + timedelta(minutes=k * step + offset)
        when = local_instant(wall, zone)
        if when > after:
            return when
        k += 1


def recurrence_of(raw: Mapping[str, object]) -> Recurrence:
    """A stored recurrence (already validated when it was saved) as a :class:`Recurrence`."""
    every = raw.get("every_minutes")
    at = raw.get("at")
    return Recurrence(
        RecurrenceKind(str(raw["kind"])),
        str(at) if at is not None else None,
        int(str(every)) if every is not None else None,
    )
