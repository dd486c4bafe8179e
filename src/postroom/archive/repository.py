"""Archive storage operations on the database: mailboxes, folder trees, messages and entries.

Message bytes live in the blob store; this module keeps what points at them. Callers pass the
session and own the transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from postroom.db.archive import ArchiveFolder, ArchiveMailbox, FolderEntry, Message
from postroom.db.types import utcnow
from postroom.db.upsert import insert_ignoring_conflicts
from postroom.domain.message import MessageMetadata
from postroom.domain.naming import name_key
from postroom.errors import NotFound

PATH_SEPARATOR = "/"


def mailbox_for(session: Session, tenant_id: str, address: str, display_name: str = "") -> ArchiveMailbox:
    """The archive mailbox for ``address``, created on first use."""
    key = name_key(address.strip())
    mailbox = session.scalar(
        select(ArchiveMailbox).where(ArchiveMailbox.tenant_id == tenant_id, ArchiveMailbox.address_key == key)
    )
    if mailbox is None:
        mailbox = ArchiveMailbox(
            tenant_id=tenant_id, address=address.strip(), address_key=key, display_name=display_name
        )
        session.add(mailbox)
        session.flush()
    return mailbox


def join_path(parts: tuple[str, ...]) -> str:
    """Folder names may contain '/'; it is shown as the Unicode division slash inside a name."""
    return PATH_SEPARATOR.join(part.replace(PATH_SEPARATOR, "\u2215") for part in parts)


def folder_for(
    session: Session, mailbox_id: int, parts: tuple[str, ...], special_use: str | None = None
) -> ArchiveFolder:
    """The archive folder at ``parts``, creating it and any missing parents; un-marks a folder
    that had been deleted at the source and has come back."""
    parent: ArchiveFolder | None = None
    for depth in range(1, len(parts) + 1):
        path = join_path(parts[:depth])
        folder = session.scalar(
            select(ArchiveFolder).where(ArchiveFolder.mailbox_id == mailbox_id, ArchiveFolder.path == path)
        )
        if folder is None:
            folder = ArchiveFolder(
                mailbox_id=mailbox_id,
                parent_id=parent.id if parent else None,
                name=parts[depth - 1],
                path=path,
            )
            session.add(folder)
            session.flush()
        parent = folder
    assert parent is not None
    if special_use and parent.special_use != special_use:
        parent.special_use = special_use
    if parent.source_deleted_at is not None:
        parent.source_deleted_at = None
    return parent


def rename_folder(session: Session, folder: ArchiveFolder, new_parts: tuple[str, ...]) -> ArchiveFolder:
    """Move a folder (and everything under it) to a new path, keeping its messages."""
    old_path = folder.path
    new_path = join_path(new_parts)
    if new_path == old_path:
        return folder
    parent = folder_for(session, folder.mailbox_id, new_parts[:-1]) if len(new_parts) > 1 else None
    clash = session.scalar(
        select(ArchiveFolder).where(ArchiveFolder.mailbox_id == folder.mailbox_id, ArchiveFolder.path == new_path)
    )
    if clash is not None and clash.id != folder.id:
        # an empty placeholder (created as a parent) gives way; a real one keeps its name
        session.execute(update(ArchiveFolder).where(ArchiveFolder.parent_id == clash.id).values(parent_id=folder.id))
        session.execute(update(FolderEntry).where(FolderEntry.folder_id == clash.id).values(folder_id=folder.id))
        session.delete(clash)
        session.flush()
    descendants = session.scalars(
        select(ArchiveFolder).where(
            ArchiveFolder.mailbox_id == folder.mailbox_id,
            ArchiveFolder.path.startswith(old_path + PATH_SEPARATOR),
        )
    ).all()
    folder.path, folder.name, folder.parent_id = new_path, new_parts[-1], parent.id if parent else None
    for child in descendants:
        child.path = new_path + child.path[len(old_path) :]
    session.flush()
    return folder


def insert_messages(
    session: Session, tenant_id: str, items: list[tuple[str, int, int, MessageMetadata]]
) -> dict[str, int]:
    """The ids of messages with these contents (sha256, size, stored size, metadata), inserting
    those the tenant does not have yet, in three statements for the whole batch.

    Safe when several workers archive the same content at once: the insert is ``ON CONFLICT DO
    NOTHING`` on (tenant, sha256), then the rows are read back.
    """
    shas = list(dict.fromkeys(sha for sha, *_rest in items))
    by_sha = _message_ids(session, tenant_id, shas)
    new: dict[str, dict[str, Any]] = {}
    for sha256, size, stored_size, meta in items:
        if sha256 not in by_sha and sha256 not in new:
            new[sha256] = _message_values(tenant_id, sha256, size, stored_size, meta)
    if new:
        statement = insert_ignoring_conflicts(session, Message, ["tenant_id", "sha256"])
        session.execute(statement, list(new.values()))
        by_sha.update(_message_ids(session, tenant_id, list(new)))
    return by_sha


def _message_ids(session: Session, tenant_id: str, shas: list[str]) -> dict[str, int]:
    if not shas:
        return {}
    rows = session.execute(
        select(Message.sha256, Message.id).where(Message.tenant_id == tenant_id, Message.sha256.in_(shas))
    ).all()
    return {row[0]: row[1] for row in rows}


def _message_values(tenant_id: str, sha256: str, size: int, stored_size: int, meta: MessageMetadata) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "sha256": sha256,
        "size": size,
        "stored_size": stored_size,
        "subject": meta.subject[:10000],
        "from_address": meta.from_[0].address[:320] if meta.from_ else "",
        "from_name": meta.from_[0].name[:320] if meta.from_ else "",
        "recipients": " ".join(a.address for a in (*meta.to, *meta.cc))[:20000],
        "date": meta.date,
        "internet_message_id": meta.message_id[:998] if meta.message_id else None,
        "has_attachments": meta.has_attachments,
        "details": meta.to_dict(),
        "created_at": utcnow(),
    }


def recognition_text(message_id: str | None, size: int | None, internal_date: datetime | None) -> str | None:
    """The stored form of ``RemoteMessage.recognition_key``: Message-ID, size and internal date."""
    if not message_id or size is None or internal_date is None:
        return None
    return f"{size}|{internal_date.timestamp():.0f}|{message_id}"[:1100]


def list_mailboxes(session: Session, tenant_id: str) -> list[dict[str, Any]]:
    rows = session.execute(
        select(ArchiveMailbox, func.count(FolderEntry.id))
        .outerjoin(ArchiveFolder, ArchiveFolder.mailbox_id == ArchiveMailbox.id)
        .outerjoin(FolderEntry, FolderEntry.folder_id == ArchiveFolder.id)
        .where(ArchiveMailbox.tenant_id == tenant_id)
        .group_by(ArchiveMailbox.id)
        .order_by(ArchiveMailbox.address_key)
    ).all()
    return [{"id": m.id, "address": m.address, "display_name": m.display_name, "messages": count} for m, count in rows]


def get_mailbox(session: Session, tenant_id: str, key: str) -> ArchiveMailbox:
    key = key.strip()
    clause = ArchiveMailbox.address_key == name_key(key)
    if key.isdigit() and len(key) < 19:  # an ID (64-bit), not a huge number
        clause = clause | (ArchiveMailbox.id == int(key))
    mailbox = session.scalar(select(ArchiveMailbox).where(ArchiveMailbox.tenant_id == tenant_id, clause))
    if mailbox is None:
        raise NotFound("archive mailbox", key)
    return mailbox


def list_folders(session: Session, mailbox: ArchiveMailbox) -> list[dict[str, Any]]:
    rows = session.execute(
        select(ArchiveFolder, func.count(FolderEntry.id))
        .outerjoin(FolderEntry, FolderEntry.folder_id == ArchiveFolder.id)
        .where(ArchiveFolder.mailbox_id == mailbox.id)
        .group_by(ArchiveFolder.id)
        .order_by(ArchiveFolder.path)
    ).all()
    return [
        {
            "id": f.id,
            "path": f.path,
            "special_use": f.special_use,
            "deleted_at_source": f.source_deleted_at.isoformat() if f.source_deleted_at else None,
            "messages": count,
        }
        for f, count in rows
    ]


def get_folder(session: Session, mailbox: ArchiveMailbox, key: str) -> ArchiveFolder:
    key = key.strip().strip(PATH_SEPARATOR)
    clause = ArchiveFolder.path == key
    if key.isdigit() and len(key) < 19:
        clause = clause | (ArchiveFolder.id == int(key))
    folder = session.scalar(select(ArchiveFolder).where(ArchiveFolder.mailbox_id == mailbox.id, clause))
    if folder is None:
        raise NotFound("folder", key)
    return folder


def list_messages(session: Session, folder: ArchiveFolder, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    rows = session.execute(
        select(FolderEntry, Message)
        .join(Message, Message.id == FolderEntry.message_id)
        .where(FolderEntry.folder_id == folder.id)
        .order_by(Message.date.desc(), FolderEntry.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return [entry_to_dict(entry, message) for entry, message in rows]


def entry_to_dict(entry: FolderEntry, message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "entry_id": entry.id,
        "sha256": message.sha256,
        "subject": message.subject,
        "from": message.from_address,
        "from_name": message.from_name,
        "date": message.date.isoformat() if message.date else None,
        "size": message.size,
        "flags": list(entry.flags),
        "internal_date": entry.internal_date.isoformat() if entry.internal_date else None,
        "has_attachments": message.has_attachments,
        "vanished_at_source": entry.vanished_at.isoformat() if entry.vanished_at else None,
        "deleted_in_source_at": entry.deleted_in_source_at.isoformat() if entry.deleted_in_source_at else None,
    }


def get_message(session: Session, tenant_id: str, message_id: int) -> Message:
    message = session.get(Message, message_id) if 0 < message_id < 2**63 else None
    if message is None or message.tenant_id != tenant_id:
        raise NotFound("message", str(message_id))
    return message


def message_to_dict(session: Session, message: Message) -> dict[str, Any]:
    """A message's metadata and every folder it is listed in."""
    places = session.execute(
        select(ArchiveFolder.path, ArchiveMailbox.address, FolderEntry)
        .join(ArchiveFolder, ArchiveFolder.id == FolderEntry.folder_id)
        .join(ArchiveMailbox, ArchiveMailbox.id == ArchiveFolder.mailbox_id)
        .where(FolderEntry.message_id == message.id)
        .order_by(ArchiveMailbox.address, ArchiveFolder.path)
    ).all()
    return {
        "id": message.id,
        "sha256": message.sha256,
        "size": message.size,
        "stored_size": message.stored_size,
        "subject": message.subject,
        "from": message.from_address,
        "from_name": message.from_name,
        "date": message.date.isoformat() if message.date else None,
        "internet_message_id": message.internet_message_id,
        "has_attachments": message.has_attachments,
        "archived_at": message.created_at.isoformat(),
        "metadata": message.details,
        "folders": [
            {
                "mailbox": address,
                "folder": path,
                "flags": list(entry.flags),
                "vanished_at_source": entry.vanished_at.isoformat() if entry.vanished_at else None,
                "deleted_in_source_at": entry.deleted_in_source_at.isoformat() if entry.deleted_in_source_at else None,
            }
            for path, address, entry in places
        ],
    }
