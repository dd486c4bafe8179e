"""RTF bodies for the .msg writer, checked by independent readers.

* Compression: ``compressed_rtf`` (extract-msg's decompressor, which also checks the CRC) and a strict
  decoder here that follows [MS-OXRTFCP] literally and also checks what no decompressor enforces (the
  end marker is last, COMPSIZE, no reference to bytes the dictionary was never given).
* Encapsulation: ``RTFDE`` (extract-msg's de-encapsulator), both directly and behind extract-msg's own
  clean-up of the RTF, and a small "plain RTF reader" here for what a reader that knows nothing of
  [MS-OXRTFEX] shows.

The only normalisation applied to RTFDE's output is RTFDE's own: it rewrites every U+00A0 in
de-encapsulated HTML as ``&nbsp;`` (``RTFDE.transformers.transform_based_on_content_type``), so the
expected HTML gets the same rewrite; and it renders ``\\par`` as LF where the spec says CRLF, which
only plain-text bodies use.
"""

from __future__ import annotations

import itertools
import random
import re
import struct
import textwrap
import time
from dataclasses import dataclass

import compressed_rtf  # type: ignore[import-untyped]
import pytest
from compressed_rtf.crc32 import crc32 as reference_crc32  # type: ignore[import-untyped]
from extract_msg.utils import stripRtf  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st
from RTFDE.deencapsulate import DeEncapsulator  # type: ignore[import-untyped]

from postroom.formats.msg import rtf as rtf_module
from postroom.formats.msg.rtf import compress_rtf, html_to_rtf, text_to_rtf

PRELOAD = (
    b"{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript "
    b"\\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n\\par "
    b"\\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx"
)
LZFU = 0x75465A4C

# --- independent readers -------------------------------------------------------------------------------


@dataclass
class Decoded:
    data: bytes
    references: list[tuple[int, int, int]]  # (offset, length, write position) of each reference
    literals: int


def lzfu_decode(compressed: bytes, fill: int = 0) -> Decoded:
    """[MS-OXRTFCP] decompression, byte by byte, strict about the framing; ``fill`` is the unused dictionary."""
    comp_size, raw_size, comp_type, crc = struct.unpack_from("<IIII", compressed)
    assert comp_size == len(compressed) - 4
    assert comp_type == LZFU
    content = compressed[16:]
    assert crc == reference_crc32(content)
    dictionary = bytearray(PRELOAD + bytes([fill]) * (4096 - len(PRELOAD)))
    write, at, out = len(PRELOAD), 0, bytearray()
    references: list[tuple[int, int, int]] = []
    literals = 0
    while True:
        control = content[at]
        at += 1
        for bit in range(8):
            if control >> bit & 1:
                token = int.from_bytes(content[at : at + 2], "big")
                at += 2
                offset, length = token >> 4, (token & 0xF) + 2
                if offset == write:
                    assert at == len(content), "bytes after the end marker"
                    assert len(out) == raw_size
                    return Decoded(bytes(out), references, literals)
                references.append((offset, length, write))
                chunk = bytearray()
                for step in range(length):
                    chunk.append(dictionary[(offset + step) % 4096])
                    dictionary[write] = chunk[-1]
                    write = (write + 1) % 4096
                out += chunk
            else:
                out.append(content[at])
                dictionary[write] = content[at]
                write = (write + 1) % 4096
                at += 1
                literals += 1


def deencapsulated_html(rtf: bytes) -> str:
    reader = DeEncapsulator(rtf)
    reader.deencapsulate()
    assert reader.content_type == "html"
    html: bytes = reader.html
    return html.decode("utf-8")


def through_extract_msg(compressed: bytes) -> str:
    """What extract-msg's ``Message.htmlBody`` does with PR_RTF_COMPRESSED when there is no PR_HTML."""
    body = compressed_rtf.decompress(compressed)
    body = stripRtf(body[: body.rfind(b"}") + 1])
    return deencapsulated_html(body)


def as_rtfde_gives(html: str) -> str:
    return html.replace("\u00a0", "&nbsp;")  # RTFDE's own rewrite, see the module docstring


_PLAIN_TOKEN = re.compile(rb"\\([a-z]+)(-?\d+)? ?|\\'([0-9a-f]{2})|\\([^a-z'])|([{}])|([^\\{}]+)")


def plain_rtf_view(rtf: bytes) -> str:
    """What an RTF reader that knows nothing of [MS-OXRTFEX] shows (as much RTF as our output uses)."""
    shown: list[str] = []
    depth, hidden_from, after_unicode = 0, 0, False
    for word, number, hex_byte, symbol, brace, text in _PLAIN_TOKEN.findall(rtf):
        if brace:
            hidden_from = 0 if brace == b"}" and hidden_from == depth else hidden_from
            depth += 1 if brace == b"{" else -1
        elif hidden_from:
            continue
        elif symbol == b"*" or word == b"fonttbl":  # an ignorable destination, or the font table
            hidden_from = depth
        elif word == b"u":
            shown.append(chr(int(number) % 0x10000))
            after_unicode = True
        elif word in (b"par", b"line", b"tab"):
            shown.append("\t" if word == b"tab" else "\n")
        elif hex_byte or symbol:
            shown.append(bytes.fromhex(hex_byte.decode()).decode("cp1252") if hex_byte else symbol.decode())
        elif text:
            shown.append(text.decode("ascii")[after_unicode:])  # \uc1: skip the one-character fallback
            after_unicode = False
    surrogates = re.compile("[\ud800-\udbff][\udc00-\udfff]")
    return surrogates.sub(lambda pair: pair.group().encode("utf-16", "surrogatepass").decode("utf-16"), "".join(shown))


VOCABULARY = """
    the of and to in is you that it was for on are as with they at be this have from or one had by word but not
    what all were we when your can said there use an each which she do how their if will up other about out many
    then them these so some her would make like into time has look two more write go see meeting report quarter
    budget project customer invoice contract delivery schedule regards attached
"""


def outlook_like_html(size: int = 50_000, seed: int = 7) -> str:
    """A body shaped like Outlook's: a Word style sheet, span-wrapped paragraphs, source lines wrapped at 76."""
    rnd = random.Random(seed)
    words = VOCABULARY.split()
    odd = ["café", "Müller", "naïve", "€100", "straße", "東京", "😀", "{curly}", "back\\slash"]
    head = (
        '<html xmlns:o="urn:schemas-microsoft-com:office:office"><head>\r\n'
        '<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\r\n<style><!--\r\n'
        "@font-face\r\n\t{font-family:Calibri;\r\n\tpanose-1:2 15 5 2 2 2 4 3 2 4;}\r\n"
        "p.MsoNormal, li.MsoNormal, div.MsoNormal\r\n\t{margin:0cm;\r\n\tfont-size:11.0pt;\r\n"
        '\tfont-family:"Calibri",sans-serif;}\r\n--></style></head>\r\n'
        '<body lang="EN-GB" link="#0563C1" vlink="#954F72">\r\n<div class="WordSection1">\r\n'
    )
    parts = [head]
    while sum(map(len, parts)) < size:
        chosen = []
        for _ in range(rnd.randint(10, 80)):
            word = rnd.choice(odd) if rnd.random() < 0.01 else rnd.choice(words)
            roll = rnd.random()
            if roll < 0.02:
                word = f"<b>{word}</b>"
            elif roll < 0.03:
                word = f'<a href="https://intranet.example.com/docs/{rnd.randint(1, 99999)}">{word}</a>'
            elif roll < 0.05:
                word += "&nbsp;"
            chosen.append(word)
        paragraph = f'<p class="MsoNormal"><span style="color:#1F497D">{" ".join(chosen)}<o:p></o:p></span></p>'
        parts.append("\r\n".join(textwrap.wrap(paragraph, 76, break_long_words=False, break_on_hyphens=False)))
        parts.append("\r\n")
    parts.append("</div>\r\n</body>\r\n</html>\r\n")
    return "".join(parts)


# --- HTML encapsulation ------------------------------------------------------------------------------------

ROUND_TRIPS = {
    "fragment": "Hello <b>world</b>!",
    "empty": "",
    "document": "<!DOCTYPE html>\n<html><head><title>T &amp; C</title></head><body><p>x</p></body></html>\n",
    "style and script": "<style>p { color: red; } a:after { content: '\\201C'; }</style><script>a<b && c>d</script>",
    "comment, CDATA, PI": "<!-- a <b> comment --><![CDATA[ <not> & markup ]]><?xml version='1.0'?>",
    "character references": "&lt;&gt;&amp;&quot;&#39;&#x1F600;&nbsp;&copy; AT&T &unknown; &#9999999;",
    "braces and backslashes": "{\\rtf1 \\par} \\htmlrtf x \\htmlrtf0 y \\'41 \\u233? {\\*\\htmltag0 }",
    "line endings": "a\r\nb\nc\rd\r\n\r\n<p>\r\n</p>\n\n",
    "tabs and controls": "a\tb\x00c\x01d\x0be\x0cf\x1fg\x7fh",
    "non-ASCII": "café € 東京 😀 \u00a0 \u2028 \ufeff \U0010fffd Ω",
    "digits after tags": "<p>2024</p><b>1</b>0",
    "stray markup": 'a < b > c <> <1> </> <a b=\'>\' c="<">x</a> <a unterminated="',
    "unterminated comment": "text <!-- never closed <p>still comment",
    "unterminated script": "<script>var a = '</scrip'; <p>",
    "upper case": "<HTML><BODY><P CLASS=X>Text</P><BR></BODY></HTML>",
    "multi-line tag": '<p\r\nclass="a"\r\n>x</p\r\n>',
    "word html": outlook_like_html(3_000),
}


@pytest.mark.parametrize("html", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_rtfde_gets_the_html_back(html: str) -> None:
    assert deencapsulated_html(html_to_rtf(html)) == as_rtfde_gives(html)


@pytest.mark.parametrize("html", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_extract_msg_gets_the_html_back(html: str) -> None:
    assert through_extract_msg(compress_rtf(html_to_rtf(html))) == as_rtfde_gives(html)


def test_a_50_kb_outlook_body_round_trips() -> None:
    html = outlook_like_html()
    compressed = compress_rtf(html_to_rtf(html))
    assert through_extract_msg(compressed) == as_rtfde_gives(html)


def test_the_layout_of_a_small_body() -> None:
    rtf = html_to_rtf("<p>Hi&nbsp;<b>you</b> {a}\\b</p>\n<p>café 😀</p>")
    assert rtf == (
        rb"{\rtf1\ansi\ansicpg1252\fromhtml1 \deff0{\fonttbl{\f0\fswiss\fcharset0 Arial;}}"
        rb"{\*\htmltag64}\uc1\pard\plain\f0\fs20 "
        rb"{\*\htmltag64 <p>}Hi{\*\htmltag0 &nbsp;}\htmlrtf \u160?\htmlrtf0 {\*\htmltag240 <b>}you{\*\htmltag248 </b>}"
        rb" \{a\}\'5cb{\*\htmltag72 </p>\'0a<p>}\htmlrtf \par\htmlrtf0 caf\u233e \u-10179?\u-8704?"
        rb"{\*\htmltag72 </p>}\htmlrtf \par\htmlrtf0 }"
    )


def test_tag_parameters_say_where_each_tag_is() -> None:
    """Destination | TagType | closing ([MS-OXRTFEX] 2.1.3.1.4.1); html/head/body/p/style as Outlook writes them."""
    rtf = html_to_rtf("<html>a<head>b<style>s</style>c</head>d<body>e<p>f</p>g<div>h</div>i</body>j</html>")
    assert re.findall(rb"\\htmltag(\d+) ([^}]*)", rtf) == [
        (b"19", b"<html>"),
        (b"34", b"<head>"),
        (b"241", b"<style>s</style>"),
        (b"41", b"</head>"),
        (b"50", b"<body>"),
        (b"64", b"<p>"),
        (b"72", b"</p>"),
        (b"80", b"<div>"),
        (b"104", b"</div>"),
        (b"58", b"</body>"),
        (b"27", b"</html>"),
    ]


PLAIN_VIEWS = {
    "<p>Hello <b>world</b></p><p>again</p>": "Hello world\nagain\n",
    "one<br>two<br/>three": "one\ntwo\nthree",
    "wrapped\r\nline": "wrapped line",
    "AT&amp;T &lt;3 &rbrace;&#92;": "AT&T <3 }\\",
    "<html><head><title>Hidden</title><style>p {}</style></head><body>Shown</body></html>": "Shown",
    "café 😀 {x} \\ \ttab": "café 😀 {x} \\ \ttab",
}


@pytest.mark.parametrize(("html", "shown"), PLAIN_VIEWS.items())
def test_a_plain_rtf_reader_still_shows_the_text(html: str, shown: str) -> None:
    assert plain_rtf_view(html_to_rtf(html)) == shown


def test_hostile_markup_takes_linear_time() -> None:
    """Each pattern would take minutes if the markup scan backtracked quadratically."""
    for piece in ('<a "', "<a '", "<!--", "<script>", "<", "<a", "</", "<!", "&amp", "<p\r\n"):
        html = piece * (200_000 // len(piece))
        started = time.perf_counter()
        rtf = html_to_rtf(html)
        assert time.perf_counter() - started < 2.0, piece
        assert rtf.endswith(b"}")


MARKUP = """
    <p> </p> <br> <b> </b> </a> <!-- --> <![CDATA[ ]]> <style> </style> <script> </script>
    <html> <head> </head> <body> </body> &amp; &nbsp; &#x41; &rbrace; &bsol; { } \\ \\htmlrtf0 \\'0a \\u233?
"""
HTML_PIECES = st.sampled_from([*MARKUP.split(), '<a href="x?a=1&amp;b={2}">', "\\par ", "\r\n", "\n", "\t", " "])
HTML_ISH = st.lists(st.one_of(st.text(max_size=6), HTML_PIECES), max_size=25).map("".join)


@settings(deadline=None)
@given(HTML_ISH)
def test_any_html_round_trips_through_rtfde(html: str) -> None:
    rtf = html_to_rtf(html)
    assert all(32 <= byte < 127 for byte in rtf)  # 7-bit RTF: every control character is escaped
    braces = re.sub(rb"\\[{}]|[^{}]", b"", rtf)  # a backslash is never escaped by one: it is \'5c
    depths = list(itertools.accumulate(1 if brace == ord("{") else -1 for brace in braces))
    assert depths[-1] == 0 and min(depths[:-1]) > 0  # one document group, closed last
    assert deencapsulated_html(rtf) == as_rtfde_gives(html)


@settings(deadline=None, max_examples=40)
@given(HTML_ISH)
def test_any_html_round_trips_through_extract_msg(html: str) -> None:
    assert through_extract_msg(compress_rtf(html_to_rtf(html))) == as_rtfde_gives(html)


# --- plain text ------------------------------------------------------------------------------------------


def test_plain_text_layout() -> None:
    assert text_to_rtf("Hi {you}\r\ncafé\\") == (
        rb"{\rtf1\ansi\ansicpg1252\fromtext \deff0{\fonttbl{\f0\fmodern\fcharset0 Courier New;}}"
        b"\\uc1\\pard\\plain\\f0\\fs20 Hi \\{you\\}\\par\r\ncaf\\u233e\\'5c}"
    )


@settings(deadline=None, max_examples=50)
@given(st.text())
def test_any_plain_text_round_trips_through_rtfde(text: str) -> None:
    reader = DeEncapsulator(text_to_rtf(text))
    reader.deencapsulate()
    assert reader.content_type == "text"
    # \par is CRLF in [MS-OXRTFEX]; RTFDE renders it as LF, so every line break comes back as LF.
    assert reader.text.decode("utf-8") == re.sub(r"\r\n|\r|\n", "\n", text)


# --- compression -------------------------------------------------------------------------------------------


def periodic(period: int, length: int, seed: int = 1) -> bytes:
    block = random.Random(seed).randbytes(period)
    return (block * (length // period + 1))[:length]


COMPRESSIONS = {
    "empty": b"",
    "one byte": b"x",
    "two bytes": b"ab",
    "shorter than a key and its check": b"abcde",
    "just long enough to match": b"abcabc",
    "a long run": b"a" * 100_000,
    "a two-byte period": b"ab" * 50_000,
    "the preloaded dictionary": PRELOAD,
    "the preloaded dictionary, repeated across the wrap": PRELOAD * 40,
    "random 100 KB": random.Random(0).randbytes(100_000),
    "period 4095, the farthest reference": periodic(4095, 20_000),
    "period 4096, which only the end marker may name": periodic(4096, 20_000),
    "period 4097": periodic(4097, 20_000),
    "every byte value": bytes(range(256)) * 64,
    "an Outlook body": html_to_rtf(outlook_like_html(20_000)),
}


@pytest.mark.parametrize("data", COMPRESSIONS.values(), ids=COMPRESSIONS.keys())
def test_compression_round_trips(data: bytes) -> None:
    compressed = compress_rtf(data)
    assert compressed_rtf.decompress(compressed) == data  # raises on a bad CRC
    decoded = lzfu_decode(compressed)
    assert decoded.data == data
    # No reference reaches a dictionary byte that was never written: any initial fill decodes alike.
    assert lzfu_decode(compressed, fill=0xFF).data == data


def test_the_header() -> None:
    data = b"{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n"
    compressed = compress_rtf(data)
    comp_size, raw_size, _, crc = struct.unpack_from("<IIII", compressed)
    assert (comp_size, raw_size, compressed[8:12]) == (len(compressed) - 4, len(data), b"LZFu")
    assert crc == reference_crc32(compressed[16:])


def test_empty_input_is_a_lone_end_marker() -> None:
    """One control byte with bit 0 set, then a reference to the write position, 207 (0x0CF)."""
    content = b"\x01\x0c\xf0"
    assert compress_rtf(b"") == struct.pack("<IIII", 15, 0, LZFU, reference_crc32(content)) + content


def test_compression_is_real() -> None:
    """References wherever the dictionary holds a repeat; literals only for new bytes and the last five,
    which are too close to the end to look up."""
    run = lzfu_decode(compress_rtf(b"a" * 100_000))
    assert run.literals <= 6
    assert {length for _, length, _ in run.references} == {17}
    preloaded = lzfu_decode(compress_rtf(PRELOAD))
    assert (preloaded.literals, len(preloaded.references)) == (0, 13)
    # After the first period every byte repeats 4095 back. Positions inside a match are not entered in
    # the table, so where a period begins the match can take up to 16 literals to find its footing again.
    assert lzfu_decode(compress_rtf(periodic(4095, 20_000))).literals <= 4095 + 16 * (20_000 // 4095) + 5


def test_references_overlap_the_write_position_and_wrap_around_the_dictionary() -> None:
    references = lzfu_decode(compress_rtf(b"ab" * 5_000)).references
    assert any((write - offset) % 4096 < length for offset, length, write in references)  # copies its own output
    references = lzfu_decode(compress_rtf(PRELOAD * 40)).references
    assert any(offset + length > 4096 for offset, length, _ in references)  # read across the end
    assert any(write + length > 4096 for _, length, write in references)  # written across the end


def test_close_to_the_exhaustive_search() -> None:
    """compressed_rtf.compress tries every dictionary offset for every byte; the 3-byte table gives up little."""
    data = html_to_rtf(outlook_like_html(6_000))[:4_000]
    assert len(compress_rtf(data)) <= 1.1 * len(compressed_rtf.compress(data))


def test_compression_takes_linear_time() -> None:
    """A scan of the whole dictionary per byte would take minutes on these 900 KB; the 3-byte table takes
    about 0.15 s (the bound leaves room for a slow machine)."""
    data = html_to_rtf(outlook_like_html(50_000)) * 10
    started = time.perf_counter()
    compress_rtf(data)
    assert time.perf_counter() - started < 10.0


@settings(deadline=None)
@given(st.binary(max_size=10_000))
def test_any_bytes_round_trip(data: bytes) -> None:
    compressed = compress_rtf(data)
    assert compressed_rtf.decompress(compressed) == data
    assert lzfu_decode(compressed).data == data


@settings(deadline=None)
@given(st.lists(st.sampled_from([b"{\\rtf1", b"\\par ", b"a", b"ab", b"\x00", b"}", b"\xff" * 20]), max_size=3_000))
def test_any_repetitive_bytes_round_trip(pieces: list[bytes]) -> None:
    data = b"".join(pieces)
    compressed = compress_rtf(data)
    assert compressed_rtf.decompress(compressed) == data
    assert lzfu_decode(compressed).data == data


@pytest.mark.parametrize("size", [0, 100, 16 * 1024, 16 * 1024 + 1, 200_000])
def test_stored_rtf_is_compressed_when_small_and_readable_either_way(size: int) -> None:
    rtf = (b"{\\rtf1\\ansi " + b"Surrey Court drawings " * (size // 22 + 1))[:size]
    stored = rtf_module.store_rtf(rtf)
    kind = stored[8:12]
    assert kind == (b"LZFu" if size <= rtf_module.COMPRESS_LIMIT else b"MELA")
    assert compressed_rtf.decompress(stored) == rtf
