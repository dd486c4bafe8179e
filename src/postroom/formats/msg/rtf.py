"""RTF bodies for the ``.msg`` writer: HTML or plain text as RTF, and LZFu compression of it.

An Outlook message carries its formatted body in ``PR_RTF_COMPRESSED``. Older Outlook renders
that property rather than ``PR_HTML``, so the RTF we write *encapsulates* the HTML body as
[MS-OXRTFEX] describes: a reader that knows the encapsulation gets the original HTML back,
byte for byte, and any other RTF reader still sees the message's text.

* :func:`html_to_rtf` — HTML encapsulated in RTF ([MS-OXRTFEX] 2.1.3.2, "Encoding HTML into RTF").
* :func:`text_to_rtf` — plain text as RTF, marked ``\\fromtext`` ([MS-OXRTFEX], "FROMTEXT Control Word").
* :func:`compress_rtf` — the LZFu form of ``PR_RTF_COMPRESSED`` ([MS-OXRTFCP]).

How the HTML is laid out in RTF. The HTML is escaped once for RTF, then cut into *markup*
(tags, comments, declarations, ``<script>``/``<style>``/``<title>``-like elements with their
content, character references, line breaks) and *text* (everything between). Markup goes
into ``{\\*\\htmltag<N> ...}`` destination groups, which RTF readers skip and de-encapsulating
readers copy out ([MS-OXRTFEX] 2.1.3.1.4); text is ordinary RTF text, shared by both views.
What only the RTF view needs (a space for a line break, the character a reference stands for,
a paragraph mark for ``</p>``) sits between ``\\htmlrtf`` and ``\\htmlrtf0`` so de-encapsulation
skips it ([MS-OXRTFEX] 2.1.3.1.3). How the HTML is cut never affects the round trip — any
character de-encapsulates to itself whether it lands in a tag group or in text — only how
the RTF view looks, so unparseable markup is simply left as text.

Escapes ([MS-OXRTFEX] 2.1.3.1.4.2): ``\\{`` and ``\\}``, ``\\tab`` for a tab, ``\\'0d`` / ``\\'0a``
for CR / LF (the byte itself, so line endings survive exactly, where ``\\par`` would come back
as CRLF), ``\\'hh`` for other control characters and for the backslash itself (``\\'5c``, so
that no run of text can read as a control word to the regular expressions extract-msg runs
over RTF before de-encapsulating it), and ``\\uN`` with a one-character ASCII fallback
(``\\uc1``) for anything outside ASCII; past U+FFFF that is the UTF-16 surrogate pair.

Compression is greedy LZ77 with a table of 3-byte strings rather than the spec's exhaustive
search ("Finding the Longest Match to Input"); any decompressor reads either.
"""

from __future__ import annotations

import html
import re
import struct
import unicodedata
import zlib

__all__ = ["compress_rtf", "html_to_rtf", "text_to_rtf"]


# --- Escaping ([MS-OXRTFEX] 2.1.3.1.4.2) -------------------------------------------------------

# Characters str.replace handles in C; the rest (control characters, non-ASCII) go through
# _RareCharacters, one run of them at a time.
_PLAIN_ESCAPES = (("\\", "\\'5c"), ("{", "\\{"), ("}", "\\}"), ("\t", "\\tab "), ("\r", "\\'0d"), ("\n", "\\'0a"))
_NEEDS_PLAIN_ESCAPE = re.compile(r"[\\{}\t\r\n]")
_RARE_RUN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\U0010ffff]+")


def _unicode_escape(code_unit: int, fallback: str) -> str:
    """``\\uN`` takes a signed 16-bit number ([MSFT-RTF]); ``fallback`` is what ``\\uc1`` skips."""
    signed = code_unit - 0x10000 if code_unit >= 0x8000 else code_unit
    return f"\\u{signed}{fallback}"


def _ascii_fallback(char: str) -> str:
    """The letter a pre-Unicode reader shows instead (``é`` → ``e``), else ``?``.

    Only letters: a digit would run into ``\\uN``'s number, and punctuation might be ``{`` or ``\\``.
    """
    base = unicodedata.normalize("NFKD", char)[:1]
    return base if base.isascii() and base.isalpha() else "?"


def _escape_rare(code: int) -> str:
    """A control character as ``\\'hh``; any other as ``\\uN?``, as a UTF-16 surrogate pair past U+FFFF."""
    if code < 0x80:
        return f"\\'{code:02x}"
    fallback = _ascii_fallback(chr(code))
    if code <= 0xFFFF:
        return _unicode_escape(code, fallback)
    high, low = divmod(code - 0x10000, 0x400)
    return _unicode_escape(0xD800 + high, fallback) + _unicode_escape(0xDC00 + low, "?")


class _RareCharacters(dict[int, str]):
    """A ``str.translate`` table that works out (and remembers) each character's escape on first sight."""

    def __missing__(self, code: int) -> str:
        self[code] = escaped = _escape_rare(code)
        return escaped


_RARE_CHARACTERS = _RareCharacters()


def _escape_rare_run(match: re.Match[str]) -> str:
    """Escape a run of control and non-ASCII characters (``str.translate`` in C, once per run)."""
    return match.group().translate(_RARE_CHARACTERS)


def _escape(text: str) -> str:
    """``text`` as RTF characters that de-encapsulate to exactly ``text``; the result is ASCII."""
    if _NEEDS_PLAIN_ESCAPE.search(text):
        for char, escaped in _PLAIN_ESCAPES:
            text = text.replace(char, escaped)
    return _RARE_RUN.sub(_escape_rare_run, text)


# --- HTML encapsulation ([MS-OXRTFEX] 2.1.3.2) -------------------------------------------------

# RTF header: \fromhtml1 after \rtf1 and before the font table ([MS-OXRTFEX] "FROMHTML Control
# Word"), the default code page, one font, and the empty {\*\htmltag64} before any shared text
# (2.1.3.2).
_HTML_HEADER = (
    "{\\rtf1\\ansi\\ansicpg1252\\fromhtml1 \\deff0{\\fonttbl{\\f0\\fswiss\\fcharset0 Arial;}}"
    "{\\*\\htmltag64}\\uc1\\pard\\plain\\f0\\fs20 "
)
_TEXT_HEADER = (
    "{\\rtf1\\ansi\\ansicpg1252\\fromtext \\deff0{\\fonttbl{\\f0\\fmodern\\fcharset0 Courier New;}}"
    "\\uc1\\pard\\plain\\f0\\fs20 "
)

# HTMLTagParameter ([MS-OXRTFEX] 2.1.3.1.4.1): Destination | TagType | flags, written in decimal.
_INBODY, _INHEAD, _INHTML, _OUTHTML = 0x0, 0x1, 0x2, 0x3
_TEXT, _STARTP, _ENDP = 0x00, 0x50, 0x60
_TAG_TYPES = {"html": 0x10, "head": 0x20, "body": 0x30, "p": 0x40, "br": 0x70, "pre": 0x80, "font": 0x90}
# Other markup gets 0xF0 and end tags 0x08, as in Outlook's own output ({\*\htmltag241 <style>},
# {\*\htmltag72 </p>}). The parameter is advisory: de-encapsulating readers SHOULD ignore it (2.2.3.2).
_OTHER, _CLOSING = 0xF0, 0x08
_BLOCKS = frozenset(
    {"address", "article", "aside", "blockquote", "caption", "center", "dd", "div", "dl", "dt", "figure", "footer"}
    | {"form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "section", "table"}
    | {"tbody", "td", "tfoot", "th", "thead", "tr", "ul"}
)
# (is end tag, name) -> (Destination of the tag itself, Destination after it).
_STRUCTURE = {
    (False, "html"): (_OUTHTML, _INHTML),
    (True, "html"): (_OUTHTML, _OUTHTML),
    (False, "head"): (_INHTML, _INHEAD),
    (True, "head"): (_INHEAD, _INHTML),
    (False, "body"): (_INHTML, _INBODY),
    (True, "body"): (_INHTML, _INHTML),
}
_HAS_STRUCTURE = re.compile(r"<(?:html|head|body)[\s/>]", re.IGNORECASE)

# Markup in the *escaped* HTML. Every alternative stops at the next "<" or runs to the end of
# the document, so scanning is linear even for hostile input; whatever does not match stays text.
_RAW_TEXT = ("script", "style", "title", "textarea", "xmp", "iframe", "noembed", "noframes", "noscript", "plaintext")
_RAW_ELEMENT = "|".join(rf"<{name}(?=[\s/>\\])[^<>]*>(?:.*?</{name}[^<>]*>|.*\Z)" for name in _RAW_TEXT)
_ATTRIBUTES = r"""[^<>"']*(?:(?:"[^"<]*"|'[^'<]*')[^<>"']*)*+>"""
_ITEM = rf"""{_RAW_ELEMENT}|<!--(?:.*?-->|.*\Z)|</?[A-Za-z]{_ATTRIBUTES}|<[!?][^<>]*>|(?:\\'0d|\\'0a)+"""
# A run of adjacent markup items becomes one tag group (fewer groups, smaller RTF, faster);
# the lookahead names the run's first tag, which types the group's HTMLTagParameter.
_MARKUP = re.compile(
    # The leading (?=[<&\\]) lets the regex engine skip text quickly (a 5x speed-up).
    r"(?=[<&\\])"
    rf"""(?:(?P<run>(?=(?:<(?P<end>/)?(?P<name>[A-Za-z][^\s/<>"'\\]*))?)(?:{_ITEM})+)"""
    r"""|(?P<reference>&(?:\#[0-9]{1,7}|\#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});))""",
    re.DOTALL | re.IGNORECASE,
)
# Tags in a run that move the Destination or break a line in the RTF view.
_NOTABLE_TAG = re.compile(
    r"<(/?)(" + "|".join(sorted(_BLOCKS | {"html", "head", "body", "br", "p"})) + r")(?=[\s/>\\])", re.IGNORECASE
)
# What the RTF view (and only it) gets for a run: a line or paragraph break, or the space a
# line break in HTML text renders as. \htmlrtf0 is explicit rather than left to the end of a
# group ([MS-OXRTFEX] 2.1.3.1.3), so that readers which do not scope \htmlrtf to groups agree.
_LINE, _PARAGRAPH, _SPACE = "\\htmlrtf \\line\\htmlrtf0 ", "\\htmlrtf \\par\\htmlrtf0 ", "\\htmlrtf  \\htmlrtf0 "


def _htmltag(parameter: int, content: str) -> str:
    """An HTMLTAG destination group ([MS-OXRTFEX] 2.1.3.1.4); the space keeps a leading digit apart."""
    return f"{{\\*\\htmltag{parameter} {content}}}"


def _tag_type(closing: bool, name: str) -> int:
    """TagType and closing flag for a tag ([MS-OXRTFEX] 2.1.3.1.4.1)."""
    tag_type = _TAG_TYPES.get(name) or ((_ENDP if closing else _STARTP) if name in _BLOCKS else _OTHER)
    return tag_type | (_CLOSING if closing else 0)


def _follow(run: str, where: int) -> tuple[int, str]:
    """Where the document is after ``run``, and what the RTF view shows in its place."""
    shown = ""
    for slash, name in _NOTABLE_TAG.findall(run):
        key = (slash == "/", name.lower())
        if key in _STRUCTURE:
            where = _STRUCTURE[key][1]
        elif key == (False, "br"):
            shown = shown or _LINE
        elif key == (False, "hr") or (key[0] and key[1] != "br"):  # </p>, </div>, </li>, </tr>, ...
            shown = _PARAGRAPH
    if not shown and where == _INBODY and (run.startswith("\\'0") or run.endswith(("\\'0a", "\\'0d"))):
        shown = _SPACE
    return where, shown


class _Encapsulator:
    """Turns each markup match into RTF, following where in the document (Destination) it is.

    The same markup in the same place always encodes the same way, so each is worked out once
    per document (an Outlook body repeats its paragraph and span tags hundreds of times).
    """

    def __init__(self, html_text: str) -> None:
        self.where = _OUTHTML if _HAS_STRUCTURE.search(html_text) else _INBODY
        self.done: dict[tuple[int, str], tuple[str, int]] = {}

    def __call__(self, match: re.Match[str]) -> str:
        key = (self.where, match.group())
        encoded = self.done.get(key)
        if encoded is None:
            encoded = self.done[key] = self._encode(match)
        self.where = encoded[1]
        return encoded[0]

    def _encode(self, match: re.Match[str]) -> tuple[str, int]:
        markup, name, end = match.group(0, "name", "end")
        if match.lastgroup == "reference":
            # The reference stays in a tag group; the RTF view gets the character it stands for.
            shown = _escape(html.unescape(markup)).replace("\\{", "\\'7b").replace("\\}", "\\'7d")
            return _htmltag(self.where | _TEXT, markup) + f"\\htmlrtf {shown}\\htmlrtf0 ", self.where
        if name is None:  # the run starts with a comment, a declaration or a line break
            parameter = self.where | (_TEXT if markup[0] == "\\" else _OTHER)
        else:
            key = (end is not None, name.lower())
            parameter = _STRUCTURE.get(key, (self.where,))[0] | _tag_type(*key)
        where, shown = _follow(markup, self.where)
        return _htmltag(parameter, markup) + shown, where


def html_to_rtf(html_text: str) -> bytes:
    """HTML encapsulated in RTF per [MS-OXRTFEX]; de-encapsulation gives back ``html_text`` exactly.

    The result looks like ``{\\rtf1\\ansi\\ansicpg1252\\fromhtml1 \\deff0 {\\fonttbl ...}
    {\\*\\htmltag64} ... {\\*\\htmltag<N> <tag>} text ... \\htmlrtf ... \\htmlrtf0 ...}`` and is ASCII.
    """
    escaped = _escape(html_text)
    body = _MARKUP.sub(_Encapsulator(html_text), escaped)
    return (_HTML_HEADER + body + "}").encode("ascii")


def text_to_rtf(text: str) -> bytes:
    """Plain text as RTF marked ``\\fromtext`` ([MS-OXRTFEX] "FROMTEXT Control Word"), a ``\\par`` per line.

    Line breaks (CRLF, CR or LF) all become ``\\par``, which de-encapsulates to CRLF.
    """
    lines = re.split(r"\r\n|\r|\n", text)
    body = "\\par\r\n".join(_escape(line) for line in lines)
    return (_TEXT_HEADER + body + "}").encode("ascii")


# --- LZFu compression ([MS-OXRTFCP]) -----------------------------------------------------------

# The dictionary's initial 207 bytes ([MS-OXRTFCP] "Dictionary").
_PRELOAD = (
    b"{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript "
    b"\\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n\\par "
    b"\\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx"
)
_WINDOW = 4096  # 12-bit offsets into a circular dictionary ([MS-OXRTFCP] "Dictionary Reference")
_MAX_MATCH = 17  # 4-bit length field holds length - 2
_COMPRESSED = 0x75465A4C  # COMPTYPE "LZFu" ([MS-OXRTFCP] 2.1.3.1.1, the ABNF grammar)
_UNCOMPRESSED = 0x414C454D  # COMPTYPE "MELA": the RTF as it is, CRC zero ([MS-OXRTFCP] 2.1.3.1.1)
# LZFu in pure Python costs ~0.1 ms per KB of RTF (about 16,000 tokens for a 50 KB HTML body, a
# third of a typical message's conversion time); above this size the RTF is stored as MELA, which
# every reader of the format takes (the bodies are in PR_HTML and PR_BODY as well).
COMPRESS_LIMIT = 16 * 1024


def _crc32(data: bytes) -> int:
    """[MS-OXRTFCP] "CRC": zlib's CRC-32 table, but starting from 0 and not inverted at the end."""
    return zlib.crc32(data, 0xFFFFFFFF) ^ 0xFFFFFFFF


def _lzfu_tokens(buffer: bytes, start: int) -> bytes:
    """The token stream for ``buffer[start:]``: greedy LZ77 over a 4096-byte sliding dictionary.

    ``buffer`` is the preloaded dictionary followed by the input, so position ``p`` sits at
    dictionary offset ``p % 4096`` ([MS-OXRTFCP] "Dictionary") and a reference is just an earlier
    position. A table maps each 3-byte string to where it last started a token; its match is
    measured up to 17 bytes. A reference never reaches back 4096 bytes: that offset is the write
    position, which marks the end. A match may overlap the bytes it produces — the decompressor
    copies byte by byte, so it repeats what it has just written, exactly what ``buffer`` holds.

    Tokens go out in runs of up to eight behind a control byte whose bit ``i`` (from the least
    significant) is 1 when token ``i`` is a reference: big-endian, 12-bit offset then 4-bit
    length - 2 ([MS-OXRTFCP] 2.1.3.1.1, "Dictionary Reference"). The stream ends with a reference
    to the write position.

    One function on purpose: this loop runs once per token, and in CPython calls and attribute
    look-ups would cost more than the work itself.
    """
    end = len(buffer)
    stop = end - 5  # the last position with room for a 3-byte key and the two bytes checked after it
    window, longest, never = _WINDOW, _MAX_MATCH, -_WINDOW  # locals: global look-ups cost in this loop
    last_seen = {buffer[i : i + 3]: i for i in range(start - 2)}
    seen = last_seen.get
    from_bytes = int.from_bytes
    out = bytearray(1)  # the first run's control byte
    control_at = control = count = 0
    literal_from = position = start
    while True:
        if position < stop:
            key = buffer[position : position + 3]
            candidate = seen(key, never)
            last_seen[key] = position
            if position - candidate >= window:
                position += 1
                continue
            if buffer[candidate + 3] != buffer[position + 3]:  # short matches are the most common
                length = 3
            elif buffer[candidate + 4] != buffer[position + 4]:
                length = 4
            else:
                limit = end - position if end - position < longest else longest
                ahead = buffer[position : position + limit]
                behind = buffer[candidate : candidate + limit]
                difference = from_bytes(ahead) ^ from_bytes(behind)
                length = limit - (difference.bit_length() + 7) // 8
            token = (candidate & 0xFFF) << 4 | (length - 2)
        else:  # too close to the end to look for matches: the rest are literals, then the end
            position, length, token = end, 0, (end & 0xFFF) << 4
        while literal_from < position:
            if count == 8:
                out[control_at] = control
                control_at = len(out)
                control = count = 0
                out.append(0)
            take = position - literal_from
            if take > 8 - count:
                take = 8 - count
            out += buffer[literal_from : literal_from + take]
            literal_from += take
            count += take
        if count == 8:
            out[control_at] = control
            control_at = len(out)
            control = count = 0
            out.append(0)
        control |= 1 << count
        count += 1
        out.append(token >> 8)
        out.append(token & 0xFF)
        if not length:
            out[control_at] = control
            return bytes(out)
        position += length
        literal_from = position


def compress_rtf(rtf: bytes) -> bytes:
    """``rtf`` as LZFu compressed RTF ([MS-OXRTFCP]): a 16-byte header, then the tokens.

    Header, little-endian: COMPSIZE (the bytes after this field), RAWSIZE, COMPTYPE ``LZFu``
    and the CRC of the token stream ([MS-OXRTFCP] 2.1.3.1.1, "CRC").
    """
    content = _lzfu_tokens(_PRELOAD + rtf, len(_PRELOAD))
    header = struct.pack("<IIII", len(content) + 12, len(rtf), _COMPRESSED, _crc32(content))
    return header + content


def store_rtf(rtf: bytes, *, compress_limit: int = COMPRESS_LIMIT) -> bytes:
    """PR_RTF_COMPRESSED's value: LZFu up to ``compress_limit`` bytes of RTF, uncompressed ("MELA") above."""
    if len(rtf) <= compress_limit:
        return compress_rtf(rtf)
    return struct.pack("<IIII", len(rtf) + 12, len(rtf), _UNCOMPRESSED, 0) + rtf
