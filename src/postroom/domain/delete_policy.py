"""When synchronized messages are deleted in the source mailbox (seed 002).

:func:`parse_delete_policy` takes raw values (a :class:`DeletePolicy`, a dict or text from forms
and the CLI), collects every broken rule, and raises one :class:`~postroom.errors.InvalidInput`.
"""

from __future__ import annotations

import calendar
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from postroom.domain._parsing import _enum, _LenientEnum, _Rule, _whole_number
from postroom.errors import FieldError, InvalidInput

MAX_SPAN_AMOUNT = 36500


class DeleteWhen(_LenientEnum):
    NEVER = "never"
    IMMEDIATELY = "immediately"
    ARCHIVED_OLDER_THAN = "archived-older-than"
    MESSAGE_OLDER_THAN = "message-older-than"


class SpanUnit(_LenientEnum):
    DAYS = "days"
    WEEKS = "weeks"
    MONTHS = "months"
    YEARS = "years"

    @classmethod
    def _missing_(cls, value: object) -> Any:
        found = super()._missing_(value)
        if found is None and isinstance(value, str):  # singular: "day", "1 year"
            found = super()._missing_(value.strip() + "s")
        return found


_WHEN_SPAN = (DeleteWhen.ARCHIVED_OLDER_THAN, DeleteWhen.MESSAGE_OLDER_THAN)
_AMOUNT_RULE = f"must be a whole number between 1 and {MAX_SPAN_AMOUNT}"
_UNIT_RULE = "must be one of: days, weeks, months, years"
_WHEN_RULE = "must be one of: " + ", ".join(DeleteWhen)


@dataclass(frozen=True)
class DeletePolicy:
    """When synchronized messages are deleted in the source mailbox (seed 002)."""

    when: DeleteWhen
    amount: int | None = None
    unit: SpanUnit | None = None

    def __post_init__(self) -> None:
        if errors := _delete_policy_errors(self.when, self.amount, self.unit, "delete_policy"):
            raise InvalidInput(errors)

    def __str__(self) -> str:
        if self.when is DeleteWhen.NEVER:
            return "never"
        if self.when is DeleteWhen.IMMEDIATELY:
            return "immediately after sync"
        unit = str(self.unit)
        span = f"{self.amount} {unit[:-1] if self.amount == 1 else unit}"
        if self.when is DeleteWhen.ARCHIVED_OLDER_THAN:
            return f"if archived longer than {span}"
        return f"if message older than {span}"

    def cutoff(self, now: datetime) -> datetime | None:
        """For the "older than" policies, the moment before which a message qualifies; else None.

        Months and years are calendar months and years (31 March minus 1 month is 28/29 February).
        """
        if self.when not in _WHEN_SPAN or self.amount is None or self.unit is None:
            return None
        if self.unit is SpanUnit.DAYS:
            return now - timedelta(days=self.amount)
        if self.unit is SpanUnit.WEEKS:
            return now - timedelta(weeks=self.amount)
        months = self.amount * (12 if self.unit is SpanUnit.YEARS else 1)
        year, month0 = divmod(now.year * 12 + now.month - 1 - months, 12)
        day = min(now.day, calendar.monthrange(year, month0 + 1)[1])
        return now.replace(year=year, month=month0 + 1, day=day)

    def to_dict(self) -> dict[str, object]:
        return {
            "when": self.when.value,
            "amount": self.amount,
            "unit": None if self.unit is None else self.unit.value,
        }


def _delete_policy_errors(when: DeleteWhen, amount: int | None, unit: SpanUnit | None, prefix: str) -> list[FieldError]:
    errors: list[FieldError] = []
    if when in _WHEN_SPAN:
        if amount is None:
            errors.append(FieldError(f"{prefix}.amount", f"is required with {when}: {_AMOUNT_RULE}"))
        elif isinstance(amount, bool) or not 1 <= amount <= MAX_SPAN_AMOUNT:
            errors.append(FieldError(f"{prefix}.amount", _AMOUNT_RULE))
        if unit is None:
            errors.append(FieldError(f"{prefix}.unit", f"is required with {when}: {_UNIT_RULE}"))
    else:
        rule = f"is only used with {' or '.join(_WHEN_SPAN)}; leave it empty for {when}"
        if amount is not None:
            errors.append(FieldError(f"{prefix}.amount", rule))
        if unit is not None:
            errors.append(FieldError(f"{prefix}.unit", rule))
    return errors


DELETE_NEVER = DeletePolicy(DeleteWhen.NEVER)


def parse_span(text: object, field: str = "delete_policy") -> tuple[int, SpanUnit]:
    """Parse ``"N unit"`` such as ``"3 months"`` or ``"1 year"``."""
    rule = (
        f"must be a whole number from 1 to {MAX_SPAN_AMOUNT} and a unit, like '3 months' "
        "(units: days, weeks, months, years)"
    )
    match = re.fullmatch(r"\s*(\d+)\s*([A-Za-z]+)\s*", text) if isinstance(text, str) else None
    if match is None:
        raise InvalidInput(FieldError(field, rule))
    try:
        amount = _whole_number(1, MAX_SPAN_AMOUNT, rule, match[1])
        return amount, _enum(SpanUnit, rule, match[2])
    except _Rule as exc:
        raise InvalidInput(FieldError(field, exc.message)) from None


def parse_delete_policy(value: object, field: str = "delete_policy") -> DeletePolicy:
    """Accept a DeletePolicy, a dict ``{"when", "amount", "unit"}``, or text like ``"never"`` or
    ``"message-older-than 1 year"``."""
    if isinstance(value, DeletePolicy):
        return value
    if isinstance(value, str):
        when_text, _, span = value.strip().partition(" ")
        if not span.strip():
            return parse_delete_policy({"when": when_text}, field)
        amount, unit = parse_span(span, field)
        return parse_delete_policy({"when": when_text, "amount": amount, "unit": unit}, field)
    if not isinstance(value, Mapping):
        raise InvalidInput(FieldError(field, "must be an object with when, amount and unit"))
    errors = [FieldError(f"{field}.{key}", "unknown field") for key in value if key not in _POLICY_KEYS]
    parsed: dict[str, Any] = {}
    for key, parse in _POLICY_KEYS.items():
        raw = value.get(key)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            parsed[key] = None
            continue
        try:
            parsed[key] = parse(raw)
        except _Rule as exc:
            errors.append(FieldError(f"{field}.{key}", exc.message))
    when, rejected = parsed.get("when"), {e.field for e in errors}
    if when is None:
        if f"{field}.when" not in rejected:
            errors.append(FieldError(f"{field}.when", f"is required; {_WHEN_RULE}"))
    else:
        errors += [
            e
            for e in _delete_policy_errors(when, parsed.get("amount"), parsed.get("unit"), field)
            if e.field not in rejected  # already rejected as unreadable
        ]
    if errors or when is None:
        raise InvalidInput(errors)
    return DeletePolicy(when, parsed["amount"], parsed["unit"])


_POLICY_KEYS: dict[str, Callable[[object], Any]] = {
    "when": functools.partial(_enum, DeleteWhen, _WHEN_RULE),
    "amount": functools.partial(_whole_number, 1, MAX_SPAN_AMOUNT, _AMOUNT_RULE),
    "unit": functools.partial(_enum, SpanUnit, _UNIT_RULE),
}
