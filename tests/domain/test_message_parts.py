"""Reading a message for showing it: bodies, attachments, inline images, safe names; never failing."""

from __future__ import annotations

import base64
import re
from email import policy
from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postroom.domain.message_parts import MAX_INLINE_BYTES, parse_parts, safe_file_name

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def mail() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Anna <anna@example.com>"
    message["Subject"] = "Plans"
    message.set_content("Plain text é")
    message.add_alternative('<p>Hi <img src="cid:logo@x"> <img src="CID:&lt;nope&gt;"></p>', subtype="html")
    message.get_payload()[1].add_related(PNG, "image", "png", cid="<Logo@X>")
    return message


def test_bodies_inline_images_and_attachments() -> None:
    message = mail()
    message.add_attachment(b"%PDF-1.7", maintype="application", subtype="pdf", filename="Plan.pdf")
    inner = EmailMessage()
    inner["Subject"] = "Forwarded"
    inner.set_content("inside")
    message.add_attachment(inner)
    parts = parse_parts(message.as_bytes(policy=policy.SMTP))
    assert parts.text == "Plain text é\r\n"
    assert parts.html is not None and "cid:logo@x" in parts.html
    assert parts.headers.startswith("From: Anna <anna@example.com>")
    assert [(a.name, a.content_type, a.size) for a in parts.attachments] == [
        ("Plan.pdf", "application/pdf", 8),
        ("Forwarded.eml", "message/rfc822", parts.attachments[1].size),
    ]
    assert parts.part_bytes(parts.attachments[0].index) == b"%PDF-1.7"
    assert b"inside" in (parts.part_bytes(parts.attachments[1].index) or b"")
    assert parts.part_bytes(0) is None and parts.part_bytes(99) is None
    html = parts.inline_html()
    assert html is not None
    inline = re.search(r'src="data:image/png;base64,([^"]+)"', html)
    assert inline and base64.b64decode(inline[1]) == PNG  # Content-IDs compare without case and brackets
    assert 'src="CID:&lt;nope&gt;"' in html  # an unknown cid: stays (and shows nothing)


def test_only_raster_images_within_the_budget_are_inlined(monkeypatch: pytest.MonkeyPatch) -> None:
    message = mail()
    related = message.get_payload()[1]
    related.set_payload([related.get_payload()[0]])  # drop the PNG
    related.add_related(b"<svg onload='x()'/>", "image", "svg+xml", cid="<logo@x>")
    assert "cid:logo@x" in (parse_parts(message.as_bytes()).inline_html() or "")
    monkeypatch.setattr("postroom.domain.message_parts.MAX_INLINE_BYTES", 4)
    assert "cid:logo@x" in (parse_parts(mail().as_bytes()).inline_html() or "")
    assert MAX_INLINE_BYTES > 1024


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("Plan.pdf", "Plan.pdf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\boot.ini", "boot.ini"),
        ('a"b<c>d|e?.txt', "a_b_c_d_e_.txt"),
        ("line\r\nbreak.txt", "line__break.txt"),
        ("...", "attachment"),
        ("", "attachment"),
        ("x" * 300 + ".pdf", "x" * 196 + ".pdf"),
    ],
)
def test_safe_file_names(name: str, safe: str) -> None:
    assert safe_file_name(name) == safe


def test_a_message_without_html_or_with_broken_charset() -> None:
    raw = b"Subject: x\r\nContent-Type: text/plain; charset=no-such-charset\r\n\r\ncaf\xe9\r\n"
    parts = parse_parts(raw)
    assert parts.html is None and parts.text == "caf\ufffd\r\n"
    assert any("no-such-charset" in w for w in parts.warnings)


@given(st.text(max_size=300))
def test_safe_names_have_no_folders_or_forbidden_characters(name: str) -> None:
    safe = safe_file_name(name)
    assert safe and len(safe) <= 200 and safe.strip(".")
    assert not set(safe) & set('/\\:*?"<>|') and all(ord(c) >= 0x20 and c != "\x7f" for c in safe)


@given(st.binary(max_size=2000))
def test_any_bytes_are_read_without_an_error(raw: bytes) -> None:
    parts = parse_parts(raw)
    parts.inline_html()
    for attachment in parts.attachments:
        parts.part_bytes(attachment.index)
