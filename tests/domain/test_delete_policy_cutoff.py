"""Calendar arithmetic of the "older than" delete policies."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from postroom.domain.delete_policy import DeletePolicy, DeleteWhen, SpanUnit

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("when", "amount", "unit", "expected"),
    [
        (DeleteWhen.NEVER, None, None, None),
        (DeleteWhen.IMMEDIATELY, None, None, None),
        (DeleteWhen.MESSAGE_OLDER_THAN, 1, SpanUnit.DAYS, datetime(2026, 3, 30, 12, 0, tzinfo=UTC)),
        (DeleteWhen.ARCHIVED_OLDER_THAN, 2, SpanUnit.WEEKS, datetime(2026, 3, 17, 12, 0, tzinfo=UTC)),
        (DeleteWhen.MESSAGE_OLDER_THAN, 1, SpanUnit.MONTHS, datetime(2026, 2, 28, 12, 0, tzinfo=UTC)),
        (DeleteWhen.MESSAGE_OLDER_THAN, 13, SpanUnit.MONTHS, datetime(2025, 2, 28, 12, 0, tzinfo=UTC)),
        (DeleteWhen.ARCHIVED_OLDER_THAN, 2, SpanUnit.YEARS, datetime(2024, 3, 31, 12, 0, tzinfo=UTC)),
    ],
)
def test_cutoff(when: DeleteWhen, amount: int | None, unit: SpanUnit | None, expected: datetime | None) -> None:
    assert DeletePolicy(when, amount, unit).cutoff(NOW) == expected


def test_leap_day_minus_a_year() -> None:
    leap = datetime(2028, 2, 29, tzinfo=UTC)
    assert DeletePolicy(DeleteWhen.MESSAGE_OLDER_THAN, 1, SpanUnit.YEARS).cutoff(leap) == datetime(
        2027, 2, 28, tzinfo=UTC
    )
