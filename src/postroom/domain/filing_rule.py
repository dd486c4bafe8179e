r"""Filing rules: which archived messages are filed to a location without anyone filing them.

A rule has a name (unique per tenant, case-insensitively), the location it files to, an enabled
flag and one or more **conditions**, all of which must match:

================  ==========================================  ==============================================
condition         written as                                  matches when
================  ==========================================  ==============================================
``folder``        ``Inbox/Projects`` or ``Inbox/Projects/*``  an archive folder of the message has that path
                                                              (ignoring case); ``/*`` takes the folder and
                                                              every folder below it
``sender``        ``anna@example.com`` or ``@example.com``    the From address is that address, or any
                                                              address at that domain (ignoring case)
``recipient``     the same                                    a To or Cc address is
``subject``       a regular expression                        it is found in the subject (ignoring case)
``project_code``  a regular expression with one group         it is found in the subject (ignoring case) and
                  (``\b(P-\d{3,5})\b``)                       its group is not empty
================  ==========================================  ==============================================

:func:`validate_rule` checks every rule at once and raises one :class:`InvalidInput` with a
:class:`FieldError` per broken rule, the conditions named ``conditions.<name>``. :func:`matches`
tests a rule's conditions against the plain facts of a message (:class:`MessageFacts`) and never
raises. Patterns are capped at :data:`MAX_PATTERN_LENGTH` characters and search at most the first
:data:`MAX_SUBJECT_LENGTH` characters of a subject.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from postroom.domain._parsing import _Rule, parse_fields
from postroom.domain.naming import clean_name, is_storable
from postroom.errors import FieldError, InvalidInput

__all__ = [
    "CONDITIONS",
    "MAX_PATTERN_LENGTH",
    "MAX_SUBJECT_LENGTH",
    "Conditions",
    "Matcher",
    "MessageFacts",
    "RuleSettings",
    "matches",
    "validate_rule",
]

CONDITIONS = ("folder", "sender", "recipient", "subject", "project_code")
MAX_PATTERN_LENGTH = 200
MAX_FOLDER_LENGTH = 2000  # ArchiveFolder.path
MAX_ADDRESS_LENGTH = 254
MAX_SUBJECT_LENGTH = 1000
_ADDRESS = re.compile(r"[^\s@]*@[^\s@]+")


@dataclass(frozen=True)
class Conditions:
    """A rule's conditions as stored: ``None`` is a condition the rule does not have."""

    folder: str | None = None
    sender: str | None = None
    recipient: str | None = None
    subject: str | None = None
    project_code: str | None = None

    def to_dict(self) -> dict[str, str]:
        return {name: value for name in CONDITIONS if (value := getattr(self, name)) is not None}


@dataclass(frozen=True)
class RuleSettings:
    """A validated rule; build it with :func:`validate_rule`. ``location`` is as given (name or ID)."""

    name: str
    location: str
    conditions: Conditions
    enabled: bool = True

    def to_dict(self) -> dict[str, object]:
        """JSON-able values; :func:`validate_rule` accepts the result unchanged."""
        return {
            "name": self.name,
            "location": self.location,
            "enabled": self.enabled,
            "conditions": self.conditions.to_dict(),
        }


@dataclass(frozen=True)
class MessageFacts:
    """What rules look at: the message's archive folder paths, From, To and Cc, and subject."""

    folders: tuple[str, ...] = ()
    sender: str = ""
    recipients: tuple[str, ...] = ()
    subject: str = ""


# --- parsing ----------------------------------------------------------------------------------


def _text(value: object, max_length: int) -> str:
    if not isinstance(value, str):
        raise _Rule("must be text")
    if not is_storable(value):
        raise _Rule("must be valid text without NUL characters")
    value = value.strip()
    if not value:
        raise _Rule("must not be empty (leave the condition out instead)")
    if len(value) > max_length:
        raise _Rule(f"must be at most {max_length} characters long")
    return value


def _folder(value: object) -> str:
    path = _text(value, MAX_FOLDER_LENGTH).strip("/")
    if not path or path == "*" or path.endswith("//*"):
        raise _Rule("must be an archive folder path such as Inbox/Projects, or Inbox/Projects/* for its subtree")
    return path


def _address(value: object) -> str:
    text = _text(value, MAX_ADDRESS_LENGTH).lower()
    if not _ADDRESS.fullmatch(text):
        raise _Rule("must be an address (anna@example.com) or a domain written @example.com")
    return text


def _pattern(value: object, groups: int | None = None) -> str:
    text = _text(value, MAX_PATTERN_LENGTH)
    try:
        compiled = re.compile(text, re.IGNORECASE)
    except (re.error, RecursionError, OverflowError) as exc:
        raise _Rule(f"is not a valid regular expression: {exc}") from None
    if groups is not None and compiled.groups != groups:
        raise _Rule(
            f"must have exactly one group in parentheses around the code, like \\b(P-\\d{{3,5}})\\b; it has "
            f"{compiled.groups}"
        )
    return text


_CONDITION_PARSERS: dict[str, Any] = {
    "folder": _folder,
    "sender": _address,
    "recipient": _address,
    "subject": _pattern,
    "project_code": lambda value: _pattern(value, groups=1),
}


def _conditions(raw: object, current: Conditions | None) -> tuple[Conditions, list[FieldError]]:
    if not isinstance(raw, Mapping):
        return Conditions(), [FieldError("conditions", f"must be an object with any of {', '.join(CONDITIONS)}")]
    errors = [FieldError(f"conditions.{key}", "unknown condition") for key in raw if key not in CONDITIONS]
    values: dict[str, str] = current.to_dict() if current else {}
    for name in CONDITIONS:
        if name not in raw:
            continue
        value = raw[name]
        if value is None or (isinstance(value, str) and not value.strip()):
            values.pop(name, None)  # an empty value removes the condition
            continue
        try:
            values[name] = _CONDITION_PARSERS[name](value)
        except _Rule as exc:
            errors.append(FieldError(f"conditions.{name}", exc.message))
    conditions = Conditions(**values)
    if not errors and not conditions.to_dict():
        errors.append(FieldError("conditions", f"give at least one condition: {', '.join(CONDITIONS)}"))
    return conditions, errors


def _enabled(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InvalidInput(FieldError("enabled", "must be true or false"))


def _location(value: object) -> str:
    return clean_name(value, "location")


_PARSERS: dict[str, Any] = {"name": clean_name, "location": _location, "enabled": _enabled}
_FIELDS = (*_PARSERS, "conditions")
_REQUIRED = ("name", "location", "conditions")


def validate_rule(raw: Mapping[str, object], current: RuleSettings | None = None) -> RuleSettings:
    """Check ``raw`` as a new rule, or as changes to ``current``; every broken rule at once.

    ``name``, ``location`` and ``conditions`` are required for a new rule; ``enabled`` defaults
    to true. ``None`` keeps the current value. When editing, ``conditions`` changes the conditions
    it names and keeps the others; a condition set to ``null`` or ``""`` is removed.
    """
    errors = [FieldError(str(key), "unknown field") for key in raw if key not in _FIELDS]
    values: dict[str, Any] = {}
    if current:
        values = {"name": current.name, "location": current.location, "enabled": current.enabled}
        values["conditions"] = current.conditions
    errors += parse_fields(raw, _PARSERS, _REQUIRED, values)
    if raw.get("conditions") is not None:
        values["conditions"], condition_errors = _conditions(raw["conditions"], current.conditions if current else None)
        errors.extend(condition_errors)
    elif "conditions" not in values:
        errors.append(FieldError("conditions", "is required"))
    if errors:
        raise InvalidInput(errors)
    return RuleSettings(
        name=values["name"],
        location=values["location"],
        conditions=values["conditions"],
        enabled=values.get("enabled", True),
    )


# --- matching ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Compiled:
    conditions: Conditions
    subject: re.Pattern[str] | None = field(default=None)
    project_code: re.Pattern[str] | None = field(default=None)


def _compile(conditions: Conditions) -> _Compiled:
    def pattern(text: str | None) -> re.Pattern[str] | None:
        return re.compile(text, re.IGNORECASE) if text is not None else None

    code = pattern(conditions.project_code)
    if code is not None and code.groups != 1:
        raise re.error("a project code pattern has one group")
    return _Compiled(conditions, pattern(conditions.subject), code)


def _folder_matches(wanted: str, folders: Iterable[str]) -> bool:
    subtree = wanted.endswith("/*")
    base = (wanted[:-2] if subtree else wanted).casefold()
    for path in folders:
        key = path.strip("/").casefold()
        if key == base or (subtree and key.startswith(base + "/")):
            return True
    return False


def _address_matches(wanted: str, addresses: Iterable[str]) -> bool:
    for address in addresses:
        key = address.strip().lower()
        if key == wanted or (wanted.startswith("@") and key.endswith(wanted)):
            return True
    return False


def matches(rule: RuleSettings | Conditions, facts: MessageFacts) -> bool:
    """Whether every condition of ``rule`` matches ``facts`` (enabled or not); never raises."""
    return Matcher(rule.conditions if isinstance(rule, RuleSettings) else rule)(facts)


def _matches(rule: _Compiled, facts: MessageFacts) -> bool:
    c = rule.conditions
    subject = facts.subject[:MAX_SUBJECT_LENGTH]
    if c.folder is not None and not _folder_matches(c.folder, facts.folders):
        return False
    if c.sender is not None and not _address_matches(c.sender, (facts.sender,)):
        return False
    if c.recipient is not None and not _address_matches(c.recipient, facts.recipients):
        return False
    if rule.subject is not None and not rule.subject.search(subject):
        return False
    if rule.project_code is not None:
        found = rule.project_code.search(subject)
        if not found or not found.group(1):
            return False
    return True


class Matcher:
    """One rule's conditions compiled once, for testing many messages; see :func:`matches`."""

    def __init__(self, conditions: Conditions) -> None:
        try:
            self._compiled: _Compiled | None = _compile(conditions)
        except (re.error, RecursionError, OverflowError):
            self._compiled = None

    def __call__(self, facts: MessageFacts) -> bool:
        return self._compiled is not None and _matches(self._compiled, facts)
