"""Names a person types: cleaning, the case-insensitive key, and the list search of seed 002.

Seed 002 ("Search"): the name is a case-insensitive "includes" search and the ID a
case-insensitive "equals" search. Uniqueness and search both use :func:`name_key`, which the
database stores next to the name; :func:`like_contains_pattern` builds the matching SQL pattern.
"""

from __future__ import annotations

import unicodedata

from postroom.errors import FieldError, InvalidInput

__all__ = ["clean_name", "id_equals", "like_contains_pattern", "name_contains", "name_key"]


def name_key(name: str) -> str:
    """The form names are compared in: NFC-normalised, then case-folded."""
    return unicodedata.normalize("NFC", name).casefold()


def clean_name(value: object, field: str = "name", max_length: int = 100) -> str:
    """Return ``value`` stripped and NFC-normalised, or raise :class:`InvalidInput` naming the rule."""
    if not isinstance(value, str):
        raise InvalidInput(FieldError(field, "must be text"))
    name = unicodedata.normalize("NFC", value.strip())
    if not name:
        raise InvalidInput(FieldError(field, "must not be empty"))
    if len(name) > max_length:
        raise InvalidInput(FieldError(field, f"must be at most {max_length} characters long"))
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise InvalidInput(
            FieldError(field, "must not contain control characters (such as tabs or line breaks)")
        )
    return name


def name_contains(query: str, name: str) -> bool:
    """Case-insensitive "includes"; an empty query matches every name."""
    return name_key(query) in name_key(name)


def id_equals(query: str, id_: str) -> bool:
    """Case-insensitive "equals" of an ID, ignoring surrounding whitespace."""
    return query.strip().casefold() == id_.strip().casefold()


def like_contains_pattern(query: str) -> str:
    """SQL ``LIKE`` pattern (use ``ESCAPE '\\'``) matching stored name keys that include ``query``."""
    key = name_key(query)
    escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
