"""What a person reads of an archived message: its header section, its text and HTML bodies, the
images the HTML shows by ``cid:`` and its attachments — read from the raw bytes, never failing.

The archive keeps the bytes exactly as received; this module parses them with
``email.policy.default`` only to show them. Decisions:

* **Parts are numbered** in depth-first order over the MIME tree (1 is the first leaf part); a
  ``message/rfc822`` part is one leaf (an attachment), its inside is not walked. The number is
  how the portal names a part in a URL, so it is stable for the same bytes.
* **Bodies** are the first ``text/plain`` and the first ``text/html`` part that
  ``EmailMessage.get_body`` picks (inline, not an attachment), decoded with their charset (an
  unknown charset or broken bytes are replaced, never an error).
* **Attachments** follow :mod:`postroom.domain.message` (the metadata's rule): leaf parts marked
  ``attachment`` or with a file name, except images shown in the HTML (a Content-ID inside
  ``multipart/related``, not marked attachment); bodies are never attachments. A name is made
  safe to save (:func:`safe_file_name`).
* **Inline images** (:meth:`MessageParts.inline_html`): ``cid:`` references in the HTML become
  ``data:`` URIs of the part with that Content-ID, when it is a raster image (PNG, JPEG, GIF,
  WebP, BMP) and all of them together stay under :data:`MAX_INLINE_BYTES`; any other ``cid:``
  stays as it is and shows nothing. No other URL is touched: the page that shows the HTML blocks
  every remote load with its Content-Security-Policy.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser

__all__ = ["MAX_INLINE_BYTES", "Attachment", "MessageParts", "parse_parts", "safe_file_name"]

MAX_INLINE_BYTES = 10 * 1024 * 1024
MAX_PARTS = 2000
_INLINE_IMAGES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"})
_CID = re.compile(r"cid:([^\s\"'<>()]+)", re.IGNORECASE)
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')


@dataclass(frozen=True)
class Attachment:
    index: int  # the part number (see the module docstring)
    name: str  # safe to save
    content_type: str
    size: int  # decoded bytes


@dataclass
class MessageParts:
    headers: str  # the raw header section, decoded for reading
    text: str | None
    html: str | None
    attachments: list[Attachment] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    _leaves: list[Message] = field(default_factory=list, repr=False)
    _by_cid: dict[str, int] = field(default_factory=dict, repr=False)

    def part_bytes(self, index: int) -> bytes | None:
        """The decoded content of part ``index``; None when there is no such part."""
        if not 1 <= index <= len(self._leaves):
            return None
        return _decoded(self._leaves[index - 1])

    def attachment(self, index: int) -> Attachment | None:
        return next((a for a in self.attachments if a.index == index), None)

    def inline_html(self) -> str | None:
        """The HTML body with its ``cid:`` images as ``data:`` URIs (see the module docstring)."""
        if self.html is None:
            return None
        budget = MAX_INLINE_BYTES
        cache: dict[str, str | None] = {}

        def replace(match: re.Match[str]) -> str:
            nonlocal budget
            cid = _cid_key(match.group(1))
            if cid not in cache:
                cache[cid] = None
                index = self._by_cid.get(cid)
                part = self._leaves[index - 1] if index else None
                if part is not None and part.get_content_type() in _INLINE_IMAGES:
                    data = _decoded(part)
                    if len(data) <= budget:
                        budget -= len(data)
                        encoded = base64.b64encode(data).decode("ascii")
                        cache[cid] = f"data:{part.get_content_type()};base64,{encoded}"
            return cache[cid] or match.group(0)

        return _CID.sub(replace, self.html)


def safe_file_name(name: str, fallback: str = "attachment") -> str:
    """``name`` without folders, control characters or characters Windows refuses; never empty,
    never only dots, at most 200 characters (keeping the extension)."""
    name = unicodedata.normalize("NFC", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME.sub("_", name).strip().strip(".").strip()
    if not name:
        return fallback
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = stem[: 200 - len(ext) - 1] + dot + ext if dot and len(ext) <= 20 else name[:200]
    return name


def parse_parts(raw: bytes) -> MessageParts:
    """Read ``raw`` for showing it; what cannot be read is left out and named in ``warnings``."""
    header_end = _header_end(raw)
    headers = raw[:header_end].decode("utf-8", "replace")
    parts = MessageParts(headers=headers, text=None, html=None)
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception as exc:  # the parser is lenient; this is a last resort
        parts.warnings.append(f"the message could not be parsed ({type(exc).__name__})")
        return parts
    assert isinstance(message, EmailMessage)
    leaves: list[tuple[Message, str]] = []
    _collect(message, "", leaves, parts.warnings)
    parts._leaves = [leaf for leaf, _parent in leaves]
    text_part = _body(message, "plain", parts.warnings)
    html_part = _body(message, "html", parts.warnings)
    parts.text = _text(text_part, parts.warnings) if text_part is not None else None
    parts.html = _text(html_part, parts.warnings) if html_part is not None else None
    for number, (leaf, parent) in enumerate(leaves, start=1):
        cid = leaf.get("content-id")
        if cid:
            parts._by_cid.setdefault(_cid_key(str(cid)), number)
        if leaf is text_part or leaf is html_part:
            continue
        try:
            attachment = _attachment(leaf, parent, number)
        except Exception as exc:  # one unreadable part must not hide the others
            parts.warnings.append(f"part {number} could not be read ({type(exc).__name__})")
            continue
        if attachment is not None:
            parts.attachments.append(attachment)
    return parts


def _header_end(raw: bytes) -> int:
    ends = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    return min(ends) if ends else len(raw)


def _collect(part: Message, parent: str, leaves: list[tuple[Message, str]], warnings: list[str]) -> None:
    stack: list[tuple[Message, str, int]] = [(part, parent, 0)]
    while stack:
        current, parent_type, depth = stack.pop()
        if len(leaves) >= MAX_PARTS:
            warnings.append(f"the message has more than {MAX_PARTS} parts; the rest are not shown")
            return
        kind = current.get_content_type()
        if current.is_multipart() and kind.startswith("multipart/") and depth < 40:
            children = current.get_payload()
            if isinstance(children, list):
                stack.extend((child, kind, depth + 1) for child in reversed(children) if isinstance(child, Message))
                continue
        leaves.append((current, parent_type))


def _body(message: EmailMessage, kind: str, warnings: list[str]) -> Message | None:
    try:
        return message.get_body(preferencelist=(kind,))
    except Exception as exc:
        warnings.append(f"the {kind} body could not be found ({type(exc).__name__})")
        return None


def _text(part: Message, warnings: list[str]) -> str:
    data = _decoded(part)
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset, "replace")
    except LookupError:
        warnings.append(f"unknown character set {charset!r}; the text is read as UTF-8")
        return data.decode("utf-8", "replace")


def _decoded(part: Message) -> bytes:
    if part.get_content_type() in ("message/rfc822", "message/global") or part.is_multipart():
        inner = part.get_payload(0) if part.is_multipart() else None
        if isinstance(inner, Message):
            return inner.as_bytes(policy=policy.compat32)
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    return raw.encode("utf-8", "replace") if isinstance(raw, str) else b""


def _cid_key(value: str) -> str:
    return value.strip().strip("<>").strip().lower()


def _attachment(part: Message, parent: str, number: int) -> Attachment | None:
    kind = part.get_content_type()
    disposition = part.get_content_disposition()
    name = part.get_filename() or ""
    is_message = kind in ("message/rfc822", "message/global")
    if not is_message and disposition != "attachment":
        shown_in_html = parent == "multipart/related" and part.get("content-id") is not None
        if not name or shown_in_html:
            return None
    data = _decoded(part)
    if not name and is_message:
        inner = part.get_payload(0) if part.is_multipart() else None
        subject = str(inner.get("subject") or "") if isinstance(inner, Message) else ""
        name = f"{subject or 'message'}.eml"
    name = name or f"part-{number}"
    return Attachment(number, safe_file_name(str(name), f"part-{number}"), kind, len(data))
