"""A message's header fields read as clean text: 8-bit bytes, encoded words, dates and addresses.

The header half of :func:`postroom.domain.message.extract_metadata` (whose module docstring states
the rules): header sections are found in the raw bytes and parsed with ``compat32``, which never
interprets a value; each value is then turned into valid, one-line Unicode and read leniently.
Nothing here raises for bad input: what cannot be read is reported to a :class:`_Warnings`.
"""

from __future__ import annotations

import binascii
import re
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime

# ---------------------------------------------------------------- text that any database accepts

_SURROGATE = re.compile("[\ud800-\udfff]")
_NOT_ESCAPED_BYTE = re.compile("[\ud800-\udc7f\udd00-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")  # those str.split() keeps
_MAX_WARNINGS = 50


class _Warnings:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, warning: str) -> None:
        text = _one_line(warning)
        if text not in self.items and len(self.items) <= _MAX_WARNINGS:
            self.items.append(text if len(self.items) < _MAX_WARNINGS else "further warnings left out")


def _one_line(text: str) -> str:
    """Valid Unicode on one line: lone surrogates → U+FFFD, controls gone, whitespace collapsed."""
    return " ".join(_CONTROL.sub("", _SURROGATE.sub("\ufffd", text)).split())


def _quote(text: str) -> str:
    """A value as shown inside a warning: one clean line, cut at 80 characters."""
    line = _one_line(text)
    return repr(line if len(line) <= 80 else line[:79] + "…")


def _decode_8bit(data: bytes) -> tuple[str, bool]:
    """Bytes as UTF-8, else Windows-1252 (Latin-1 for its unused bytes); and whether it guessed."""
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), True
    except UnicodeDecodeError:
        return data.decode("latin-1"), True


def _repair(value: str, header: str, warnings: _Warnings) -> str:
    """Turn the parser's surrogate-escaped 8-bit bytes back into text."""
    if not _SURROGATE.search(value):
        return value
    data = _NOT_ESCAPED_BYTE.sub("\ufffd", value).encode("utf-8", "surrogateescape")
    text, guessed = _decode_8bit(data)
    if guessed:
        warnings.add(f"{header} header has 8-bit bytes that are not UTF-8; read them as Windows-1252")
    return text


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")


def _decode_word_bytes(data: bytes, charset: str) -> str:
    try:
        return data.decode(charset.split("*", 1)[0], "replace")
    except (LookupError, ValueError):
        return _decode_8bit(data)[0]


def _decode_encoded_words(text: str) -> str:
    """Decode RFC 2047 encoded words leniently, joining adjacent words in the same charset."""
    out: list[str] = []
    charset: str | None = None  # of the adjacent words not yet decoded
    pending = bytearray()
    end = 0
    for match in _ENCODED_WORD.finditer(text):
        word_charset, kind, payload = match.groups()
        try:
            if kind in "bB":
                data = binascii.a2b_base64(payload.encode("ascii") + b"===")
            else:
                data = binascii.a2b_qp(payload.encode("ascii"), header=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            continue  # not an encoded word after all: it stays in the text as written
        gap = text[end : match.start()]
        adjacent = charset is not None and not gap.strip()  # whitespace between words is dropped
        if charset is not None and not (adjacent and charset.lower() == word_charset.lower()):
            out.append(_decode_word_bytes(bytes(pending), charset))
            charset = None
        if not adjacent:
            out.append(gap)
        if charset is None:
            charset, pending = word_charset, bytearray()
        pending += data
        end = match.end()
    if charset is not None:
        out.append(_decode_word_bytes(bytes(pending), charset))
    out.append(text[end:])
    return "".join(out)


# ---------------------------------------------------------------- header sections

_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_MAX_HEADER_BYTES = 1 << 20
_NEWLINE_IN_VALUE = re.compile(r"\r?\n(?=[ \t])|[\r\n]")
Headers = dict[str, list[str]]


def _header_section(raw: bytes, start: int, end: int) -> tuple[int, int]:
    """Where an entity's header section ends and its body starts."""
    for newline in (b"\n", b"\r\n"):
        if raw.startswith(newline, start, end):
            return start, start + len(newline)
    limit = min(end, start + _MAX_HEADER_BYTES)
    match = _BLANK_LINE.search(raw, start, limit)
    if match is None:
        return limit, limit
    return match.start(), match.end()


def _read_headers(block: bytes, warnings: _Warnings) -> Headers:
    """Header fields by lower-case name, unfolded and decoded to text (encoded words kept)."""
    parsed = BytesHeaderParser(policy=policy.compat32).parsebytes(block)
    headers: Headers = {}
    for raw_name, value in parsed.raw_items():
        name = _one_line(raw_name)
        text = _repair(value, name.title(), warnings)
        headers.setdefault(name.lower(), []).append(_NEWLINE_IN_VALUE.sub(" ", text).strip())
    return headers


def _first(headers: Headers, name: str) -> str | None:
    values = headers.get(name)
    return values[0] if values else None


# ---------------------------------------------------------------- dates

# Zone names that RFC 5322 does not know but mail in the wild uses; ambiguous ones are left out.
_ZONES = {"CET": 1, "MET": 1, "MEZ": 1, "CEST": 2, "MEST": 2, "MESZ": 2, "BST": 1, "WET": 0}
_ZONES |= {"WEST": 1, "EET": 2, "EEST": 3, "MSK": 3, "JST": 9, "KST": 9, "HKT": 8, "SGT": 8}
_ZONES |= {"AEST": 10, "AEDT": 11, "NZST": 12, "NZDT": 13, "Z": 0, "UTC": 0}
_COMMENT = re.compile(r"\([^()]*\)")


def _parse_date(value: str, warnings: _Warnings) -> datetime | None:
    text = _one_line(value)
    bare = " ".join(_COMMENT.sub(" ", text).split()).rstrip(" .,;")
    when: datetime | None = None
    for candidate in (text, bare):  # the first with a time zone wins, else the first at all
        try:
            parsed = parsedate_to_datetime(candidate)
        except Exception:  # ValueError mostly; older versions raised TypeError and IndexError too
            continue
        when = parsed if when is None or parsed.tzinfo is not None else when
        if when.tzinfo is not None:
            break
    if when is None:
        try:
            when = datetime.fromisoformat(bare)
        except ValueError:
            warnings.add(f"Date header {_quote(text)} is not a date; no date indexed")
            return None
    if when.tzinfo is None:
        zone = bare.rsplit(" ", 1)[-1].upper()
        if zone in _ZONES:
            when = when.replace(tzinfo=timezone(timedelta(hours=_ZONES[zone])))
        else:
            when = when.replace(tzinfo=UTC)
            if not re.search(r"[+-]0000$", bare):
                warnings.add(f"Date header {_quote(text)} has no known time zone; taken as UTC")
    try:
        return when.astimezone(UTC)
    except (OverflowError, ValueError):
        warnings.add(f"Date header {_quote(text)} is out of range; no date indexed")
        return None


# ---------------------------------------------------------------- addresses

_ANGLE_ID = re.compile(r"<([^<>]*)>")  # also how postroom.domain.message finds Message-IDs

_PLAUSIBLE = re.compile(r'(?:"[^"]*"|[^\s"<>(),;:@]+)@[^\s"<>(),;:@]+')
# The strict parser takes ~0.1 ms per address and grows faster than linearly (18 ms for 100
# addresses, 400 ms for 1,000). So the common shapes — 'a@b', 'Name <a@b>', '"Name" <a@b>' in a
# list — are read by one regex (tests check it agrees with the strict parser), headers longer
# than _MAX_STRICT_LENGTH by the linear lenient reader, and only the rest by the strict parser.
_MAX_STRICT_LENGTH = 4_000
_ADDR = r"[^\s<>()\[\]\\\",;:@]+@[^\s<>()\[\]\\\",;:@]+"
_SIMPLE_MAILBOX = (  # written so that no two parts can match the same text: linear, no backtracking blow-up
    rf'(?:([^<>()\[\]\\",;:@]*)<({_ADDR})>|\s*"([^"\\]*)"\s*<({_ADDR})>|\s*({_ADDR}))\s*'
)
_SIMPLE_LIST = re.compile(rf"{_SIMPLE_MAILBOX}(?:,{_SIMPLE_MAILBOX})*")
_SIMPLE_ONE = re.compile(_SIMPLE_MAILBOX)


def _parse_addresses(header: str, value: str, warnings: _Warnings) -> list[tuple[str, str]]:
    """(Display name, address) of each mailbox of an address header, flattening groups; leniently
    when it is malformed. Mailboxes with neither are left out."""
    if _SIMPLE_LIST.fullmatch(value):
        pairs = [
            (_decode_encoded_words(name or quoted), angle or quoted_angle or bare)
            for name, angle, quoted, quoted_angle, bare in _SIMPLE_ONE.findall(value)
        ]
    elif len(value) > _MAX_STRICT_LENGTH:
        pairs = _lenient_addresses(value)
    else:
        try:
            parsed = policy.default.header_factory(header, value)
            pairs = [(a.display_name, a.addr_spec) for g in parsed.groups for a in g.addresses]
        except Exception:  # the stdlib header parser has raised on malformed input before
            pairs = [("", "<>")]
        if not all(_PLAUSIBLE.fullmatch(addr) for _, addr in pairs):
            warnings.add(f"{header.title()} header {_quote(value)} is malformed; read it leniently")
            pairs = _lenient_addresses(value)
    found = ((_one_line(name), _one_line(addr)) for name, addr in pairs)
    return [(name, addr) for name, addr in found if name or addr]


def _split_list(value: str, *, quotes: bool = True) -> list[str]:
    """Split at commas and semicolons outside quotes, angle brackets and comments."""
    chunks: list[str] = []
    current: list[str] = []
    quoted = angle = escaped = False
    comment = 0
    for ch in value:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"' and quotes and not comment:
            quoted = not quoted
        elif not quoted:
            if ch in "<>" and not comment:
                angle = ch == "<"
            elif ch == "(":
                comment += 1
            elif ch == ")":
                comment = max(comment - 1, 0)
            elif ch in ",;" and not angle and not comment:
                chunks.append("".join(current))
                current = []
                continue
        current.append(ch)
    chunks.append("".join(current))
    if quoted and quotes:
        return _split_list(value, quotes=False)  # an unbalanced quote: ignore quotes instead
    return chunks


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] + text[-1] in ('""', "()"):
        text = text[1:-1]
    return _decode_encoded_words(text.replace('\\"', '"').replace("\\\\", "\\").strip('" '))


def _lenient_addresses(value: str) -> list[tuple[str, str]]:
    found = []
    chunks = [re.sub(r'^[^"<>@:]*:', "", c).strip() for c in _split_list(value)]  # drop group names
    carried = ""  # an unquoted name with a comma in it: 'Müller, Hans <h@example.de>'
    for index, bare in enumerate(chunks):
        chunk = f"{carried}, {bare}" if carried else bare
        carried = ""
        following = chunks[index + 1] if index + 1 < len(chunks) else ""
        if chunk and not re.search("[@<]", chunk) and "<" in following:
            carried = chunk
            continue
        angle = list(_ANGLE_ID.finditer(chunk))
        words = chunk.split()
        at = [w for w in words if "@" in w]
        if angle:
            last = angle[-1]
            found.append((_unquote(chunk[: last.start()] + chunk[last.end() :]), last.group(1).strip()))
        elif at:
            address = words.pop(words.index(at[0]))
            found.append((_unquote(" ".join(words)), address.strip('"()')))
        elif len(words) == 1:
            found.append(("", words[0].strip('"')))
        elif words:
            found.append((_unquote(chunk), ""))
    return found
