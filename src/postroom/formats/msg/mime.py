"""A message's raw bytes read into what an Outlook item holds: header fields, bodies and attachments.

The MSG writer's reading half; :mod:`postroom.formats.msg.convert` writes what this returns.
It reuses the archive's own lenient readers (:mod:`postroom.domain.message_headers` and
:mod:`postroom.domain.message_mime`): header sections are parsed with the stdlib ``email`` package
under ``compat32``, which never raises on a value, and the MIME tree is walked by finding boundary
lines in the raw bytes. Only the parts that end up in the ``.msg`` are decoded, straight from the
raw buffer: a 7bit, 8bit or binary part is passed on as a ``memoryview`` of it, without a copy.

How the parts map to an Outlook item:

* The first ``text/plain`` and the first ``text/html`` that are not attachments (no file name, not
  ``Content-Disposition: attachment``, not a secondary part of ``multipart/related``) are the plain
  and HTML bodies. A later alternative of a body already found is dropped (it says the same); any
  other later text part becomes an attachment, as Outlook itself does.
* ``message/rfc822`` and ``message/global`` parts are embedded messages, read the same way,
  recursively (``multipart/digest`` parts are messages unless they say otherwise).
* Every other leaf is an attachment, kept with its Content-ID and Content-Location.

Nothing here raises for bad input: a missing or unclosed boundary, damaged base64, an unknown
charset or too many parts are reported to the caller's :class:`_Warnings`, and whatever could be
read is kept.
"""

from __future__ import annotations

import binascii
import functools
import re
from dataclasses import dataclass, field
from email.message import Message

from postroom.domain.message_headers import (
    _ENCODED_WORD,
    Headers,
    _decode_8bit,
    _decode_encoded_words,
    _first,
    _header_section,
    _one_line,
    _read_headers,
    _Warnings,
)
from postroom.domain.message_mime import _boundary_parts, _content, _filename

__all__ = ["MAX_PARTS", "Attachment", "MimeMessage", "read_message"]

MAX_PARTS = 10_000  # MIME entities read per message, embedded messages included
_MAX_DEPTH = 40  # multiparts and attached messages nested in each other (keeps the recursion shallow)
_MAX_MESSAGE_DEPTH = 20  # messages attached to messages
_IDENTITY_ENCODINGS = frozenset({"", "7bit", "8bit", "binary"})
_MESSAGE_TYPES = frozenset({"message/rfc822", "message/global"})
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")
_META_CHARSET = re.compile(rb"""<meta\b[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)

Buffer = bytes | memoryview


@dataclass
class Attachment:
    """One attachment: its decoded content, or the message it is."""

    name: str  # the file name the part gives (decoded), or ""
    content_type: str  # lower-case type/subtype
    data: Buffer  # the decoded content (for an embedded message: its raw bytes)
    content_id: str = ""  # without angle brackets
    content_location: str = ""
    message: MimeMessage | None = None  # set for message/rfc822 parts


@dataclass
class MimeMessage:
    """A message as the ``.msg`` writer needs it."""

    headers: Headers  # lower-case name → values, unfolded, 8-bit bytes decoded (encoded words kept)
    header_block: str  # the header section as text, for PidTagTransportMessageHeaders
    text: str | None = None
    html: str | None = None
    attachments: list[Attachment] = field(default_factory=list)


def read_message(raw: bytes, warnings: _Warnings) -> MimeMessage:
    """Read one message (see the module docstring). Never raises for bytes."""
    return _Reader(warnings).message(raw, 0, len(raw), depth=0)


# Where a leaf sits: in a mixed-like multipart, among alternatives, or as a secondary related part.
_MIXED, _ALTERNATIVE, _RELATED = "mixed", "alternative", "related"


class _Reader:
    def __init__(self, warnings: _Warnings) -> None:
        self.warnings = warnings
        self.parts = 0

    def message(self, raw: bytes, start: int, end: int, *, depth: int, nesting: int = 0) -> MimeMessage:
        header_end, body_start = _header_section(raw, start, end)
        block = raw[start:header_end]
        headers = _read_headers(block, self.warnings)
        _check_charsets(headers, self.warnings)
        if not headers:
            self.warnings.add("the message has no header section")
        message = MimeMessage(headers=headers, header_block=_header_text(block))
        self._entity(raw, (start, end, body_start), headers, "text/plain", _MIXED, message, depth, nesting)
        return message

    def _entity(
        self,
        raw: bytes,
        span: tuple[int, int, int],
        headers: Headers,
        default_type: str,
        context: str,
        out: MimeMessage,
        depth: int,
        nesting: int,
    ) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            if self.parts == MAX_PARTS + 1:
                self.warnings.add(f"the message has more than {MAX_PARTS} MIME parts; the rest were left out")
            return
        content = _content(headers, default_type)
        kind = content.get_content_type()
        if kind.startswith("multipart/"):
            self._multipart(raw, span, content, context, out, depth, nesting)
        else:
            self._leaf(raw, span, headers, content, context, out, depth, nesting)

    def _multipart(
        self,
        raw: bytes,
        span: tuple[int, int, int],
        content: Message,
        context: str,
        out: MimeMessage,
        depth: int,
        nesting: int,
    ) -> None:
        kind = content.get_content_type()
        children = self._children(raw, span, content) if nesting < _MAX_DEPTH else None
        if children is None:  # unreadable: keep its body as text rather than lose it
            if nesting >= _MAX_DEPTH:
                self.warnings.add(f"MIME parts nested deeper than {_MAX_DEPTH} levels were kept as text")
            self._leaf(raw, span, {}, _content({}, "text/plain"), context, out, depth, nesting)
            return
        child_type = "message/rfc822" if kind == "multipart/digest" else "text/plain"
        heads = [_child_headers(raw, child, self.warnings) for child in children]
        root = _related_root(content, heads) if kind == "multipart/related" else -1
        for index, (child, (headers, body)) in enumerate(zip(children, heads, strict=True)):
            if kind == "multipart/alternative":
                child_context = _ALTERNATIVE
            elif root >= 0 and index != root:
                child_context = _RELATED
            else:
                child_context = context if root >= 0 else _MIXED
            self._entity(raw, (*child, body), headers, child_type, child_context, out, depth, nesting + 1)

    def _children(self, raw: bytes, span: tuple[int, int, int], content: Message) -> list[tuple[int, int]] | None:
        """The (start, end) of each part of a multipart; None if it has no usable boundary."""
        _, end, body_start = span
        kind = content.get_content_type()
        boundary = content.get_boundary()
        if not boundary:
            self.warnings.add(f"a {kind} part has no boundary; its body was kept as text")
            return None
        limit = max(MAX_PARTS - self.parts, 0) + 1  # one more than allowed, to know there are more
        offsets, state = _boundary_parts(raw, body_start, end, boundary.encode("utf-8", "surrogateescape"), limit)
        legacy = boundary.encode("cp1252", "ignore")
        if state == "missing" and not boundary.isascii() and legacy:
            offsets, state = _boundary_parts(raw, body_start, end, legacy, limit)
        if len(offsets) >= 2 * limit:
            self.warnings.add(f"the message has more than {MAX_PARTS} MIME parts; the rest were left out")
            offsets = offsets[: 2 * (limit - 1)]
        if state == "missing":
            self.warnings.add(f"the boundary of a {kind} part never occurs; its body was kept as text")
            return None
        if state == "open":
            self.warnings.add(f"a {kind} part has no closing boundary (the message may be cut short)")
        return [(offsets[i], offsets[i + 1]) for i in range(0, len(offsets), 2)]

    def _leaf(
        self,
        raw: bytes,
        span: tuple[int, int, int],
        headers: Headers,
        content: Message,
        context: str,
        out: MimeMessage,
        depth: int,
        nesting: int,
    ) -> None:
        kind = content.get_content_type()
        name = _one_line(_decode_encoded_words(_filename(content)))
        encoding = (_first(headers, "content-transfer-encoding") or "").strip().lower()
        if kind in _MESSAGE_TYPES:
            self._embedded(raw, span, headers, (kind, name, encoding), out, depth, nesting)
            return
        is_body = kind in ("text/plain", "text/html") and context != _RELATED and not name
        if is_body and content.get_content_disposition() != "attachment":
            slot = "text" if kind == "text/plain" else "html"
            if getattr(out, slot) is None:
                data = _decoded(raw, span, encoding, self.warnings)
                setattr(out, slot, _decode_text(bytes(data), content, f"the {kind} body", self.warnings))
                return
            if context == _ALTERNATIVE:
                return  # another version of a body already found
        data = _decoded(raw, span, encoding, self.warnings)
        out.attachments.append(_attachment(headers, kind, name, data))

    def _embedded(
        self,
        raw: bytes,
        span: tuple[int, int, int],
        headers: Headers,
        part: tuple[str, str, str],
        out: MimeMessage,
        depth: int,
        nesting: int,
    ) -> None:
        """A message/rfc822 part (type, file name, transfer encoding in ``part``): read as a message."""
        kind, name, encoding = part
        _, end, body_start = span
        data = _decoded(raw, span, encoding, self.warnings)
        attachment = _attachment(headers, kind, name, data)
        if depth >= _MAX_MESSAGE_DEPTH or nesting >= _MAX_DEPTH:
            self.warnings.add("messages attached too deep to follow were kept as .eml files")
        elif isinstance(data, memoryview):  # not transfer-encoded: read it in place
            attachment.message = self.message(raw, body_start, end, depth=depth + 1, nesting=nesting + 1)
        else:
            attachment.message = self.message(data, 0, len(data), depth=depth + 1, nesting=nesting + 1)
        out.attachments.append(attachment)


def _child_headers(raw: bytes, child: tuple[int, int], warnings: _Warnings) -> tuple[Headers, int]:
    """A part's header fields and where its body starts."""
    start, end = child
    header_end, body_start = _header_section(raw, start, end)
    headers = _read_headers(raw[start:header_end], warnings)
    _check_charsets(headers, warnings)
    return headers, body_start


def _related_root(content: Message, heads: list[tuple[Headers, int]]) -> int:
    """RFC 2387: the part named by the ``start`` parameter, else the first."""
    start = content.get_param("start")
    if isinstance(start, str) and start.strip("<> "):
        wanted = start.strip("<> ")
        for index, (headers, _) in enumerate(heads):
            if _content_id(headers) == wanted:
                return index
    return 0


def _attachment(headers: Headers, kind: str, name: str, data: Buffer) -> Attachment:
    location = _one_line(_first(headers, "content-location") or "")
    return Attachment(name, kind, data, content_id=_content_id(headers), content_location=location)


def _content_id(headers: Headers) -> str:
    return _one_line(_first(headers, "content-id") or "").strip().strip("<>").strip()


# ---------------------------------------------------------------- decoding


def _decoded(raw: bytes, span: tuple[int, int, int], encoding: str, warnings: _Warnings) -> Buffer:
    """A part's body with its Content-Transfer-Encoding undone; unencoded bodies are not copied."""
    _, end, body_start = span
    view = memoryview(raw)[body_start:end]
    if encoding == "base64":
        return _base64(view, warnings)
    if encoding == "quoted-printable":
        return binascii.a2b_qp(view)
    if encoding not in _IDENTITY_ENCODINGS:
        warnings.add(f"unknown Content-Transfer-Encoding {encoding!r}; the part was kept as it is")
    return view


def _base64(view: memoryview, warnings: _Warnings) -> bytes:
    try:
        return binascii.a2b_base64(view)
    except (binascii.Error, ValueError):
        pass
    warnings.add("a part's base64 is damaged; decoded what could be read")
    compact = _NOT_BASE64.sub(b"", view)
    compact = compact[: len(compact) - 1] if len(compact) % 4 == 1 else compact
    return binascii.a2b_base64(compact + b"=" * (-len(compact) % 4))


def _decode_text(data: bytes, content: Message, what: str, warnings: _Warnings) -> str:
    """A text part as Unicode: its charset, else (HTML) its meta charset, else UTF-8 or Windows-1252."""
    charset = content.get_content_charset()
    if charset is None and content.get_content_type() == "text/html":
        match = _META_CHARSET.search(data, 0, 4096)
        charset = match.group(1).decode("ascii").lower() if match else None
    if charset:
        try:
            return data.decode(charset)
        except LookupError:
            warnings.add(f"{what} is in unknown charset {charset!r}; decoded as UTF-8 or Windows-1252")
        except ValueError:  # UnicodeDecodeError, and other codecs' complaints
            warnings.add(f"{what} is not valid {charset}; decoded as UTF-8 or Windows-1252")
    return _decode_8bit(data)[0]


def _header_text(block: bytes) -> str:
    """The header section as text, each line read as UTF-8, else Windows-1252 (no bytes are lost)."""
    newline = "\r\n" if b"\r\n" in block else "\n"
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        text = "".join(_decode_8bit(line)[0] for line in block.splitlines(keepends=True))
    return text + newline if text else ""


def _check_charsets(headers: Headers, warnings: _Warnings) -> None:
    """Warn about encoded words in charsets Python does not know (they are read as UTF-8 or 1252)."""
    for name, values in headers.items():
        for value in values:
            if "=?" not in value:
                continue
            for match in _ENCODED_WORD.finditer(value):
                charset = match.group(1).split("*", 1)[0]
                if not _known_charset(charset):
                    warnings.add(
                        f"{name.title()} header in unknown charset {charset!r} decoded as UTF-8 or Windows-1252"
                    )


@functools.lru_cache(maxsize=256)
def _known_charset(charset: str) -> bool:
    """Whether Python decodes text in ``charset`` (``base64`` and the like are codecs, not charsets)."""
    try:
        b"a".decode(charset)  # b"" would not even look the codec up
    except LookupError:
        return False
    except ValueError:
        return True  # a real charset that wants more than one byte
    return True
