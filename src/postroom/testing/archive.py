"""Archived messages for tests, without a mail server: bytes into the blob store, rows into the archive."""

from __future__ import annotations

import zlib

from postroom.archive.repository import insert_messages
from postroom.domain.message import extract_metadata
from postroom.runtime import Runtime


def raw_message(subject: str, sender: str = "anna@example.com") -> bytes:
    return (
        f"From: Anna <{sender}>\r\nTo: bob@example.com\r\nSubject: {subject}\r\n"
        f"Date: Sun, 22 Nov 2026 10:15:30 +0000\r\nMessage-ID: <{zlib.crc32(subject.encode()):08x}@example.com>\r\n"
        f"\r\nAbout {subject}.\r\n"
    ).encode()


def archive_messages(runtime: Runtime, tenant_id: str, *subjects: str) -> list[int]:
    """Archive one message per subject (its blob and its row); their message IDs, in order."""
    items = []
    for subject in subjects:
        raw = raw_message(subject)
        ref = runtime.blobs.put(tenant_id, raw)
        items.append((ref.sha256, ref.size, ref.stored_size, extract_metadata(raw)))
    with runtime.transaction() as session:
        ids = insert_messages(session, tenant_id, items)
    return [ids[sha] for sha, *_rest in items]
