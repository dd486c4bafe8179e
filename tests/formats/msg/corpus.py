"""A corpus of varied RFC 5322 messages for the ``.msg`` writer, each with what its ``.msg`` must hold.

Every message is built here, with the stdlib ``email`` package or byte by byte where it has to be
malformed, and every expectation follows from how it was built — never from the converter's
output. Boundaries are fixed, so the corpus is the same bytes on every run.

Conventions the expectations rely on (the converter's documented rules):

* Text bodies compare with line ends normalised to ``\\n``.
* Attachments are listed in MIME order; an embedded message is listed by its display name (its
  file name without ``.eml``, else its subject) with the :class:`Expected` of the message inside.
* An unnamed attachment is called ``ATT00001`` + the extension of its type, numbered per message.
* ``hidden`` is true exactly when the HTML body refers to the part by ``cid:``.
"""

from __future__ import annotations

import base64
import hashlib
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email import encoders, policy
from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

RECEIVED = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
DATE = "Fri, 03 May 2024 14:15:16 +0200"
DATE_UTC = datetime(2024, 5, 3, 12, 15, 16, tzinfo=UTC)
ALICE = ("Alice Example", "alice@example.com")
BOB = ("Bob Example", "bob@example.org")
CAROL = ("Carol", "carol@example.net")

Mailbox = tuple[str, str]  # display name (may be ""), address


@dataclass(frozen=True)
class ExpectedAttachment:
    """An attachment by value (``sha256`` of its content) or an embedded ``message``."""

    name: str
    sha256: str = ""
    content_id: str = ""
    hidden: bool = False
    message: Expected | None = None


@dataclass(frozen=True)
class Expected:
    subject: str = ""
    sender: Mailbox | None = ALICE  # the From mailbox
    to: tuple[Mailbox, ...] = (BOB,)
    cc: tuple[Mailbox, ...] = ()
    bcc: tuple[Mailbox, ...] = ()
    date: datetime | None = DATE_UTC
    message_id: str = ""
    body: str | None = None
    html: str | None = None
    attachments: tuple[ExpectedAttachment, ...] = ()
    warnings: tuple[str, ...] = ()  # a substring of some warning, for each
    importance: int = 1
    on_behalf_of: Mailbox | None = None  # the Sender mailbox when it differs from From


@dataclass(frozen=True)
class Case:
    name: str
    raw: bytes
    expected: Expected
    received: datetime | None = RECEIVED
    tags: frozenset[str] = field(default_factory=frozenset)  # "slow-msgconvert": not given to msgconvert


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blob(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _address(mailbox: Mailbox) -> str:
    name, address = mailbox
    return f'"{name}" <{address}>' if name else address


def _message(subject: str | None = None, **headers: str) -> EmailMessage:
    """A message from Alice to Bob with a fixed Date and Message-ID, plus ``headers``."""
    message = EmailMessage()
    if subject is not None:
        message["Subject"] = subject
    message["From"] = _address(ALICE)
    message["To"] = _address(BOB)
    message["Date"] = DATE
    message["Message-ID"] = _mid(subject or "none")
    for name, value in headers.items():
        del message[name.replace("_", "-")]
        message[name.replace("_", "-")] = value
    return message


def _fixed(message: Message, linesep: str = "\n", smtputf8: bool = False) -> bytes:
    """The message's bytes with boundaries numbered instead of random."""
    for number, part in enumerate(message.walk()):
        if part.is_multipart():
            part.set_boundary(f"=_corpus_{number}")
    chosen = policy.SMTPUTF8 if smtputf8 else policy.default
    return message.as_bytes(policy=chosen.clone(linesep=linesep))


def _mid(subject: str) -> str:
    """The Message-ID the corpus gives a message with this subject."""
    return f"<{re.sub('[^a-z0-9]+', '-', subject.lower()).strip('-')}@corpus.postroom.test>"


PLAIN = "Hello Bob,\n\nthe quarterly numbers are attached.\n\nAlice\n"
HTML = '<html><body><p>Hello <b>Bob</b>,</p><p>see the logo: <img src="cid:logo@corpus"></p></body></html>\n'
PNG = bytes.fromhex("89504E470D0A1A0A0000000D49484452") + blob(1, 300)
PDF = b"%PDF-1.4\n" + blob(2, 2000)


# ---------------------------------------------------------------- simple bodies


def plain_only() -> Case:
    raw = _fixed(_with_text(_message("Plain only"), PLAIN))
    return Case("plain_only", raw, Expected("Plain only", message_id=_mid("Plain only"), body=PLAIN))


def _with_text(message: EmailMessage, text: str, **options: str) -> EmailMessage:
    message.set_content(text, **options)  # type: ignore[arg-type]
    return message


def html_only() -> Case:
    message = _message("HTML only")
    message.set_content(HTML, subtype="html")
    expected = Expected("HTML only", message_id=_mid("HTML only"), html=HTML)
    return Case("html_only", _fixed(message), expected)


def alternative() -> Case:
    message = _with_text(_message("Alternative"), PLAIN)
    message.add_alternative(HTML, subtype="html")
    return Case(
        "alternative", _fixed(message), Expected("Alternative", message_id=_mid("Alternative"), body=PLAIN, html=HTML)
    )


def related_inline_image() -> Case:
    message = _with_text(_message("Related"), PLAIN)
    message.add_alternative(HTML, subtype="html")
    html_part = message.get_payload()[1]  # type: ignore[index]
    assert isinstance(html_part, EmailMessage)
    html_part.add_related(PNG, "image", "png", cid="<logo@corpus>", filename="logo.png")
    message.add_attachment(PDF, "application", "pdf", filename="numbers.pdf")
    attachments = (
        ExpectedAttachment("logo.png", sha(PNG), content_id="logo@corpus", hidden=True),
        ExpectedAttachment("numbers.pdf", sha(PDF)),
    )
    expected = Expected("Related", message_id=_mid("Related"), body=PLAIN, html=HTML, attachments=attachments)
    return Case("related_inline_image", _fixed(message), expected)


def related_unnamed_image() -> Case:
    message = _message("Unnamed inline")
    message.set_content(HTML, subtype="html")
    message.add_related(PNG, "image", "png", cid="<logo@corpus>")
    attachments = (ExpectedAttachment("ATT00001.png", sha(PNG), content_id="logo@corpus", hidden=True),)
    expected = Expected("Unnamed inline", message_id=_mid("Unnamed inline"), html=HTML, attachments=attachments)
    return Case("related_unnamed_image", _fixed(message), expected)


def empty_body() -> Case:
    raw = (
        f"From: {_address(ALICE)}\nTo: {_address(BOB)}\nSubject: Empty\nDate: {DATE}\nMessage-ID: {_mid('Empty')}\n\n"
    ).encode()
    return Case("empty_body", raw, Expected("Empty", message_id=_mid("Empty")))


def headers_only() -> Case:
    raw = f"From: {_address(ALICE)}\r\nTo: {_address(BOB)}\r\nSubject: Headers only\r\nDate: {DATE}".encode()
    return Case("headers_only", raw, Expected("Headers only"))


def quoted_printable_body() -> Case:
    text = "Straße, Œuvre, naïve façade — " + "x" * 100 + " long line\n"
    message = _with_text(_message("QP body"), text, cte="quoted-printable")
    return Case("quoted_printable_body", _fixed(message), Expected("QP body", message_id=_mid("QP body"), body=text))


def base64_body() -> Case:
    text = "Привет, мир!\nこんにちは世界\n"
    message = _with_text(_message("Base64 body"), text, cte="base64")
    return Case("base64_body", _fixed(message), Expected("Base64 body", message_id=_mid("Base64 body"), body=text))


def eight_bit_body() -> Case:
    text = "Grüße aus Köln, 1 € und 東京\n"
    message = _with_text(_message("8bit body"), text, cte="8bit")
    return Case("eight_bit_body", _fixed(message), Expected("8bit body", message_id=_mid("8bit body"), body=text))


def crlf_line_ends() -> Case:
    message = _with_text(_message("CRLF"), PLAIN)
    message.add_attachment(b"line one\r\nline two\r\n", "application", "octet-stream", filename="lines.bin")
    attachments = (ExpectedAttachment("lines.bin", sha(b"line one\r\nline two\r\n")),)
    expected = Expected("CRLF", message_id=_mid("CRLF"), body=PLAIN, attachments=attachments)
    return Case("crlf_line_ends", _fixed(message, linesep="\r\n"), expected)


def html_meta_charset() -> Case:
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"></head>'
        "<body><p>Café crème, déjà vu</p></body></html>\n"
    )
    message = _message("Meta charset")
    message.set_content(html, subtype="html", charset="iso-8859-1")
    expected = Expected("Meta charset", message_id=_mid("Meta charset"), html=html.replace("iso-8859-1", "utf-8"))
    return Case("html_meta_charset", _fixed(message), expected)


# ---------------------------------------------------------------- attachments


def mixed_attachments() -> Case:
    message = _with_text(_message("Several attachments"), PLAIN)
    zipped = b"PK\x03\x04" + blob(3, 5000)
    message.add_attachment(PDF, "application", "pdf", filename="numbers.pdf")
    message.add_attachment(zipped, "application", "zip", filename="archive.zip")
    message.add_attachment("a,b\n1,2\n", subtype="csv", filename="table.csv")
    message.add_attachment(b"", "application", "octet-stream", filename="empty.bin")
    attachments = (
        ExpectedAttachment("numbers.pdf", sha(PDF)),
        ExpectedAttachment("archive.zip", sha(zipped)),
        ExpectedAttachment("table.csv", sha(b"a,b\n1,2\n")),
        ExpectedAttachment("empty.bin", sha(b"")),
    )
    expected = Expected(
        "Several attachments", message_id=_mid("Several attachments"), body=PLAIN, attachments=attachments
    )
    return Case("mixed_attachments", _fixed(message), expected)


def rfc2231_names() -> Case:
    names = ["Grüße \u2013 東京.pdf", "résumé (final).docx", "Отчёт.xlsx"]
    message = _with_text(_message("RFC 2231 names"), PLAIN)
    for index, name in enumerate(names):
        message.add_attachment(blob(10 + index, 100), "application", "octet-stream", filename=name)
    attachments = tuple(ExpectedAttachment(n, sha(blob(10 + i, 100))) for i, n in enumerate(names))
    expected = Expected("RFC 2231 names", message_id=_mid("RFC 2231 names"), body=PLAIN, attachments=attachments)
    return Case("rfc2231_names", _fixed(message), expected)


def rfc2047_names() -> Case:
    data = blob(20, 500)
    encoded = "=?utf-8?b?" + base64.b64encode("Ümlaut Übersicht.pdf".encode()).decode() + "?="
    body = base64.encodebytes(data).decode()
    raw = (
        f"From: {_address(ALICE)}\nTo: {_address(BOB)}\nSubject: RFC 2047 names\nDate: {DATE}\n"
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b1"\n\n'
        "--b1\nContent-Type: text/plain; charset=utf-8\n\n" + PLAIN + "\n--b1\n"
        f'Content-Type: application/pdf; name="{encoded}"\n'
        f'Content-Disposition: attachment; filename="{encoded}"\nContent-Transfer-Encoding: base64\n\n'
        f"{body}--b1--\n"
    ).encode()
    attachments = (ExpectedAttachment("Ümlaut Übersicht.pdf", sha(data)),)
    return Case("rfc2047_names", raw, Expected("RFC 2047 names", body=PLAIN, attachments=attachments))


def duplicate_and_path_names() -> Case:
    message = _with_text(_message("Duplicate names"), PLAIN)
    message.add_attachment(b"one", "application", "pdf", filename="report.pdf")
    message.add_attachment(b"two", "application", "pdf", filename="report.pdf")
    message.add_attachment(b"three", "application", "octet-stream", filename="C:\\Users\\me\\budget.xlsx")
    message.add_attachment(b"four", "application", "octet-stream", filename="../../etc/passwd")
    attachments = (
        ExpectedAttachment("report.pdf", sha(b"one")),
        ExpectedAttachment("report.pdf", sha(b"two")),
        ExpectedAttachment("budget.xlsx", sha(b"three")),
        ExpectedAttachment("passwd", sha(b"four")),
    )
    expected = Expected("Duplicate names", message_id=_mid("Duplicate names"), body=PLAIN, attachments=attachments)
    return Case("duplicate_and_path_names", _fixed(message), expected)


def inline_text_parts() -> Case:
    """Apple Mail style: text, an inline picture, more text. The second text becomes an attachment."""
    message = MIMEMultipart("mixed")
    _envelope(message, "Inline text parts")
    message.attach(MIMEText("part one\n", "plain", "utf-8"))
    photo = MIMEBase("image", "jpeg")
    photo.set_payload(blob(30, 800))
    _base64(photo)
    photo.add_header("Content-Disposition", "inline", filename="photo.jpg")
    message.attach(photo)
    message.attach(MIMEText("part two\n", "plain", "utf-8"))
    attachments = (
        ExpectedAttachment("photo.jpg", sha(blob(30, 800))),
        ExpectedAttachment("ATT00001.txt", sha(b"part two\n")),
    )
    return Case(
        "inline_text_parts", _fixed(message), Expected("Inline text parts", body="part one\n", attachments=attachments)
    )


def calendar_alternative() -> Case:
    ics = "BEGIN:VCALENDAR\nVERSION:2.0\nMETHOD:REQUEST\nEND:VCALENDAR\n"
    message = _with_text(_message("Invitation"), PLAIN)
    message.add_alternative(HTML, subtype="html")
    message.add_alternative(ics, subtype="calendar", params={"method": "REQUEST"})
    attachments = (ExpectedAttachment("ATT00001.ics", sha(ics.encode())),)
    expected = Expected("Invitation", message_id=_mid("Invitation"), body=PLAIN, html=HTML, attachments=attachments)
    return Case("calendar_alternative", _fixed(message), expected)


def signed() -> Case:
    inner = MIMEMultipart("alternative")
    inner.attach(MIMEText(PLAIN, "plain", "utf-8"))
    inner.attach(MIMEText(HTML, "html", "utf-8"))
    signature = MIMEBase("application", "pkcs7-signature", name="smime.p7s")
    signature.set_payload(blob(40, 600))
    _base64(signature)
    signature.add_header("Content-Disposition", "attachment", filename="smime.p7s")
    message = MIMEMultipart("signed", protocol="application/pkcs7-signature", micalg="sha-256")
    _envelope(message, "Signed")
    message.attach(inner)
    message.attach(signature)
    attachments = (ExpectedAttachment("smime.p7s", sha(blob(40, 600))),)
    return Case("signed", _fixed(message), Expected("Signed", body=PLAIN, html=HTML, attachments=attachments))


def large_attachment() -> Case:
    data = blob(50, 5 * 1024 * 1024)
    message = _with_text(_message("Large attachment"), PLAIN)
    message.add_attachment(data, "application", "octet-stream", filename="large.bin")
    attachments = (ExpectedAttachment("large.bin", sha(data)),)
    expected = Expected("Large attachment", message_id=_mid("Large attachment"), body=PLAIN, attachments=attachments)
    return Case("large_attachment", _fixed(message), expected)


def _many_parts(subject: str, count: int) -> tuple[bytes, Expected]:
    message = MIMEMultipart("mixed")
    _envelope(message, subject)
    message.attach(MIMEText(PLAIN, "plain", "utf-8"))
    attachments = []
    for index in range(1, count):
        file_name = f"part-{index:04d}.txt"
        part = MIMEText(f"part {index}\n", "plain", "us-ascii")
        part.add_header("Content-Disposition", "attachment", filename=file_name)
        message.attach(part)
        attachments.append(ExpectedAttachment(file_name, sha(f"part {index}\n".encode())))
    return _fixed(message), Expected(subject, body=PLAIN, attachments=tuple(attachments))


def thousands_of_parts() -> Case:
    """2,000 parts. msgconvert (Email::MIME) takes minutes over them, so it reads the smaller one below."""
    raw, expected = _many_parts("Thousands of parts", 2000)
    return Case("thousands_of_parts", raw, expected, tags=frozenset({"slow-msgconvert"}))


def hundreds_of_parts() -> Case:
    raw, expected = _many_parts("Hundreds of parts", 150)
    return Case("hundreds_of_parts", raw, expected)


def nested_multiparts() -> Case:
    """Multiparts ten deep; each level has one attachment before the next level."""
    top = MIMEMultipart("mixed")
    _envelope(top, "Deep multiparts")
    level = top
    attachments = []
    for depth in range(10):
        part = MIMEBase("application", "octet-stream")
        part.set_payload(blob(60 + depth, 64))
        _base64(part)
        part.add_header("Content-Disposition", "attachment", filename=f"level-{depth}.dat")
        level.attach(part)
        attachments.append(ExpectedAttachment(f"level-{depth}.dat", sha(blob(60 + depth, 64))))
        child = MIMEMultipart("mixed")
        level.attach(child)
        level = child
    level.attach(MIMEText("at the bottom\n", "plain", "utf-8"))
    return Case(
        "nested_multiparts",
        _fixed(top),
        Expected("Deep multiparts", body="at the bottom\n", attachments=tuple(attachments)),
    )


# ---------------------------------------------------------------- embedded messages


def _inner(subject: str, sender: Mailbox, text: str) -> tuple[EmailMessage, Expected]:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = _address(sender)
    message["To"] = _address(CAROL)
    message["Date"] = "Thu, 02 May 2024 08:00:00 +0000"
    message["Message-ID"] = _mid(subject)
    message.set_content(text)
    when = datetime(2024, 5, 2, 8, 0, 0, tzinfo=UTC)
    return message, Expected(subject, sender=sender, to=(CAROL,), date=when, message_id=_mid(subject), body=text)


def nested_messages() -> Case:
    """A message forwarding a message forwarding a message forwarding a message (three deep)."""
    level3, expected3 = _inner("Level three", CAROL, "deepest text\n")
    level3.add_attachment(b"deep data", "application", "octet-stream", filename="deep.bin")
    expected3 = _replace(expected3, attachments=(ExpectedAttachment("deep.bin", sha(b"deep data")),))
    level2, expected2 = _inner("Level two", BOB, "second text\n")
    level2.add_attachment(level3)
    expected2 = _replace(expected2, attachments=(ExpectedAttachment("Level three", message=expected3),))
    level1, expected1 = _inner("Level one", ALICE, "first text\n")
    level1.add_attachment(level2)
    expected1 = _replace(expected1, attachments=(ExpectedAttachment("Level two", message=expected2),))
    outer = _with_text(_message("Nested messages"), PLAIN)
    outer.add_attachment(level1, filename="forwarded.eml")
    attachments = (ExpectedAttachment("forwarded", message=expected1),)
    expected = Expected("Nested messages", message_id=_mid("Nested messages"), body=PLAIN, attachments=attachments)
    return Case("nested_messages", _fixed(outer), expected)


def digest() -> Case:
    """multipart/digest: its parts are messages without saying so."""
    items = [_inner(f"Digest item {n}", BOB, f"item {n} text\n") for n in (1, 2, 3)]
    parts = "".join(f"--d1\n\n{message.as_string(policy=policy.default)}\n" for message, _ in items)
    raw = (
        f"From: {_address(ALICE)}\nTo: {_address(BOB)}\nSubject: Digest\nDate: {DATE}\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="m1"\n\n--m1\nContent-Type: text/plain\n\n' + PLAIN + "\n--m1\n"
        'Content-Type: multipart/digest; boundary="d1"\n\n' + parts + "--d1--\n--m1--\n"
    ).encode()
    attachments = tuple(ExpectedAttachment(expected.subject, message=expected) for _, expected in items)
    return Case("digest", raw, Expected("Digest", body=PLAIN, attachments=attachments))


def _replace(expected: Expected, **changes: object) -> Expected:
    return replace(expected, **changes)  # type: ignore[arg-type]


# ---------------------------------------------------------------- headers


def non_ascii_encoded_words() -> Case:
    sender = ("Jürgen Müller", "juergen@example.de")
    to = (("Zoë Ångström", "zoe@example.se"), ("山田 太郎", "taro@example.jp"))
    message = EmailMessage()
    message["Subject"] = "Grüße aus Köln — 東京 📎"
    message["From"] = _address(sender)
    message["To"] = ", ".join(_address(m) for m in to)
    message["Date"] = DATE
    message.set_content(PLAIN)
    expected = Expected("Grüße aus Köln — 東京 📎", sender=sender, to=to, body=PLAIN)
    return Case("non_ascii_encoded_words", _fixed(message), expected)


def utf8_raw_headers() -> Case:
    sender = ("Jürgen Müller", "jürgen@exämple.de")
    message = EmailMessage(policy=policy.SMTPUTF8)
    message["Subject"] = "Grüße, raw UTF-8 ✓"
    message["From"] = _address(sender)
    message["To"] = _address(BOB)
    message["Date"] = DATE
    message.set_content(PLAIN)
    expected = Expected("Grüße, raw UTF-8 ✓", sender=sender, body=PLAIN)
    return Case("utf8_raw_headers", _fixed(message, smtputf8=True), expected)


def unknown_charsets() -> Case:
    """8-bit Latin-1 header bytes, an encoded word in an unknown charset, a body in one too."""
    raw = (
        b"From: J\xfcrgen <juergen@example.de>\nTo: bob@example.org\nSubject: caf\xe9 =?x-unknown?q?na=EFve?=\n"
        b"Date: " + DATE.encode() + b"\nMIME-Version: 1.0\nContent-Type: text/plain; charset=x-foo\n"
        b"Content-Transfer-Encoding: 8bit\n\nGr\xfc\xdfe\n"
    )
    expected = Expected(
        "café naïve",
        sender=("Jürgen", "juergen@example.de"),
        to=(("", "bob@example.org"),),
        body="Grüße\n",
        warnings=("8-bit bytes that are not UTF-8", "unknown charset 'x-unknown'", "unknown charset 'x-foo'"),
    )
    return Case("unknown_charsets", raw, expected)


def many_recipients() -> Case:
    to = [(f"To Person {n}", f"to{n}@example.com") for n in range(50)]
    team = [("", f"team{n}@example.com") for n in range(5)]
    cc = [(f"Cc Person {n}", f"cc{n}@example.com") for n in range(30)]
    bcc = [("", f"bcc{n}@example.com") for n in range(10)]
    to_header = ", ".join(_address(m) for m in to) + ", Team: " + ", ".join(a for _, a in team) + ";"
    raw = (
        f"From: {_address(ALICE)}\nTo: {to_header}, undisclosed-recipients:;\n"
        f"Cc: {', '.join(_address(m) for m in cc)}\n"
        f"Bcc: {', '.join(a for _, a in bcc)}\nReply-To: Replies <replies@example.com>\nSubject: Many recipients\n"
        f"Date: {DATE}\n\n{PLAIN}"
    ).encode()
    expected = Expected("Many recipients", to=tuple(to + team), cc=tuple(cc), bcc=tuple(bcc), body=PLAIN)
    return Case("many_recipients", raw, expected)


def high_priority() -> Case:
    message = _with_text(_message("Urgent", X_Priority="1 (Highest)"), PLAIN)
    return Case(
        "high_priority", _fixed(message), Expected("Urgent", message_id=_mid("Urgent"), body=PLAIN, importance=2)
    )


def sent_on_behalf() -> Case:
    assistant = ("Assistant", "assistant@example.com")
    message = _with_text(_message("On behalf", Sender=_address(assistant)), PLAIN)
    expected = Expected("On behalf", message_id=_mid("On behalf"), body=PLAIN, on_behalf_of=assistant)
    return Case("sent_on_behalf", _fixed(message), expected)


def reply_prefix() -> Case:
    message = _with_text(_message("Re: AW: Budget", In_Reply_To="<x@y>", References="<w@y> <x@y>"), PLAIN)
    return Case(
        "reply_prefix", _fixed(message), Expected("Re: AW: Budget", message_id=_mid("Re: AW: Budget"), body=PLAIN)
    )


def no_date() -> Case:
    message = _with_text(_message("No date"), PLAIN)
    del message["Date"]
    expected = Expected("No date", message_id=_mid("No date"), body=PLAIN, date=RECEIVED, warnings=("no Date header",))
    return Case("no_date", _fixed(message), expected)


def no_date_no_received() -> Case:
    message = _with_text(_message("Undated"), PLAIN)
    del message["Date"]
    expected = Expected("Undated", message_id=_mid("Undated"), body=PLAIN, date=None, warnings=("no Date header",))
    return Case("no_date_no_received", _fixed(message), expected, received=None)


def no_from() -> Case:
    message = _with_text(_message("No from"), PLAIN)
    del message["From"]
    expected = Expected("No from", sender=None, message_id=_mid("No from"), body=PLAIN, warnings=("no From header",))
    return Case("no_from", _fixed(message), expected)


def no_subject() -> Case:
    message = _with_text(_message(None), PLAIN)
    return Case("no_subject", _fixed(message), Expected("", message_id=_mid("none"), body=PLAIN))


def folded_long_headers() -> Case:
    subject = "A rather long subject line " * 8
    message = _with_text(_message(subject.strip()), PLAIN)
    return Case(
        "folded_long_headers", _fixed(message), Expected(subject.strip(), message_id=_mid(subject.strip()), body=PLAIN)
    )


# ---------------------------------------------------------------- malformed


def _envelope(message: Message, subject: str) -> None:
    message["From"] = _address(ALICE)
    message["To"] = _address(BOB)
    message["Subject"] = subject
    message["Date"] = DATE


def _base64(part: Message) -> None:
    encoders.encode_base64(part)


def missing_closing_boundary() -> Case:
    data = blob(70, 300)
    raw = (
        f"From: {_address(ALICE)}\nTo: {_address(BOB)}\nSubject: Cut short\nDate: {DATE}\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="cut"\n\n--cut\nContent-Type: text/plain\n\n' + PLAIN + "\n--cut\n"
        'Content-Type: application/octet-stream\nContent-Disposition: attachment; filename="cut.bin"\n'
        "Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(data).decode()
    ).encode()
    attachments = (ExpectedAttachment("cut.bin", sha(data)),)
    return Case(
        "missing_closing_boundary",
        raw,
        Expected("Cut short", body=PLAIN, attachments=attachments, warnings=("no closing boundary",)),
    )


def boundary_never_occurs() -> Case:
    raw = (
        f"From: {_address(ALICE)}\nTo: {_address(BOB)}\nSubject: No boundary\nDate: {DATE}\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="nowhere"\n\n' + PLAIN
    ).encode()
    return Case("boundary_never_occurs", raw, Expected("No boundary", body=PLAIN, warnings=("never occurs",)))


def bad_base64() -> Case:
    data = blob(80, 12)
    damaged = base64.b64encode(data)[:-1]  # 15 characters: the last byte cannot be decoded
    raw = (
        f"From: {_address(ALICE)}\nTo: {_address(BOB)}\nSubject: Bad base64\nDate: {DATE}\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\n' + PLAIN + "\n--b\n"
        'Content-Type: application/octet-stream; name="bad.bin"\nContent-Transfer-Encoding: base64\n\n'
        + damaged.decode()
        + "\n--b--\n"
    ).encode()
    attachments = (ExpectedAttachment("bad.bin", sha(data[:11])),)
    return Case(
        "bad_base64", raw, Expected("Bad base64", body=PLAIN, attachments=attachments, warnings=("base64 is damaged",))
    )


def binary_garbage() -> Case:
    raw = bytes(range(256)) * 4
    expected = Expected("", sender=None, to=(), date=RECEIVED, warnings=("no header section", "no Date header"))
    return Case("binary_garbage", raw, expected)


def empty_message() -> Case:
    expected = Expected("", sender=None, to=(), date=RECEIVED, warnings=("the message is empty",))
    return Case("empty_message", b"", expected)


BUILDERS: tuple[Callable[[], Case], ...] = (
    plain_only,
    html_only,
    alternative,
    related_inline_image,
    related_unnamed_image,
    empty_body,
    headers_only,
    quoted_printable_body,
    base64_body,
    eight_bit_body,
    crlf_line_ends,
    html_meta_charset,
    mixed_attachments,
    rfc2231_names,
    rfc2047_names,
    duplicate_and_path_names,
    inline_text_parts,
    calendar_alternative,
    signed,
    large_attachment,
    thousands_of_parts,
    hundreds_of_parts,
    nested_multiparts,
    nested_messages,
    digest,
    non_ascii_encoded_words,
    utf8_raw_headers,
    unknown_charsets,
    many_recipients,
    high_priority,
    sent_on_behalf,
    reply_prefix,
    no_date,
    no_date_no_received,
    no_from,
    no_subject,
    folded_long_headers,
    missing_closing_boundary,
    boundary_never_occurs,
    bad_base64,
    binary_garbage,
    empty_message,
)


def corpus() -> Iterator[Case]:
    for build in BUILDERS:
        yield build()
