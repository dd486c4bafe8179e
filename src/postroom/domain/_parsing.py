"""Helpers shared by the domain parsers: lenient enums, the rule a value breaks, and field tables."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Collection, Mapping
from enum import StrEnum
from typing import Any, TypeVar

from postroom.errors import FieldError, InvalidInput


class _LenientEnum(StrEnum):
    """Accepts its values case-insensitively and with surrounding whitespace."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            wanted = value.strip().casefold()
            for member in cls:
                if member.value.casefold() == wanted:
                    return member
        return None


class _Rule(Exception):
    """A value breaks the rule in ``message``; the caller turns it into a FieldError."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


_E = TypeVar("_E", bound=_LenientEnum)


def _enum(cls: type[_E], message: str, value: object) -> _E:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return cls(value)
    raise _Rule(message)


def _whole_number(low: int, high: int, message: str, value: object) -> int:
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _Rule(message)
    return value


def parse_fields(
    raw: Mapping[str, Any],
    parsers: Mapping[str, Callable[[Any], Any]],
    required: Collection[str],
    values: dict[str, Any],
) -> list[FieldError]:
    """Parse each field of ``raw`` that a parser knows into ``values``; return every rule broken.

    A field given as ``None`` keeps what ``values`` holds (a default, or the current value when
    editing) and is reported only when it is ``required`` and ``values`` has nothing for it.
    """
    errors: list[FieldError] = []
    for field, parse in parsers.items():
        value = raw.get(field)
        if value is None:
            if field in required and field not in values:
                errors.append(FieldError(field, "is required"))
            continue
        try:
            values[field] = parse(value)
        except InvalidInput as exc:
            errors.extend(exc.errors)
    return errors
