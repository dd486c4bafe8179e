"""When schedules are due: frames, time zones, daylight-saving changes and catch-up (domain/schedule.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postroom.domain.schedule import Recurrence, RecurrenceKind, local_instant, next_run

DAILY, EVERY, ONCE = RecurrenceKind.DAILY, RecurrenceKind.INTERVAL, RecurrenceKind.ONCE


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def rec(kind: RecurrenceKind, value: str | int) -> Recurrence:
    if kind is EVERY:
        return Recurrence(kind, every_minutes=int(value))
    return Recurrence(kind, at=str(value))


# (recurrence, zone, after (UTC), expected (UTC) or None, what it shows)
TABLE = [
    # daily, plain days
    (rec(DAILY, "02:30"), "UTC", "2026-11-23 01:00", "2026-11-23 02:30", "later today"),
    (rec(DAILY, "02:30"), "UTC", "2026-11-23 02:30", "2026-11-24 02:30", "strictly after: not the same instant"),
    (rec(DAILY, "00:00"), "Europe/London", "2026-07-01 22:59", "2026-07-01 23:00", "midnight BST is 23:00 UTC"),
    (rec(DAILY, "09:15"), "America/New_York", "2026-01-15 00:00", "2026-01-15 14:15", "EST is UTC-5"),
    # spring forward: the time does not exist -> the first instant after the gap, once
    (rec(DAILY, "02:30"), "America/New_York", "2026-03-08 00:00", "2026-03-08 07:00", "NY gap: 03:00 EDT"),
    (rec(DAILY, "02:30"), "America/New_York", "2026-03-08 07:00", "2026-03-09 06:30", "then the next day only"),
    (rec(DAILY, "02:00"), "America/New_York", "2026-03-08 06:59", "2026-03-08 07:00", "02:00 itself is in the gap"),
    (rec(DAILY, "01:30"), "Europe/London", "2026-03-29 00:00", "2026-03-29 01:00", "London gap 01:00-02:00: 02:00 BST"),
    (rec(DAILY, "02:30"), "Europe/London", "2026-03-29 00:00", "2026-03-29 01:30", "02:30 BST exists"),
    (rec(DAILY, "02:15"), "Australia/Lord_Howe", "2026-10-03 12:00", "2026-10-03 15:30", "30-minute gap: 02:30"),
    (rec(DAILY, "02:30"), "Australia/Lord_Howe", "2026-10-03 12:00", "2026-10-03 15:30", "02:30 +11 exists"),
    # fall back: the time happens twice -> the first occurrence only
    (rec(DAILY, "01:30"), "America/New_York", "2026-11-01 00:00", "2026-11-01 05:30", "01:30 EDT, first"),
    (rec(DAILY, "01:30"), "America/New_York", "2026-11-01 05:30", "2026-11-02 06:30", "not 01:30 EST again"),
    (rec(DAILY, "01:30"), "Europe/London", "2026-10-25 00:00", "2026-10-25 00:30", "01:30 BST, first"),
    (rec(DAILY, "01:30"), "Europe/London", "2026-10-25 00:30", "2026-10-26 01:30", "then tomorrow's GMT one"),
    (rec(DAILY, "01:45"), "Australia/Lord_Howe", "2026-04-04 12:00", "2026-04-04 14:45", "01:45 +11, first"),
    (rec(DAILY, "01:45"), "Australia/Lord_Howe", "2026-04-04 14:45", "2026-04-05 15:15", "then 01:45 +10:30"),
    # every N minutes: steps from local midnight on the local wall clock
    (rec(EVERY, 15), "UTC", "2026-11-23 10:07", "2026-11-23 10:15", "next quarter hour"),
    (rec(EVERY, 60), "Australia/Lord_Howe", "2026-07-01 10:07", "2026-07-01 10:30", ":00 at +10:30 is :30 UTC"),
    (rec(EVERY, 60), "Australia/Lord_Howe", "2026-11-23 10:07", "2026-11-23 11:00", ":00 at +11 is :00 UTC"),
    (rec(EVERY, 60), "Europe/London", "2026-07-01 10:07", "2026-07-01 11:00", ":00 local is :00 UTC"),
    (rec(EVERY, 90), "Europe/London", "2026-01-05 00:01", "2026-01-05 01:30", "from local midnight"),
    (rec(EVERY, 90), "Europe/London", "2026-01-05 22:31", "2026-01-06 00:00", "a day holds 16 steps"),
    (rec(EVERY, 120), "America/New_York", "2026-07-01 04:01", "2026-07-01 06:00", "02:00 EDT"),
    (rec(EVERY, 420), "UTC", "2026-11-23 21:01", "2026-11-24 04:00", "7 h steps run on across midnight"),
    (rec(EVERY, 10080), "Europe/London", "2026-11-23 06:46", "2026-11-30 00:00", "weekly: Monday midnight"),
    (rec(EVERY, 10080), "Europe/London", "2026-06-01 00:00", "2026-06-07 23:00", "Monday midnight BST"),
    (rec(EVERY, 15), "America/New_York", "2026-03-08 06:45", "2026-03-08 07:00", "01:45 EST, then 03:00 EDT"),
    (rec(EVERY, 15), "America/New_York", "2026-03-08 07:00", "2026-03-08 07:15", "the gap's steps ran once"),
    (rec(EVERY, 15), "America/New_York", "2026-11-01 05:45", "2026-11-01 07:00", "rests in the repeated hour"),
    (rec(EVERY, 30), "Australia/Lord_Howe", "2026-10-03 15:00", "2026-10-03 15:30", "02:00 in the gap: 02:30"),
    (rec(EVERY, 30), "Australia/Lord_Howe", "2026-10-03 15:30", "2026-10-03 16:00", "then 03:00"),
    # once
    (rec(ONCE, "2026-12-01T10:00"), "Europe/London", "2026-11-23 06:46", "2026-12-01 10:00", "once, ahead"),
    (rec(ONCE, "2026-07-01T10:00"), "Europe/London", "2026-06-01 00:00", "2026-07-01 09:00", "once, BST"),
    (rec(ONCE, "2026-12-01T10:00"), "Europe/London", "2026-12-01 10:00", None, "once: never again"),
    (rec(ONCE, "2026-03-08T02:30"), "America/New_York", "2026-03-01 00:00", "2026-03-08 07:00", "once in a gap"),
]


@pytest.mark.parametrize(("recurrence", "zone", "after", "expected", "why"), TABLE, ids=[row[-1] for row in TABLE])
def test_next_run(recurrence: Recurrence, zone: str, after: str, expected: str | None, why: str) -> None:
    got = next_run(recurrence, zone, utc(after))
    assert got == (utc(expected) if expected else None), why


def test_a_naive_after_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_run(rec(DAILY, "02:30"), "UTC", datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("zone", "wall", "expected"),
    [
        ("America/New_York", "2026-03-08 02:30", "2026-03-08 07:00"),  # gap -> its end
        ("America/New_York", "2026-11-01 01:30", "2026-11-01 05:30"),  # fold -> first
        ("Australia/Lord_Howe", "2026-10-04 02:10", "2026-10-03 15:30"),
        ("Europe/London", "2026-06-01 12:00", "2026-06-01 11:00"),
    ],
)
def test_local_instant(zone: str, wall: str, expected: str) -> None:
    assert local_instant(datetime.fromisoformat(wall), ZoneInfo(zone)) == utc(expected)


# --- properties ----------------------------------------------------------------------------------

ZONES = ["UTC", "Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "America/St_Johns"]
moments = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31)).map(
    lambda d: d.replace(tzinfo=UTC)
)
recurrences = st.one_of(
    st.builds(
        lambda h, q: Recurrence(DAILY, at=f"{h:02d}:{q * 15:02d}"),
        st.integers(0, 23),
        st.integers(0, 3),
    ),
    st.builds(lambda n: Recurrence(EVERY, every_minutes=n * 15), st.integers(1, 672)),
)


@settings(max_examples=300, deadline=None)
@given(recurrences, st.sampled_from(ZONES), moments)
def test_next_run_is_later_and_on_a_frame(recurrence: Recurrence, zone: str, after: datetime) -> None:
    got = next_run(recurrence, zone, after)
    assert got is not None and got > after
    local = got.astimezone(ZoneInfo(zone))
    assert local.minute % 15 == 0 and local.second == 0 and local.microsecond == 0
    assert got - after <= timedelta(minutes=recurrence.every_minutes or 24 * 60) + timedelta(hours=2)


@settings(max_examples=200, deadline=None)
@given(recurrences, st.sampled_from(ZONES), moments, st.integers(0, 60 * 24 * 30))
def test_downtime_owes_one_run(recurrence: Recurrence, zone: str, start: datetime, down_minutes: int) -> None:
    """A scheduler that was away for any time and comes back at ``now`` runs once, then waits."""
    due = next_run(recurrence, zone, start)
    assert due is not None
    now = due + timedelta(minutes=down_minutes)
    # what the scheduler does at ``now``: one run for the due time it finds, the next due time after now
    following = next_run(recurrence, zone, now)
    assert following is not None and following > now
    # and nothing further is due at ``now``: a second pass at the same instant queues nothing
    assert not following <= now


@settings(max_examples=200, deadline=None)
@given(recurrences, st.sampled_from(ZONES), moments)
def test_due_times_never_repeat_within_a_step(recurrence: Recurrence, zone: str, after: datetime) -> None:
    """Walking due time to due time moves forward, at least 15 minutes apart except across a gap."""
    first = next_run(recurrence, zone, after)
    assert first is not None
    second = next_run(recurrence, zone, first)
    assert second is not None and second > first
