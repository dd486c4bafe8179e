"""The attachments of a message, found by walking its MIME tree in the raw bytes.

The MIME half of :func:`postroom.domain.message.extract_metadata` (whose module docstring states
which parts count as attachments and how they are named). Parts are found by searching for
boundary lines; only their header sections are parsed, so no body or attachment is decoded, and
one unreadable part never hides the others.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from email.message import Message

from postroom.domain.message_headers import (
    Headers,
    _decode_8bit,
    _decode_encoded_words,
    _decode_word_bytes,
    _first,
    _header_section,
    _one_line,
    _read_headers,
    _Warnings,
)

_MAX_DEPTH = 40
_EMBEDDED_PREFIX = 256 * 1024


def _boundary_parts(raw: bytes, start: int, end: int, boundary: bytes, limit: int) -> tuple[list[int], str]:
    """Start and end offsets of the parts between boundary lines, at most ``limit`` parts; and
    whether the boundary is "missing", the multipart "open" (no close line) or "closed"."""
    delimiter = b"--" + boundary
    offsets: list[int] = []
    part_start = -1
    position = start
    while len(offsets) < 2 * limit:
        found = raw.find(delimiter, position, end)
        if found < 0:
            break
        position = found + 1
        if found != start and raw[found - 1] != 0x0A:
            continue
        after = found + len(delimiter)
        closing = raw.startswith(b"--", after, end)
        after += 2 if closing else 0
        while after < end and raw[after] in b" \t":
            after += 1
        if after < end and raw[after] not in b"\r\n":
            continue  # a longer boundary, or text that only begins like one
        after += 2 if raw.startswith(b"\r\n", after, end) else 1
        if part_start >= 0:
            stop = found - (2 if raw.startswith(b"\r\n", max(found - 2, 0), found) else 1)
            offsets += [part_start, max(stop, part_start)]
        if closing:
            return offsets, "closed"
        part_start = position = min(after, end)
    if part_start < 0:
        return offsets, "missing"
    if len(offsets) >= 2 * limit:
        return offsets, "closed"  # the walk stops at max_parts and says so
    return [*offsets, part_start, end], "open"


def _content(headers: Headers, default_type: str) -> Message:
    """A compat32 message holding just the content headers, for its parameter parsing."""
    content = Message()
    content.set_default_type(default_type)
    for name in ("content-type", "content-disposition"):
        value = _first(headers, name)
        if value is not None:
            content[name] = value
    return content


def _embedded_subject(raw: bytes, start: int, end: int, encoding: str, warnings: _Warnings) -> str:
    """The subject of a message/rfc822 part, decoding only the start of an encoded one."""
    if encoding in ("base64", "quoted-printable"):
        data = raw[start : min(end, start + _EMBEDDED_PREFIX)]
        try:
            if encoding == "base64":
                compact = b"".join(data.split())
                data = binascii.a2b_base64(compact[: len(compact) // 4 * 4])
            else:
                data = binascii.a2b_qp(data)
        except (binascii.Error, ValueError):
            return ""
        raw, start, end = data, 0, len(data)
    header_end, _ = _header_section(raw, start, end)
    subject = _first(_read_headers(raw[start:header_end], warnings), "subject")
    return "" if subject is None else _one_line(_decode_encoded_words(subject))


@dataclass
class _Attachments:
    names: list[str]
    any: bool = False


# A MIME entity to visit: start, end, body start (-1: not yet known), default type, parent type, depth.
_Entity = tuple[int, int, int, str, str, int]


def _walk(raw: bytes, root: Headers, body: int, max_parts: int, warnings: _Warnings) -> _Attachments:
    found = _Attachments(names=[])
    stack: list[_Entity] = [(0, len(raw), body, "text/plain", "", 0)]
    seen = 0
    while stack:
        entity = stack.pop()
        seen += 1
        if seen > max_parts:
            warnings.add(f"the message has more than {max_parts} MIME parts; the rest were not examined")
            break
        try:
            stack += reversed(_visit(raw, entity, root, max_parts, found, warnings))
        except Exception as exc:  # one unreadable part must not hide the others
            warnings.add(f"a MIME part could not be read ({type(exc).__name__})")
    return found


def _visit(
    raw: bytes, entity: _Entity, root: Headers, max_parts: int, found: _Attachments, warnings: _Warnings
) -> list[_Entity]:
    """Note the entity if it is an attachment; return its children if it is a multipart."""
    start, end, body_start, default_type, parent, depth = entity
    headers = root
    if body_start < 0:
        header_end, body_start = _header_section(raw, start, end)
        headers = _read_headers(raw[start:header_end], warnings)
    content = _content(headers, default_type)
    kind = content.get_content_type()
    if not kind.startswith("multipart/"):
        _note_attachment(raw, (body_start, end), headers, content, parent, depth, found, warnings)
        return []
    if depth >= _MAX_DEPTH:
        warnings.add(f"MIME parts nested deeper than {_MAX_DEPTH} levels were not examined")
        return []
    boundary = content.get_boundary()
    if not boundary:
        warnings.add(f"a {kind} part has no boundary; its parts were not examined")
        return []
    offsets, state = _boundary_parts(raw, body_start, end, boundary.encode("utf-8"), max_parts)
    legacy = boundary.encode("cp1252", "ignore")
    if state == "missing" and not boundary.isascii() and legacy:
        offsets, state = _boundary_parts(raw, body_start, end, legacy, max_parts)
    if state == "missing":
        warnings.add(f"the boundary of a {kind} part never occurs; its parts were not examined")
    elif state == "open":
        warnings.add(f"a {kind} part has no closing boundary (the message may be cut short)")
    child_type = "message/rfc822" if kind == "multipart/digest" else "text/plain"
    return [(offsets[i], offsets[i + 1], -1, child_type, kind, depth + 1) for i in range(0, len(offsets), 2)]


def _filename(content: Message) -> str:
    """Content-Disposition's filename, else Content-Type's name (RFC 2231 decoded).

    Not ``Message.get_filename()``: that unquotes twice, turning ``filename="<x>"`` into ``x``.
    """
    for param, header in (("filename", "content-disposition"), ("name", "content-type")):
        value = content.get_param(param, None, header)
        if isinstance(value, tuple):  # RFC 2231: (charset, language, text with bytes as code points)
            charset, _, text = value
            try:
                data = str(text).encode("latin-1")
            except UnicodeEncodeError:
                return str(text)
            return _decode_word_bytes(data, charset) if charset else _decode_8bit(data)[0]
        if value:
            return value
    return ""


def _note_attachment(
    raw: bytes,
    body: tuple[int, int],
    headers: Headers,
    content: Message,
    parent: str,
    depth: int,
    found: _Attachments,
    warnings: _Warnings,
) -> None:
    disposition = content.get_content_disposition()
    name = _one_line(_decode_encoded_words(_filename(content)))
    kind = content.get_content_type()
    if kind in ("message/rfc822", "message/global") and depth > 0:
        if not name:
            encoding = (_first(headers, "content-transfer-encoding") or "").strip().lower()
            name = (_embedded_subject(raw, *body, encoding, warnings) or "message") + ".eml"
    elif disposition != "attachment":
        shown_in_text = parent == "multipart/related" and "content-id" in headers
        if not name or shown_in_text:
            return
    found.any = True
    if name:
        found.names.append(name)
