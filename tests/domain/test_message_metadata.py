"""Metadata read from raw message bytes: tables of real-world shapes, then properties for any bytes."""

from __future__ import annotations

import base64
import json
import unicodedata
from dataclasses import replace
from datetime import UTC, datetime
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage, Message
from email.policy import SMTP
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from postroom.domain.message import (
    Address,
    MessageMetadata,
    extract_metadata,
    normalise_message_id,
)
from postroom.errors import InvalidInput


def message(*headers: str | bytes, body: bytes = b"Hello\r\n", eol: bytes = b"\r\n") -> bytes:
    lines = [h if isinstance(h, bytes) else h.encode("utf-8") for h in headers]
    return eol.join([*lines, b"", b""]).replace(b"\r\n", eol) + body.replace(b"\r\n", eol)


def assert_storable(meta: MessageMetadata) -> None:
    """Every string fits a PostgreSQL text column, and the record survives JSON both ways."""
    record = meta.to_dict()

    def strings(value: Any) -> list[str]:
        if isinstance(value, str):
            return [value]
        if isinstance(value, dict):
            return [s for v in value.values() for s in strings(v)]
        if isinstance(value, list):
            return [s for v in value for s in strings(v)]
        return []

    for text in strings(record):
        assert "\x00" not in text
        text.encode("utf-8")  # raises on a lone surrogate
        assert not any(unicodedata.category(ch) == "Cc" for ch in text), text
        assert text == text.strip()
    assert meta.date is None or meta.date.tzinfo is UTC
    assert MessageMetadata.from_dict(json.loads(json.dumps(record))) == meta


TYPICAL = message(
    "Return-Path: <bounce@lists.example.org>",
    "Received: from mx.example.org by archive.example.com; Mon, 6 May 2024 09:00:01 +0000",
    'From: "Müller, Anna" <anna@example.de>',
    "Sender: Assistant <assistant@example.de>",
    "To: Bob <bob@example.com>, carol@example.com",
    "Cc: =?UTF-8?Q?J=C3=B6rg?= <joerg@example.de>",
    "Bcc: audit@example.com",
    "Reply-To: team@example.de",
    "Subject: Re: Quarterly\r\n report",
    "Date: Mon, 6 May 2024 10:59:58 +0200",
    "Message-ID: <CAF0x+Case@Mail.Example.de>",
    "In-Reply-To: <parent@example.com> (Bob's message of Monday)",
    "References: <root@example.com>\r\n\t<parent@example.com>",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
)


def test_typical_message() -> None:
    meta = extract_metadata(TYPICAL)
    assert meta == MessageMetadata(
        subject="Re: Quarterly report",
        from_=(Address("Müller, Anna", "anna@example.de"),),
        sender=Address("Assistant", "assistant@example.de"),
        to=(Address("Bob", "bob@example.com"), Address("", "carol@example.com")),
        cc=(Address("Jörg", "joerg@example.de"),),
        bcc=(Address("", "audit@example.com"),),
        reply_to=(Address("", "team@example.de"),),
        date=datetime(2024, 5, 6, 8, 59, 58, tzinfo=UTC),
        message_id="CAF0x+Case@Mail.Example.de",
        in_reply_to="parent@example.com",
        references=("root@example.com", "parent@example.com"),
        attachment_names=(),
        has_attachments=False,
        size=len(TYPICAL),
        warnings=(),
    )
    assert_storable(meta)


def test_crlf_and_lf_line_endings_give_the_same_metadata() -> None:
    lf = TYPICAL.replace(b"\r\n", b"\n")
    meta = extract_metadata(lf)
    assert meta.size == len(lf)
    assert meta == replace(extract_metadata(TYPICAL), size=len(lf))


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("=?UTF-8?B?w4RyZ2VyIPCfmIA=?=", "Ärger 😀"),
        ("=?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=", "Grüße aus Köln"),
        ("=?ISO-8859-1?Q?Caf=E9_cr=E8me?=", "Café crème"),
        ("=?iso-8859-1?b?Q2Fm6Q==?=", "Café"),
        ("=?GB2312?B?1tDOxNPKvP4=?=", "中文邮件"),
        ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),  # whitespace between encoded words is dropped
        ("=?utf-8?q?a?=\r\n =?iso-8859-1?q?=E9?=", "aé"),
        ("=?utf-8?b?w6k=?==?utf-8?b?w6k=?=", "éé"),  # no space between words: still decoded
        ("=?utf-8?q?=E4=B8?= =?utf-8?q?=AD?=", "中"),  # a character split across two words
        ("Re: =?utf-8?q?caf=C3=A9?= time", "Re: café time"),
        ("=?utf-8*en?q?hello?=", "hello"),  # RFC 2231 language suffix
        ("=?x-unknown?q?caf=E9?=", "café"),  # unknown charset: UTF-8, else Windows-1252
        ("=?utf-8?b?not base64?=", "=?utf-8?b?not base64?="),
        ("=?utf-8?x?what?=", "=?utf-8?x?what?="),
        ("  lots   of\t\tspace  ", "lots of space"),
        ("bell\x07 and\x1b escape", "bell and escape"),
        ("=?utf-8?q?nul=00byte?=", "nulbyte"),
        ("", ""),
    ],
)
def test_subject_decoding(subject: str, expected: str) -> None:
    meta = extract_metadata(message("From: a@example.org", f"Subject: {subject}"))
    assert meta.subject == expected
    assert_storable(meta)


@pytest.mark.parametrize(
    ("raw_subject", "expected", "guessed"),
    [
        ("Grüße".encode(), "Grüße", False),  # raw UTF-8 (RFC 6532) is fine
        ("Grüße".encode("latin-1"), "Grüße", True),
        ("“quoted” \u2013 €5".encode("cp1252"), "“quoted” \u2013 €5", True),
        (b"undefined \x81 byte", "undefined byte", True),  # not in Windows-1252: Latin-1 control, dropped
        (b"\xff\xfe\xfd", "ÿþý", True),
    ],
)
def test_raw_8bit_headers(raw_subject: bytes, expected: str, guessed: bool) -> None:
    meta = extract_metadata(message(b"From: J\xc3\xb6rg <j@example.de>", b"Subject: " + raw_subject))
    assert meta.subject == expected
    assert meta.from_ == (Address("Jörg", "j@example.de"),)
    assert any("Subject header has 8-bit bytes" in w for w in meta.warnings) is guessed
    assert_storable(meta)


def test_latin1_display_name_is_decoded_with_a_warning() -> None:
    meta = extract_metadata(message(b"From: J\xf6rg M\xfcller <j@example.de>", b"Subject: x"))
    assert meta.from_ == (Address("Jörg Müller", "j@example.de"),)
    assert "From header has 8-bit bytes that are not UTF-8; read them as Windows-1252" in meta.warnings


def test_missing_date_and_from_are_warnings_not_errors() -> None:
    meta = extract_metadata(message("Subject: nobody", "To: a@example.org"))
    assert meta.from_ == ()
    assert meta.date is None
    assert meta.to == (Address("", "a@example.org"),)
    assert "the message has no From header" in meta.warnings
    assert "the message has no Date header" in meta.warnings


@pytest.mark.parametrize(
    ("date", "expected", "warning"),
    [
        ("Mon, 6 May 2024 10:59:58 +0200", datetime(2024, 5, 6, 8, 59, 58, tzinfo=UTC), None),
        ("6 May 2024 10:59 -0500 (EST)", datetime(2024, 5, 6, 15, 59, tzinfo=UTC), None),
        ("Mon, 6 May 24 10:59:58 GMT", datetime(2024, 5, 6, 10, 59, 58, tzinfo=UTC), None),
        ("Mon, 6 May 2024 10:59:58 -0000", datetime(2024, 5, 6, 10, 59, 58, tzinfo=UTC), None),
        ("Mon, 6 May 2024 10:59:58 CEST", datetime(2024, 5, 6, 8, 59, 58, tzinfo=UTC), None),
        ("Mon, 6 May 2024 10:59:58", datetime(2024, 5, 6, 10, 59, 58, tzinfo=UTC), "taken as UTC"),
        ("Mon, 6 May 2024 10:59:58 XYZ", datetime(2024, 5, 6, 10, 59, 58, tzinfo=UTC), "taken as UTC"),
        ("Mon, 6 May 2024 10:59:58 +0200.", datetime(2024, 5, 6, 8, 59, 58, tzinfo=UTC), None),
        ("2024-05-06T10:59:58+02:00", datetime(2024, 5, 6, 8, 59, 58, tzinfo=UTC), None),
        ("2024-05-06 10:59:58Z", datetime(2024, 5, 6, 10, 59, 58, tzinfo=UTC), None),
        ("yesterday at noon", None, "is not a date"),
        ("", None, "is not a date"),
        ("Mon, 32 May 2024 10:59:58 +0200", None, "is not a date"),
        ("Mon, 6 May 99999 10:59:58 +0200", None, "is not a date"),
        ("Mon, 6 May 2024 10:59:58 +9999", None, "is not a date"),
        ("Mon, 1 Jan 0001 00:00:00 +0100", datetime(2000, 12, 31, 23, 0, tzinfo=UTC), None),
        ("0001-01-01T00:00:00+01:00", None, "out of range"),
    ],
)
def test_dates(date: str, expected: datetime | None, warning: str | None) -> None:
    meta = extract_metadata(message("From: a@example.org", f"Date: {date}"))
    assert meta.date == expected
    assert meta.date is None or meta.date.tzinfo is UTC
    date_warnings = [w for w in meta.warnings if w.startswith("Date header")]
    if warning is None:
        assert date_warnings == []
    else:
        assert len(date_warnings) == 1
        assert warning in date_warnings[0]


@pytest.mark.parametrize(
    ("value", "expected", "lenient"),
    [
        ("undisclosed-recipients:;", [], False),
        (
            'Team: a@example.org, "B" <b@example.org>;, c@example.org',
            ["|a@example.org", "B|b@example.org", "|c@example.org"],
            False,
        ),
        (
            '"Doe, John" <jd@example.org>, x@example.org',
            ["Doe, John|jd@example.org", "|x@example.org"],
            False,
        ),
        ("=?iso-8859-1?q?J=F6rg?= <j@example.de>", ["Jörg|j@example.de"], False),
        ("a@example.org (Alice Example)", ["|a@example.org"], False),
        ('"Foo <foo@example.org>', ["Foo|foo@example.org"], True),
        ('"unbalanced <a@example.org>, c@example.org', ["unbalanced|a@example.org", "|c@example.org"], True),
        ("Müller, Hans <h@example.de>", ["Müller, Hans|h@example.de"], True),
        ("just some words", ["just some words|"], True),
        ("postmaster", ["|postmaster"], True),
        ("<>", [], True),
        ("a@example.org,, ,b@example.org", ["|a@example.org", "|b@example.org"], False),
        ("Broken =?utf-8?q?=C3=A9?= <x@example.org", ["Broken é|x@example.org"], False),
        ("Broken <x@example.org, y@example.org", ["Broken|x@example.org", "|y@example.org"], False),
        ("a@b@c", ["|a@b@c"], True),
        ("", [], False),
    ],
)
def test_addresses(value: str, expected: list[str], lenient: bool) -> None:
    meta = extract_metadata(message("From: a@example.org", f"To: {value}"))
    assert [f"{a.name}|{a.address}" for a in meta.to] == expected
    assert any(w.startswith("To header") and "leniently" in w for w in meta.warnings) is lenient
    assert_storable(meta)


def test_repeated_address_headers_are_combined() -> None:
    meta = extract_metadata(message("To: a@example.org", "To: B <b@example.org>", "Sender: <>"))
    assert meta.to == (Address("", "a@example.org"), Address("B", "b@example.org"))
    assert meta.sender is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<abc@example.org>", "abc@example.org"),
        ("  <Case.Sensitive@Example.ORG>  ", "Case.Sensitive@Example.ORG"),
        ("abc@example.org", "abc@example.org"),
        ("< abc@example.org >", "abc@example.org"),
        ("<a@x> <b@y>", "a@x"),
        ("(comment) <a@x> (more)", "a@x"),
        ("<>", None),
        ("   ", None),
        ("", None),
        (None, None),
        ("<nul\x00@x>", "nul@x"),
    ],
)
def test_normalise_message_id(value: str | None, expected: str | None) -> None:
    assert normalise_message_id(value) == expected


MIXED = message(
    "From: a@example.org",
    "Date: Mon, 6 May 2024 10:59:58 +0200",
    "Subject: files",
    'Content-Type: multipart/mixed; boundary="outer"',
    body=b"""This is the preamble.\r
 --outer is not a boundary when it does not start the line\r
--outer-not-this-either\r
--outer\r
Content-Type: multipart/related; boundary="outer-rel"\r
\r
--outer-rel\r
Content-Type: text/html; charset=utf-8\r
\r
<p>Hi <img src="cid:logo@example.org"></p>\r
--outer-rel\r
Content-Type: image/png; name="logo.png"\r
Content-ID: <logo@example.org>\r
Content-Disposition: inline; filename="logo.png"\r
Content-Transfer-Encoding: base64\r
\r
iVBORw0KGgo=\r
--outer-rel--\r
--outer  \r
Content-Type: application/pdf\r
Content-Disposition: attachment;\r
 filename*0*=iso-8859-1''R%E9sum%E9%20;\r
 filename*1="2024.pdf"\r
\r
JVBERi0=\r
--outer\r
Content-Type: application/octet-stream; name="=?UTF-8?B?w7xiZXIudHh0?="\r
\r
data\r
--outer\r
Content-Type: text/plain\r
Content-Disposition: attachment\r
\r
an attachment without a name\r
--outer\r
Content-Type: image/jpeg\r
Content-Disposition: inline; filename="photo.jpg"\r
\r
/9j/\r
--outer\r
Content-Type: application/pdf; name*=utf-8''%E2%82%AC%00%07.pdf\r
\r
--outer--\r
epilogue\r
--outer\r
Content-Disposition: attachment; filename=after-the-end.txt\r
""",
)


def test_multipart_with_inline_image_and_attachments() -> None:
    meta = extract_metadata(MIXED)
    assert meta.attachment_names == ("Résumé 2024.pdf", "über.txt", "photo.jpg", "€.pdf")
    assert meta.has_attachments
    assert meta.warnings == ()
    assert_storable(meta)


def test_inline_image_alone_is_not_an_attachment() -> None:
    related = message(
        "From: a@example.org",
        "Date: Mon, 6 May 2024 10:59:58 +0200",
        "Content-Type: multipart/related; boundary=b",
        body=b"--b\r\nContent-Type: text/html\r\n\r\n<img src=cid:i>\r\n--b\r\n"
        b"Content-Type: image/png; name=i.png\r\nContent-ID: <i>\r\n\r\nxx\r\n--b--\r\n",
    )
    meta = extract_metadata(related)
    assert (meta.attachment_names, meta.has_attachments, meta.warnings) == ((), False, ())


def test_single_part_message_that_is_an_attachment() -> None:
    meta = extract_metadata(
        message("From: a@example.org", 'Content-Type: application/pdf; name="scan.pdf"', body=b"JVBERi0=")
    )
    assert meta.attachment_names == ("scan.pdf",)


def _forward(inner: bytes, *headers: str) -> bytes:
    return message(
        "From: a@example.org",
        "Date: Mon, 6 May 2024 10:59:58 +0200",
        "Subject: Fwd: things",
        "Content-Type: multipart/mixed; boundary=fwd",
        body=b"--fwd\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--fwd\r\n"
        + "\r\n".join(headers).encode()
        + b"\r\n\r\n"
        + inner
        + b"\r\n--fwd--\r\n",
    )


INNER = message(
    "From: b@example.org",
    "Subject: =?utf-8?q?Quartalsbericht_f=C3=BCr_Mai?=",
    "Content-Type: multipart/mixed; boundary=inner",
    body=b"--inner\r\nContent-Type: text/plain\r\n\r\nhi\r\n--inner\r\n"
    b"Content-Disposition: attachment; filename=inner.xlsx\r\n\r\nUEsDBA==\r\n--inner--\r\n",
)


@pytest.mark.parametrize(
    ("inner", "headers", "name"),
    [
        (INNER, ["Content-Type: message/rfc822"], "Quartalsbericht für Mai.eml"),
        (
            INNER,
            ["Content-Type: message/rfc822", 'Content-Disposition: attachment; filename="q.eml"'],
            "q.eml",
        ),
        (
            b"\r\n".join(base64.encodebytes(INNER).splitlines()),
            ["Content-Type: message/rfc822", "Content-Transfer-Encoding: base64"],
            "Quartalsbericht für Mai.eml",
        ),
        (
            b"Subject: caf=C3=A9 =\r\nau lait\r\n\r\nbody",
            ["Content-Type: message/rfc822", "Content-Transfer-Encoding: quoted-printable"],
            "café au lait.eml",
        ),
        (b"From: x@example.org\r\n\r\nno subject", ["Content-Type: message/rfc822"], "message.eml"),
        (b"", ["Content-Type: message/rfc822", "Content-Transfer-Encoding: base64"], "message.eml"),
    ],
)
def test_nested_message_is_one_attachment(inner: bytes, headers: list[str], name: str) -> None:
    meta = extract_metadata(_forward(inner, *headers))
    assert meta.attachment_names == (name,)
    assert meta.subject == "Fwd: things"
    assert meta.from_ == (Address("", "a@example.org"),)
    assert meta.warnings == ()


def test_digest_parts_default_to_messages() -> None:
    digest = message(
        "From: list@example.org",
        "Date: Mon, 6 May 2024 10:59:58 +0200",
        "Content-Type: multipart/digest; boundary=d",
        body=b"--d\r\n\r\nSubject: first\r\n\r\none\r\n--d\r\n\r\nSubject: second\r\n\r\ntwo\r\n--d--\r\n",
    )
    assert extract_metadata(digest).attachment_names == ("first.eml", "second.eml")


def _many_parts(count: int) -> bytes:
    parts = b"".join(
        b"--m\r\nContent-Disposition: attachment; filename=f%d.txt\r\n\r\n%d\r\n" % (i, i) for i in range(count)
    )
    return message(
        "From: a@example.org",
        "Date: Mon, 6 May 2024 10:59:58 +0200",
        "Content-Type: multipart/mixed; boundary=m",
        body=parts + b"--m--\r\n",
    )


def test_thousands_of_parts_stop_at_max_parts_with_a_warning() -> None:
    raw = _many_parts(5000)
    meta = extract_metadata(raw, max_parts=1000)
    # the multipart itself is the first of the 1000 parts examined
    assert meta.attachment_names == tuple(f"f{i}.txt" for i in range(999))
    assert meta.warnings == ("the message has more than 1000 MIME parts; the rest were not examined",)
    everything = extract_metadata(raw)
    assert len(everything.attachment_names) == 5000
    assert everything.warnings == ()


@pytest.mark.parametrize(
    ("content_type", "body", "names", "warning"),
    [
        ("multipart/mixed", b"--b\r\n\r\nx\r\n--b--\r\n", (), "has no boundary"),
        ("multipart/mixed; boundary=zzz", b"--b\r\n\r\nx\r\n--b--\r\n", (), "never occurs"),
        (
            "multipart/mixed; boundary=b",
            b"--b\r\nContent-Disposition: attachment; filename=cut.bin\r\n\r\nAAAA",
            ("cut.bin",),
            "no closing boundary",
        ),
        ("multipart/mixed; boundary=b", b"--b--\r\n", (), None),
        ("multipart/mixed; boundary=b", b"--b", (), "no closing boundary"),
        ("text/plain; name=", b"x", (), None),
        ("garbage", b"x", (), None),
        ("multipart/", b"x", (), "has no boundary"),
    ],
)
def test_broken_multiparts(content_type: str, body: bytes, names: tuple[str, ...], warning: str | None) -> None:
    meta = extract_metadata(
        message(
            "From: a@example.org",
            "Date: Mon, 6 May 2024 10:59:58 +0200",
            f"Content-Type: {content_type}",
            body=body,
        )
    )
    assert meta.attachment_names == names
    assert [w for w in meta.warnings if warning and warning in w] == list(meta.warnings)
    assert bool(meta.warnings) is (warning is not None)


def test_deep_nesting_stops_with_a_warning() -> None:
    depth = 60
    body = b"".join(b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i, i + 1) for i in range(depth))
    raw = message("From: a@example.org", "Content-Type: multipart/mixed; boundary=b0", body=body)
    meta = extract_metadata(raw)
    assert any("nested deeper than" in w for w in meta.warnings)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   \r\n\r\n",
        b"\x00" * 100,
        b"\xff\xfe\x00garbage\x80\x81",
        b"no headers at all, just text\n\nand more",
        b"\r\n\r\nbody only",
        b":\r\n:::\r\n\r\n",
        b"From \r\nSubject: after a bare From line\r\n\r\n",
        b"Subject: lone CR\rFrom: a@example.org\r\rbody",
        b"Subject: " + b"x" * 2_000_000,
        b"Content-Type: multipart/mixed; boundary=" + b"b" * 10_000 + b"\r\n\r\n--" + b"b" * 10_000,
        b"To: " + b"(" * 5000 + b"a@example.org",
        b'To: "' + b"\\" * 5001 + b"a@example.org",
        b"To: " + b"a@example.org, " * 5000,
        b"To: " + b"a@b," * 20000,
        b"To: " + b"a <" * 20000,
        b"To: " + b" " * 50000 + b"x",
        b"Subject: " + b"=?utf-8?q?" * 20000,
    ],
)
def test_garbage_never_raises(raw: bytes) -> None:
    meta = extract_metadata(raw)
    assert meta.size == len(raw)
    assert_storable(meta)


def test_empty_input() -> None:
    meta = extract_metadata(b"")
    assert meta.warnings == ("the message is empty",)
    assert (meta.subject, meta.from_, meta.date, meta.size) == ("", (), None, 0)


def test_nul_bytes_in_headers() -> None:
    raw = message(
        b"From: Ev\x00il <ev\x00il@example.org>",
        b"Subject: hello\x00world",
        b"Message-ID: <id\x00@example.org>",
        b"Date: Mon, 6 May 2024 10:59:58 +0200\x00",
        b'Content-Type: text/plain; name="a\x00.txt"',
    )
    meta = extract_metadata(raw)
    assert meta.subject == "helloworld"
    assert meta.message_id == "id@example.org"
    assert meta.attachment_names == ("a.txt",)
    assert meta.from_ and "\x00" not in meta.from_[0].address
    assert_storable(meta)


def test_a_header_name_with_a_nul_ends_the_header_section() -> None:
    meta = extract_metadata(b"Subject: kept\r\nX-\x00: y\r\nFrom: lost@example.org\r\n\r\n")
    assert meta.subject == "kept"
    assert "the message has no From header" in meta.warnings


def test_bytes_like_input_is_accepted_and_text_is_refused() -> None:
    assert extract_metadata(bytearray(TYPICAL)) == extract_metadata(memoryview(TYPICAL)) == extract_metadata(TYPICAL)
    with pytest.raises(TypeError):
        extract_metadata("From: a@example.org\r\n\r\n")  # type: ignore[arg-type]


def test_dict_round_trip_is_json() -> None:
    meta = extract_metadata(MIXED)
    record = meta.to_dict()
    assert record["from"] == [{"name": "", "address": "a@example.org"}]
    assert record["date"] == "2024-05-06T08:59:58+00:00"
    assert MessageMetadata.from_dict(json.loads(json.dumps(record))) == meta


@pytest.mark.parametrize(
    "change",
    [
        {"size": "12"},
        {"size": True},
        {"has_attachments": 1},
        {"date": "2024-05-06T08:59:58"},
        {"date": "not a date"},
        {"from": [{"name": "x"}]},
        {"sender": "a@example.org"},
        {"references": ["a", 1]},
        {"subject": None},
    ],
)
def test_from_dict_rejects_what_is_not_metadata(change: dict[str, Any]) -> None:
    record = {**extract_metadata(TYPICAL).to_dict(), **change}
    with pytest.raises(InvalidInput, match="metadata"):
        MessageMetadata.from_dict(record)
    with pytest.raises(InvalidInput):
        MessageMetadata.from_dict({"subject": "only"})


@pytest.mark.parametrize("data", [None, "a@example.org", {"name": "x"}, {"name": "x", "address": 1}])
def test_address_from_dict_rejects_what_is_not_an_address(data: Any) -> None:
    with pytest.raises(InvalidInput, match="address"):
        Address.from_dict(data)


# ---------------------------------------------------------------- properties

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.binary(max_size=2000))
def test_any_bytes(raw: bytes) -> None:
    meta = extract_metadata(raw)
    assert meta.size == len(raw)
    assert_storable(meta)


HEADER_NAMES = st.sampled_from(
    [
        "From", "To", "Cc", "Bcc", "Reply-To", "Sender", "Subject", "Date", "Message-ID", "In-Reply-To",
        "References", "Content-Type", "Content-Disposition", "Content-Transfer-Encoding", "Content-ID",
    ]
)  # fmt: skip
FRAGMENTS = st.sampled_from(
    [
        "=?utf-8?q?", "=?gb2312?b?", "?=", "<", ">", '"', "\\", "(", ")", ",", ";", ":", "@", "%", "''",
        "multipart/mixed", "message/rfc822", "boundary=", "b", "--", "filename*0*=", "attachment", "name=",
        "\r\n", "\n", " ", "\t", "\x00", "é", "\udcff", "中", "Mon, 6 May 2024 10:59:58", "+0200",
    ]
)  # fmt: skip
VALUES = st.lists(FRAGMENTS | st.text(max_size=5), max_size=12).map("".join)


@st.composite
def header_soup(draw: st.DrawFn) -> bytes:
    """Raw messages stitched from the pieces parsers trip over, in any charset and line ending."""
    eol = draw(st.sampled_from([b"\r\n", b"\n", b"\r"]))
    encoding = draw(st.sampled_from(["utf-8", "latin-1", "cp1252", "gb2312"]))
    headers = draw(st.lists(st.tuples(HEADER_NAMES | st.text(max_size=8), VALUES), max_size=8))
    lines = [f"{name}: {value}".encode(encoding, "surrogateescape" if encoding == "utf-8" else "replace")
             for name, value in headers]  # fmt: skip
    body = [v.encode("utf-8", "surrogateescape") for v in draw(st.lists(VALUES, max_size=6))]
    return eol.join([*lines, b"", *body])


@SETTINGS
@given(header_soup())
def test_header_soup(raw: bytes) -> None:
    assert_storable(extract_metadata(raw))


@SETTINGS
@given(st.booleans(), st.lists(st.tuples(HEADER_NAMES, st.text()), max_size=6), st.text(max_size=50))
def test_messages_built_with_the_email_library(modern: bool, headers: list[tuple[str, str]], body: str) -> None:
    """Both APIs: EmailMessage checks values as they are set, compat32's Message takes almost any."""
    msg = EmailMessage(policy=SMTP) if modern else Message()
    try:
        for name, value in headers:
            msg[name] = value
        msg.set_payload(body, "utf-8")
        raw = msg.as_bytes()
    except Exception:  # the library refuses many of these values itself; that is not our concern
        assume(False)
        raise
    assert_storable(extract_metadata(raw))


PRINTABLE = st.text(st.characters(blacklist_categories=["Cc", "Cs", "Zl", "Zp"]), max_size=60)


@SETTINGS
@given(PRINTABLE)
def test_subjects_round_trip_through_the_email_library(subject: str) -> None:
    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = subject
    assert extract_metadata(msg.as_bytes()).subject == " ".join(subject.split())


FILENAMES = PRINTABLE.map(lambda s: " ".join(s.split())).filter(bool)


MAILBOXES = st.tuples(PRINTABLE, st.from_regex(r"[A-Za-z0-9.+_-]{1,10}@[a-z0-9-]{1,10}\.[a-z]{2,4}", fullmatch=True))


@SETTINGS
@given(st.lists(MAILBOXES, min_size=1, max_size=5))
def test_address_lists_read_as_the_strict_parser_reads_them(mailboxes: list[tuple[str, str]]) -> None:
    """Well-formed lists take a fast path; it must agree with ``email.policy.default``."""
    try:
        value = ", ".join(str(HeaderAddress(name, addr_spec=addr)) for name, addr in mailboxes)
        strict = SMTP.header_factory("to", value)
    except Exception:
        assume(False)
        raise
    expected = [Address(" ".join(a.display_name.split()), a.addr_spec) for a in strict.addresses]
    meta = extract_metadata(message(f"To: {value}"))
    assert list(meta.to) == [a for a in expected if a.name or a.address]


SUBJECTS = PRINTABLE.map(lambda s: " ".join(s.split()))


@st.composite
def mime_trees(draw: st.DrawFn, depth: int = 0) -> tuple[EmailMessage, list[str]]:
    """A random MIME tree and the attachment names it holds, in document order."""
    msg = EmailMessage(policy=SMTP)
    msg.set_content(draw(st.text(max_size=20)))
    names: list[str] = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["file", "message", "nested"] if depth < 2 else ["file"]))
        if kind == "file":
            name = draw(FILENAMES)
            msg.add_attachment(draw(st.binary(max_size=30)), "application", "octet-stream", filename=name)
            names.append(name)
        elif kind == "message":
            inner, _ = draw(mime_trees(depth + 1))
            subject = draw(SUBJECTS)
            inner["Subject"] = subject
            msg.add_attachment(inner)
            names.append(f"{subject or 'message'}.eml")  # what the inner message holds is not listed
        else:
            child, child_names = draw(mime_trees(depth + 1))
            if msg.get_content_type() != "multipart/mixed":
                msg.make_mixed()
            msg.attach(child)
            names += child_names
    return msg, names


@settings(SETTINGS, max_examples=80)
@given(mime_trees())
def test_attachment_names_round_trip(tree: tuple[EmailMessage, list[str]]) -> None:
    msg, names = tree
    meta = extract_metadata(msg.as_bytes())
    assert list(meta.attachment_names) == names
    assert meta.has_attachments is bool(names)
