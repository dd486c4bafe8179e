"""Messages in the archive for the portal's tests: bytes in the blob store, the message row
(``postroom.testing.archive``'s way) and an entry in a mailbox folder, so the pages can browse them."""

from __future__ import annotations

import zlib
from email import policy
from email.message import EmailMessage

from postroom.archive.repository import folder_for, insert_messages, mailbox_for
from postroom.db.archive import FolderEntry
from postroom.domain.message import extract_metadata
from postroom.runtime import Runtime
from postroom.services.access import Actor, tenant_for

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082"
)


def tenant_id(runtime: Runtime, name: str = "alpha") -> str:
    with runtime.transaction() as session:
        return tenant_for(session, Actor.local_admin(), name).id


def archive_raw(
    runtime: Runtime, tenant: str, raw: bytes, *, mailbox: str = "anna@example.com", folder: str = "INBOX"
) -> int:
    """Archive ``raw`` in ``mailbox``'s ``folder`` (a path such as Projects/Surrey Court); its message ID."""
    ref = runtime.blobs.put(tenant, raw)
    with runtime.transaction() as session:
        ids = insert_messages(session, tenant, [(ref.sha256, ref.size, ref.stored_size, extract_metadata(raw))])
        box = mailbox_for(session, tenant, mailbox)
        target = folder_for(session, box.id, tuple(folder.split("/")))
        session.add(FolderEntry(folder_id=target.id, message_id=ids[ref.sha256], source_id=str(ids[ref.sha256])))
    return ids[ref.sha256]


def plain_mail(subject: str, day: int = 1, sender: str = "anna@example.com") -> bytes:
    return (
        f"From: Anna <{sender}>\r\nTo: bob@example.com\r\nSubject: {subject}\r\n"
        f"Date: {day:02d} Nov 2026 10:15:30 +0000\r\nMessage-ID: <{subject.replace(' ', '.')}@example.com>\r\n"
        f"\r\nAbout {subject}.\r\n"
    ).encode()


def html_mail(subject: str, html: str, *, text: str = "The plain text.", attachment_name: str = "") -> bytes:
    """multipart/alternative (text + related HTML with a cid: PNG), and an attachment if named."""
    message = EmailMessage()
    message["From"] = "Anna <anna@example.com>"
    message["To"] = "bob@example.com"
    message["Subject"] = subject
    message["Date"] = "Sun, 22 Nov 2026 10:15:30 +0000"
    message["Message-ID"] = f"<{zlib.crc32(subject.encode()):08x}@example.com>"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    message.get_payload()[1].add_related(PNG, "image", "png", cid="<logo@example.com>")
    if attachment_name:
        message.add_attachment(
            b"the attachment's bytes", maintype="application", subtype="pdf", filename=attachment_name
        )
    return message.as_bytes(policy=policy.SMTP)
