"""File names for filed messages: a location's naming template, filled from the message, made safe.

Seed 000: "The file names are based on the ISO 8601 standard and the dates are in UTC time so that
the server and your local copies share the same time stamp." The default template is therefore
``{date} {subject}``, e.g. ``20261122T101530Z Quarterly report.msg``. Everything here is pure and
deterministic: the same message, template and limits always give the same name.

**Templates** (:class:`NamingTemplate`) hold text and fields in braces; ``{{`` and ``}}`` write a
literal brace. The fields are listed in :data:`FIELDS`. A ``/`` (or ``\\``, for people used to
Windows) in the template's own text makes sub-folders: ``{year}/{month}/{date} {subject}``. Values
never make folders: a ``/`` in a subject is replaced like any other forbidden character. A
template is rejected (:class:`~postroom.errors.InvalidInput`) for an unknown field, an unmatched
brace, a character Windows forbids, an empty folder name, or a file name without any field (every
message would get the same name).

**Dates.** ``{date}`` is ISO 8601 basic format in UTC, to the second: a message sent
``Sun, 22 Nov 2026 11:15:30 +0100`` is ``20261122T101530Z``. Without a Date header the archive's
own date (when it received the message) is used; with neither, ``00000000T000000Z`` (and year
``0000``, month and day ``00``): it sorts first and says plainly "no date", where an invented
date such as 1970-01-01 would look real.

**Safe on Windows, SMB and macOS** — each folder and file name, separately:

* NFC-normalised (what Windows and SMB use); lone surrogates, control characters, bidirectional
  overrides (which can disguise ``fdp.exe`` as ``exe.pdf``) and byte-order marks are removed;
  runs of whitespace, line breaks included, become one space.
* ``< > : " / \\ | ? *`` each become :data:`REPLACEMENT` (``_``): one predictable rule, where
  dropping them would run words together (``a/b`` → ``ab``).
* Leading and trailing spaces and dots are removed: Windows drops trailing ones silently (so the
  name would not round-trip), and a leading dot hides a file on macOS and Linux (and marks the
  writer's temporary files, which no message name may then look like).
* Windows device names (``CON``, ``PRN``, ``AUX``, ``NUL``, ``COM0``-``COM9``, ``LPT0``-``LPT9``,
  also with ``¹²³``, ``CONIN$`` and ``CONOUT$``), in any case and with any extension (``con.txt``),
  get an ``_`` after the device name: ``CON_.msg``.
* At most :data:`MAX_COMPONENT_BYTES` (255) bytes of UTF-8 — the ext4 and APFS limit, stricter
  than the 255 UTF-16 units of NTFS and SMB — and at most 255 UTF-16 units once decomposed (NFD),
  as HFS+ stores names. The room for a collision suffix (11 characters) is always kept, so adding
  one never breaks a limit. Cuts fall between characters and never split a base letter from its accents,
  an emoji from its modifiers, or a flag's two letters.
* The whole path fits ``max_path`` counted as Windows does (UTF-16 units, the terminating NUL
  included, so 260 allows 259 characters), with the collision suffix's room kept too. That room
  also keeps every sub-folder's path 13 characters under the limit, as Windows requires when it
  creates a folder (``max_path`` minus 12, for an 8.3 name), so folders need no rule of their own.

When a name is too long the subject is shortened first, then the other text fields
(:data:`SHRINK_ORDER`); dates, the extension and literal text are kept. If even that cannot fit,
:class:`NameTooLong` is raised and the connector skips the delivery with that reason.

**Collisions.** Two different messages may get the same name. The writer then files the second
under :func:`with_collision_suffix`: `` [ab12cd34]`` (the first 8 hex digits of its content's
SHA-256) before the extension, so writing the same message again finds it under the same name.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from postroom.errors import FieldError, InvalidInput, NameTooLong

if TYPE_CHECKING:
    from postroom.domain.message import MessageMetadata

__all__ = [
    "DEFAULT_MAX_PATH",
    "DEFAULT_TEMPLATE",
    "FIELDS",
    "MAX_COMPONENT_BYTES",
    "NO_DATE",
    "REPLACEMENT",
    "SHRINK_ORDER",
    "MessageNameFacts",
    "NameTooLong",
    "NamingTemplate",
    "file_name",
    "path_length",
    "sanitise_component",
    "with_collision_suffix",
]

MAX_COMPONENT_BYTES = 255
"""The longest folder or file name, in bytes of UTF-8."""

DEFAULT_MAX_PATH = 260
"""Windows' MAX_PATH, the terminating NUL included."""

REPLACEMENT = "_"
"""What each character Windows forbids in names becomes."""

NO_DATE = "00000000T000000Z"
"""``{date}`` of a message with neither a Date header nor an archive date."""

FIELDS: Mapping[str, str] = {
    "date": "the message date in UTC, ISO 8601 basic format: 20261122T101530Z",
    "year": "the year of that date: 2026",
    "month": "its month, two digits: 11",
    "day": "its day of the month, two digits: 22",
    "subject": "the subject, or (no subject)",
    "from": "the first sender's address, or (no sender)",
    "from_name": "the first sender's display name, else their address",
    "to": "the first recipient's address, or (no recipient)",
    "folder": "the mail folder the message was archived from, or (no folder)",
    "message_id_hash": "8 hex digits of the SHA-256 of the Message-ID (of the content if it has none)",
}
"""Every template field, with what it becomes."""

SHRINK_ORDER = ("subject", "to", "from_name", "from", "folder")
"""The fields shortened, in this order, when a name is too long; the others are never cut."""

_FALLBACKS = {"subject": "(no subject)", "from": "(no sender)", "to": "(no recipient)", "folder": "(no folder)"}
_COMPONENT_FALLBACK = REPLACEMENT
_MAX_TEMPLATE_LENGTH = 500
_MAX_INPUT = 16_384  # characters of a value read: far more than a name can hold, however much is dropped
_SUFFIX_LENGTH = len(" [0123abcd]")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_EXTENSION = re.compile(r"(?:\.[A-Za-z0-9]{1,16})?")
_SPLIT_EXTENSION = re.compile(r"(.+?)(\.[A-Za-z0-9]{1,16})?")

_FORBIDDEN = re.compile(r'[<>:"/\\|?*]')
_SURROGATE = re.compile("[\ud800-\udfff]")
# Controls that str.split() keeps (it treats \t \n \v \f \r \x1c-\x1f \x85 as whitespace), bidi
# marks, embeddings, overrides and isolates, and the byte-order mark.
_INVISIBLE = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_EDGES = re.compile(r"^[\s.]+|[\s.]+$")
_DEVICE = re.compile(r"(?:CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³]|CONIN\$|CONOUT\$)(?= *(?:\.|$))", re.IGNORECASE)
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_SEPARATORS = re.compile(r"[/\\]")
_TEMPLATE_FORBIDDEN = re.compile(r'[<>:"|?*\x00-\x1f\x7f-\x9f]')


# ---------------------------------------------------------------- templates


@dataclass(frozen=True)
class _Part:
    text: str  # literal text, or the field's name
    is_field: bool


@dataclass(frozen=True)
class NamingTemplate:
    """A parsed, valid naming template; build it with :meth:`parse`. ``str()`` gives its text."""

    text: str
    components: tuple[tuple[_Part, ...], ...] = dataclasses.field(repr=False)

    @classmethod
    def parse(cls, text: object, field: str = "naming_template") -> NamingTemplate:
        """Parse ``text``; raise :class:`InvalidInput` naming ``field`` and the rule it breaks."""
        if not isinstance(text, str):
            raise InvalidInput(FieldError(field, "must be text"))
        return cls(text, _parse(text, field))

    @property
    def fields(self) -> frozenset[str]:
        """The fields the template uses."""
        return frozenset(part.text for component in self.components for part in component if part.is_field)

    def __str__(self) -> str:
        return self.text


def _template_error(field: str, message: str) -> InvalidInput:
    return InvalidInput(FieldError(field, message))


def _parse(text: str, field: str) -> tuple[tuple[_Part, ...], ...]:
    if not text.strip():
        raise _template_error(field, "must not be empty")
    if len(text) > _MAX_TEMPLATE_LENGTH:
        raise _template_error(field, f"must be at most {_MAX_TEMPLATE_LENGTH} characters long")
    components: list[list[_Part]] = [[]]
    position = 0
    for match in _TOKEN.finditer(text):
        _add_literal(components, text[position : match.start()], field)
        token, name = match.group(0), match.group(1)
        if token in ("{{", "}}"):
            _add_literal(components, token[0], field)
        elif name is None:
            raise _template_error(
                field,
                f"has an unmatched {token!r} at position {match.start() + 1}; write {token * 2} for a literal one",
            )
        elif name not in FIELDS:
            allowed = ", ".join(f"{{{known}}}" for known in FIELDS)
            hint = " (fields take no format: use {year}, {month} and {day})" if re.search("[:!]", name) else ""
            raise _template_error(field, f"has an unknown field {{{name}}}{hint}; the fields are {allowed}")
        else:
            components[-1].append(_Part(name, is_field=True))
        position = match.end()
    _add_literal(components, text[position:], field)
    for index, component in enumerate(components):
        _check_component(component, field, last=index == len(components) - 1)
    return tuple(tuple(component) for component in components)


def _add_literal(components: list[list[_Part]], text: str, field: str) -> None:
    if forbidden := _TEMPLATE_FORBIDDEN.search(text):
        raise _template_error(
            field, f"must not contain {forbidden.group(0)!r}: Windows does not allow it in file names"
        )
    for index, piece in enumerate(_SEPARATORS.split(unicodedata.normalize("NFC", text))):
        if index:
            components.append([])
        if piece:
            components[-1].append(_Part(piece, is_field=False))


def _check_component(component: list[_Part], field: str, *, last: bool) -> None:
    has_field = any(part.is_field for part in component)
    literal = "".join(part.text for part in component if not part.is_field)
    if not has_field and not _EDGES.sub("", literal):
        raise _template_error(
            field, "has an empty folder name: a '/' at the start or end, two in a row, or one around '.' or '..'"
        )
    if last and not has_field:
        raise _template_error(
            field,
            "must use a field in the file name (after the last '/', if any), or every message would get the same name",
        )


DEFAULT_TEMPLATE = NamingTemplate.parse("{date} {subject}")
"""``{date} {subject}``: ``20261122T101530Z Quarterly report``."""


# ---------------------------------------------------------------- the message's side


@dataclass(frozen=True)
class MessageNameFacts:
    """What a file name can be made of. Dates must be timezone-aware; they are used in UTC.

    ``date`` is the message's Date header, ``received`` the archive's own date for it (used when
    the message has no date); ``content_sha256`` is the SHA-256 of its bytes as lowercase hex.
    """

    content_sha256: str
    date: datetime | None = None
    received: datetime | None = None
    subject: str = ""
    from_address: str = ""
    from_name: str = ""
    to: str = ""
    folder: str = ""
    message_id: str | None = None

    def __post_init__(self) -> None:
        if not _SHA256.fullmatch(self.content_sha256):
            raise ValueError(f"content_sha256 must be 64 lowercase hex digits, not {self.content_sha256!r}")
        for name in ("date", "received"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware, not {value!r}")

    @classmethod
    def from_metadata(
        cls,
        metadata: MessageMetadata,
        *,
        content_sha256: str,
        folder: str = "",
        received: datetime | None = None,
    ) -> MessageNameFacts:
        """The facts of an archived message, from the metadata the archive indexed."""
        sender = metadata.from_[0] if metadata.from_ else None
        return cls(
            content_sha256=content_sha256,
            date=metadata.date,
            received=received,
            subject=metadata.subject,
            from_address=sender.address if sender else "",
            from_name=sender.name if sender else "",
            to=metadata.to[0].address if metadata.to else "",
            folder=folder,
            message_id=metadata.message_id,
        )


def _utc(facts: MessageNameFacts) -> datetime | None:
    for when in (facts.date, facts.received):
        if when is not None:
            try:
                return when.astimezone(UTC)
            except (OverflowError, ValueError):  # year 1 or 9999 pushed out of range
                continue
    return None


def _values(facts: MessageNameFacts, wanted: frozenset[str]) -> dict[str, str]:
    """Every field the template uses, cleaned (:func:`_clean`) but not yet cut."""
    when = _utc(facts)
    if when is None:
        dates = {"date": NO_DATE, "year": NO_DATE[:4], "month": NO_DATE[4:6], "day": NO_DATE[6:8]}
    else:
        year, month, day = f"{when.year:04d}", f"{when.month:02d}", f"{when.day:02d}"
        clock = f"{when.hour:02d}{when.minute:02d}{when.second:02d}"
        dates = {"date": f"{year}{month}{day}T{clock}Z", "year": year, "month": month, "day": day}
    identity = facts.message_id.encode("utf-8", "surrogatepass") if facts.message_id else None
    texts = {
        "subject": _clean(facts.subject) or _FALLBACKS["subject"],
        "from": _clean(facts.from_address) or _FALLBACKS["from"],
        "from_name": _clean(facts.from_name) or _clean(facts.from_address) or _FALLBACKS["from"],
        "to": _clean(facts.to) or _FALLBACKS["to"],
        "folder": _clean(facts.folder) or _FALLBACKS["folder"],
        "message_id_hash": hashlib.sha256(identity).hexdigest()[:8] if identity else facts.content_sha256[:8],
    }
    values = dates | texts
    return {name: _cut(values[name], _fits_component) or "" for name in wanted}


# ---------------------------------------------------------------- the rules for one name


def _clean(text: str) -> str:
    """Valid, visible, one-line NFC text with every character Windows forbids replaced.

    Only the first :data:`_MAX_INPUT` characters are read: no name holds more than 255 bytes.
    """
    text = _INVISIBLE.sub("", _SURROGATE.sub(REPLACEMENT, text[:_MAX_INPUT]))
    text = unicodedata.normalize("NFC", " ".join(text.split()))
    return _FORBIDDEN.sub(REPLACEMENT, text)


def _finish(text: str, fallback: str = _COMPONENT_FALLBACK) -> str:
    """A cleaned name made final: NFC, single spaces, none or dots at either end, no device name."""
    text = _EDGES.sub("", " ".join(unicodedata.normalize("NFC", text).split())) or fallback
    if device := _DEVICE.match(text):
        text = f"{text[: device.end()]}_{text[device.end() :]}"
    return text


def _utf8_length(text: str) -> int:
    return len(text.encode("utf-8"))


def path_length(text: str) -> int:
    """How long Windows counts ``text``: in UTF-16 code units (a 4-byte emoji counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def _fits_component(text: str, limit: int = MAX_COMPONENT_BYTES) -> bool:
    return _utf8_length(text) <= limit and path_length(unicodedata.normalize("NFD", text)) <= limit


_ZWJ = "\u200d"


def _joins_previous(previous: str, char: str) -> bool:
    """Whether a cut between ``previous`` and ``char`` would split what is seen as one character."""
    return (
        unicodedata.category(char) in ("Mn", "Mc", "Me")  # accents and other combining marks
        or _ZWJ in (previous, char)  # emoji sequences
        or "\ufe00" <= char <= "\ufe0f"  # variation selectors
        or "\U0001f3fb" <= char <= "\U0001f3ff"  # skin tones
        or "\U000e0020" <= char <= "\U000e007f"  # tag sequences (subdivision flags)
        or "\U000e0100" <= char <= "\U000e01ef"  # ideographic variation selectors
    )


def _is_regional_indicator(char: str) -> bool:
    return "\U0001f1e6" <= char <= "\U0001f1ff"


def _cut_points(text: str) -> list[int]:
    """The lengths ``text`` may be cut to, shortest first: 0, each character boundary, len."""
    points = [0]
    indicators = 0  # flags are pairs of regional indicators: never cut after an odd count
    for index in range(1, len(text)):
        previous, char = text[index - 1], text[index]
        indicators = indicators + 1 if _is_regional_indicator(previous) else 0
        pair_split = indicators % 2 == 1 and _is_regional_indicator(char)
        if not _joins_previous(previous, char) and not pair_split:
            points.append(index)
    if text:
        points.append(len(text))
    return points


def _cut(text: str, fits: Callable[[str], bool]) -> str | None:
    """The longest prefix of ``text`` (cut at :func:`_cut_points`, trailing spaces dropped) that
    ``fits``; ``None`` if not even the empty one does. ``fits`` should grow false with length."""
    if fits(text):
        return text
    points = _cut_points(text)
    if not fits(""):
        return None
    low, high = 0, len(points) - 1  # fits(text[:points[low]]), not fits(text[:points[high]])
    while high - low > 1:
        middle = (low + high) // 2
        if fits(text[: points[middle]].rstrip()):
            low = middle
        else:
            high = middle
    return text[: points[low]].rstrip()


def sanitise_component(text: str, *, fallback: str = _COMPONENT_FALLBACK, max_bytes: int = MAX_COMPONENT_BYTES) -> str:
    """One folder or file name made safe by every rule in the module docstring.

    ``fallback`` stands in for text with nothing left (it must itself be a safe name); the result
    has at most ``max_bytes`` bytes of UTF-8 (and as many UTF-16 units decomposed).
    """
    if _finish(_clean(fallback)) != fallback or not _fits_component(fallback, max_bytes):
        raise ValueError(f"the fallback {fallback!r} is not a safe name of at most {max_bytes} bytes")
    cut = _cut(_clean(text), lambda prefix: _fits_component(_finish(prefix, fallback), max_bytes))
    return _finish(cut or "", fallback)


# ---------------------------------------------------------------- whole names


@dataclass(frozen=True)
class _Limits:
    extension: str
    max_path: int | None
    base_path_length: int

    def render(self, template: NamingTemplate, values: Mapping[str, str]) -> list[str]:
        """The folder and file names, the file name without its extension."""
        return [
            _finish("".join(values[part.text] if part.is_field else part.text for part in component))
            for component in template.components
        ]

    def problem(self, names: list[str]) -> str | None:
        """Which limit ``names`` break (with the room for a collision suffix kept), if any."""
        *folders, stem = names
        reserved = f"{stem}{' ' * _SUFFIX_LENGTH}{self.extension}"
        for name in [*folders, reserved]:
            if not _fits_component(name):
                return f"a folder or file name may have at most {MAX_COMPONENT_BYTES} bytes"
        if self.max_path is None:
            return None
        base = self.base_path_length + 1 if self.base_path_length else 0  # and a separator
        if base + path_length("/".join([*folders, reserved])) > self.max_path - 1:
            return (
                f"the path may have at most {self.max_path - 1} characters "
                f"and the location's folder takes {self.base_path_length}"
            )
        return None


def file_name(
    template: NamingTemplate,
    facts: MessageNameFacts,
    extension: str,
    *,
    max_path: int | None = DEFAULT_MAX_PATH,
    base_path_length: int = 0,
) -> str:
    """The relative path, ``/``-separated, a message is filed under, e.g. ``20261122T101530Z Hi.msg``.

    ``extension`` is ``.msg``, ``.eml`` (the dot may be left out) or empty. ``max_path`` is the
    file system's path limit counted as Windows does, the terminating NUL included (``None``: no
    limit); ``base_path_length`` is the :func:`path_length` of the location's folder, which a
    separator joins to the name. Raise :class:`NameTooLong` if no shortening makes the name fit.
    """
    limits = _Limits(_extension(extension), max_path, base_path_length)
    values = _values(facts, template.fields)
    names = limits.render(template, values)
    for name in SHRINK_ORDER:
        if limits.problem(names) is None:
            break
        if name not in values:
            continue

        def fits(prefix: str, name: str = name) -> bool:
            return limits.problem(limits.render(template, values | {name: prefix})) is None

        values[name] = _cut(values[name], fits) or ""
        names = limits.render(template, values)
    if problem := limits.problem(names):
        raise NameTooLong("/".join(names) + limits.extension, problem)
    return "/".join(names) + limits.extension


def _extension(extension: str) -> str:
    extension = extension if not extension or extension.startswith(".") else f".{extension}"
    if not _EXTENSION.fullmatch(extension):
        raise ValueError(f"an extension is a dot and 1-16 ASCII letters or digits, not {extension!r}")
    return extension


def with_collision_suffix(name: str, content_sha256: str) -> str:
    """``name`` with `` [ab12cd34]`` — the content hash's first 8 hex digits — before its extension.

    The extension is the last ``.`` and 1-16 ASCII letters or digits of the file name (the part
    after the last ``/``); a name without one gets the suffix at its end. :func:`file_name` keeps
    room for the suffix, so the result still fits every limit that name did.
    """
    if not _SHA256.fullmatch(content_sha256):
        raise ValueError(f"content_sha256 must be 64 lowercase hex digits, not {content_sha256!r}")
    folders, separator, last = name.rpartition("/")
    match = _SPLIT_EXTENSION.fullmatch(last)
    if not match:
        raise ValueError(f"{name!r} has no file name")
    stem, extension = match.group(1), match.group(2) or ""
    return f"{folders}{separator}{stem.rstrip()} [{content_sha256[:8]}]{extension}"
