"""Names a person types: cleaning, the case-insensitive key, and the list search of seed 002.

Seed 002 ("Search"): the name is a case-insensitive "includes" search and the ID a
case-insensitive "equals" search. Uniqueness and search both use :func:`name_key`, which the
database stores next to the name; :func:`like_contains_pattern` builds the matching SQL pattern.
"""

from __future__ import annotations

import unicodedata

from postroom.errors import FieldError, InvalidInput

__all__ = [
    "clean_name",
    "clean_text",
    "id_equals",
    "is_encodable",
    "is_storable",
    "like_contains_pattern",
    "name_contains",
    "name_key",
]


def name_key(name: str) -> str:
    """The form names are compared in: NFC-normalised, then case-folded."""
    return unicodedata.normalize("NFC", name).casefold()


def is_encodable(text: str) -> bool:
    """Whether ``text`` has a UTF-8 form: a lone surrogate, which the JSON escape ``"\\ud800"``
    decodes to, has none, so no database stores it and no hash function takes it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_storable(text: str) -> bool:
    """Whether every supported database can store and compare ``text``.

    PostgreSQL refuses the NUL character in text, and lone surrogates are not :func:`is_encodable`.
    No name, key or ID Postroom stores contains either, so a lookup or search for such text finds
    nothing; callers say so before they query.
    """
    return "\x00" not in text and is_encodable(text)


def clean_text(value: object, field: str, max_length: int) -> str:
    """Free text such as a display name: stripped and NFC-normalised, possibly empty.

    Raise :class:`InvalidInput` naming ``field`` if it is not text, is longer than ``max_length``,
    or holds control characters (NUL among them) or lone surrogates.
    """
    if not isinstance(value, str):
        raise InvalidInput(FieldError(field, "must be text"))
    text = unicodedata.normalize("NFC", value.strip())
    if len(text) > max_length:
        raise InvalidInput(FieldError(field, f"must be at most {max_length} characters long"))
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        raise InvalidInput(FieldError(field, "must not contain control characters (such as tabs or line breaks)"))
    if not is_encodable(text):
        raise InvalidInput(FieldError(field, "must be valid Unicode text: it contains a lone surrogate"))
    return text


def clean_name(value: object, field: str = "name", max_length: int = 100) -> str:
    """Return ``value`` stripped and NFC-normalised, or raise :class:`InvalidInput` naming the rule.

    Its :func:`name_key` fits ``max_length`` too: case-folding can lengthen a name ("ß" → "ss").
    """
    name = clean_text(value, field, max_length)
    if not name:
        raise InvalidInput(FieldError(field, "must not be empty"))
    if len(name_key(name)) > max_length:
        raise InvalidInput(
            FieldError(
                field,
                f"must be at most {max_length} characters long when compared ignoring case "
                "(letters such as ß count as ss)",
            )
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
