"""The searchable metadata of one message, read from its raw RFC 5322 bytes without ever failing.

Archived bytes stay exactly as received; this module only reads them. :func:`extract_metadata`
returns a :class:`MessageMetadata` for *any* bytes: what cannot be read is left empty and
explained in ``warnings``. Decisions worth knowing:

* **Speed.** Only header sections are parsed (``BytesHeaderParser`` with ``compat32``, which
  never interprets a value); the MIME tree is walked by finding boundary lines in the raw bytes,
  so no body or attachment is decoded. Structured headers are then read with
  ``email.policy.default``'s header classes, and leniently when those raise or give nonsense.
* **Text.** 8-bit header bytes are read as UTF-8, else as Windows-1252 (Latin-1 for its five
  unused bytes) with a warning; RFC 2047 encoded words are decoded (adjacent words in one charset
  are joined first, so a character split across two words survives). Every string is valid
  Unicode without NUL or other control characters, so PostgreSQL text columns accept it.
* **Message-ID, In-Reply-To, References** are kept *without* angle brackets and otherwise
  exactly as written (Message-IDs are case-sensitive): see :func:`normalise_message_id`.
* **Date** is the Date header, timezone-aware and in UTC; a date without a zone (or with an
  unknown one) is taken as UTC with a warning; an unreadable date is ``None`` with a warning.
* **Attachments** are leaf parts with ``Content-Disposition: attachment``, or with a file name
  (RFC 2231 and encoded-word names decoded), except images and the like shown inside the text
  (a Content-ID inside ``multipart/related`` and not marked as an attachment). A
  ``message/rfc822`` part is one attachment, named by its file name or by its subject + ``.eml``;
  the parts inside it are not listed. An attachment without a name sets ``has_attachments`` only.
  The walk stops after ``max_parts`` MIME parts, with a warning.

Header text is read by :mod:`postroom.domain.message_headers`, attachments are found by
:mod:`postroom.domain.message_mime`; this module holds the record and puts it together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from postroom.domain.message_headers import (
    _ANGLE_ID,
    _decode_encoded_words,
    _first,
    _header_section,
    _one_line,
    _parse_addresses,
    _parse_date,
    _quote,
    _read_headers,
    _Warnings,
)
from postroom.domain.message_mime import _walk
from postroom.errors import FieldError, InvalidInput

__all__ = ["Address", "MessageMetadata", "extract_metadata", "normalise_message_id"]


@dataclass(frozen=True)
class Address:
    """One mailbox: the display name (possibly empty) and the address as written (possibly empty)."""

    name: str
    address: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "address": self.address}

    @classmethod
    def from_dict(cls, data: object) -> Address:
        """The inverse of :meth:`to_dict`; raise :class:`InvalidInput` if ``data`` is not one."""
        try:
            return _address(data)
        except (KeyError, TypeError) as exc:
            raise InvalidInput(FieldError("address", f"is not an address: {exc}")) from exc


@dataclass(frozen=True)
class MessageMetadata:
    """What the archive indexes about one message (see the module docstring for the rules)."""

    subject: str
    from_: tuple[Address, ...]
    sender: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    date: datetime | None
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    attachment_names: tuple[str, ...]
    has_attachments: bool
    size: int
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``from_`` is stored as ``"from"`` and the date in ISO 8601."""
        return {
            "subject": self.subject,
            "from": [a.to_dict() for a in self.from_],
            "sender": None if self.sender is None else self.sender.to_dict(),
            **{key: [a.to_dict() for a in getattr(self, key)] for key in _ADDRESS_LISTS},
            "date": None if self.date is None else self.date.isoformat(),
            "message_id": self.message_id,
            "in_reply_to": self.in_reply_to,
            "references": list(self.references),
            "attachment_names": list(self.attachment_names),
            "has_attachments": self.has_attachments,
            "size": self.size,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MessageMetadata:
        """The inverse of :meth:`to_dict`; raise :class:`InvalidInput` if ``data`` is not one."""
        try:
            sender = data["sender"]
            date = _checked(data, "date", str, optional=True)
            when = None if date is None else datetime.fromisoformat(date)
            if when is not None and when.tzinfo is None:
                raise ValueError("date must carry a time zone")
            return cls(
                subject=_checked(data, "subject", str),
                from_=_address_list(data, "from"),
                sender=None if sender is None else _address(sender),
                to=_address_list(data, "to"),
                cc=_address_list(data, "cc"),
                bcc=_address_list(data, "bcc"),
                reply_to=_address_list(data, "reply_to"),
                date=None if when is None else when.astimezone(UTC),
                message_id=_checked(data, "message_id", str, optional=True),
                in_reply_to=_checked(data, "in_reply_to", str, optional=True),
                references=_string_list(data, "references"),
                attachment_names=_string_list(data, "attachment_names"),
                has_attachments=_checked(data, "has_attachments", bool),
                size=_checked(data, "size", int),
                warnings=_string_list(data, "warnings"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(FieldError("metadata", f"is not message metadata: {exc}")) from exc


_ADDRESS_LISTS = ("to", "cc", "bcc", "reply_to")


def _address(data: object) -> Address:
    if not isinstance(data, Mapping):
        raise TypeError("an address must be an object with name and address")
    return Address(name=_checked(data, "name", str), address=_checked(data, "address", str))


def _checked(data: Mapping[str, Any], key: str, kind: type[Any], *, optional: bool = False) -> Any:
    value = data[key]
    if (value is None and optional) or (isinstance(value, kind) and not (kind is int and isinstance(value, bool))):
        return value
    raise TypeError(f"{key} must be {kind.__name__}{' or null' if optional else ''}")


def _string_list(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    values = _checked(data, key, list)
    if not all(isinstance(v, str) for v in values):
        raise TypeError(f"{key} must be a list of strings")
    return tuple(values)


def _address_list(data: Mapping[str, Any], key: str) -> tuple[Address, ...]:
    return tuple(_address(item) for item in _checked(data, key, list))


# ---------------------------------------------------------------- identifiers


def normalise_message_id(value: str | None) -> str | None:
    """The Message-ID as compared for move detection: without ``<>`` and surrounding whitespace.

    Case is kept — Message-IDs are case-sensitive. A value with several ``<…>`` keeps the first
    (comments and junk around it are dropped); control characters go and runs of whitespace
    become one space, as in every string here; an empty one gives ``None``.
    """
    if value is None:
        return None
    match = _ANGLE_ID.search(value)
    text = _one_line(match.group(1) if match else value).strip("<> ")
    return text or None


def _ids(value: str) -> list[str]:
    found = [normalise_message_id(m) for m in _ANGLE_ID.findall(value)]
    if not _ANGLE_ID.search(value):
        found = [normalise_message_id(token) for token in value.split() if "@" in token]
    return list(dict.fromkeys(i for i in found if i))


# ---------------------------------------------------------------- the entry point


def extract_metadata(raw: bytes, *, max_parts: int = 10000) -> MessageMetadata:
    """Read the metadata of one message. Never raises for bytes; see the module docstring."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError(f"extract_metadata needs bytes, not {type(raw).__name__}")
    data = bytes(raw)
    try:
        return _extract(data, max(max_parts, 1))
    except Exception as exc:  # a last line of defence: metadata must never stop an archive run
        return _empty(len(data), (f"metadata could not be read ({type(exc).__name__}: {_quote(str(exc))})",))


def _empty(size: int, warnings: tuple[str, ...]) -> MessageMetadata:
    return MessageMetadata("", (), None, (), (), (), (), None, None, None, (), (), False, size, warnings)


def _extract(raw: bytes, max_parts: int) -> MessageMetadata:
    warnings = _Warnings()
    if not raw or raw.isspace():
        return _empty(len(raw), ("the message is empty",))
    header_end, body = _header_section(raw, 0, len(raw))
    headers = _read_headers(raw[:header_end], warnings)
    if not headers:
        warnings.add("the message has no header section")

    def addresses(name: str) -> tuple[Address, ...]:
        values = headers.get(name)
        return tuple(Address(*pair) for pair in _parse_addresses(name, ", ".join(values), warnings)) if values else ()

    from_ = addresses("from")
    if "from" not in headers:
        warnings.add("the message has no From header")
    date_value = _first(headers, "date")
    if date_value is None:
        warnings.add("the message has no Date header")
    date = None if date_value is None else _parse_date(date_value, warnings)
    senders = addresses("sender")
    in_reply_to = _ids(" ".join(headers.get("in-reply-to", [])))
    attachments = _walk(raw, headers, body, max_parts, warnings)
    return MessageMetadata(
        subject=_one_line(_decode_encoded_words(_first(headers, "subject") or "")),
        from_=from_,
        sender=senders[0] if senders else None,
        to=addresses("to"),
        cc=addresses("cc"),
        bcc=addresses("bcc"),
        reply_to=addresses("reply-to"),
        date=date,
        message_id=normalise_message_id(_first(headers, "message-id")),
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=tuple(_ids(" ".join(headers.get("references", [])))),
        attachment_names=tuple(attachments.names),
        has_attachments=attachments.any,
        size=len(raw),
        warnings=tuple(warnings.items),
    )
