"""Archive tables: mailboxes, their folder trees, messages (content, once per tenant) and the
entries that list a message in a folder, plus the per-folder sync cursors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from postroom.db.models import Base
from postroom.db.types import utcnow

# Big tables get 64-bit keys on PostgreSQL; SQLite's rowid is already 64-bit and must be INTEGER.
BigId = BigInteger().with_variant(Integer, "sqlite")


class ArchiveMailbox(Base):
    """One person's (or a shared) mailbox in the archive, named by its primary address."""

    __tablename__ = "archive_mailboxes"
    __table_args__ = (UniqueConstraint("tenant_id", "address_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(254))
    address_key: Mapped[str] = mapped_column(String(254))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ArchiveFolder(Base):
    """A folder of an archive mailbox; ``path`` is the full display path joined with '/'."""

    __tablename__ = "archive_folders"
    __table_args__ = (UniqueConstraint("mailbox_id", "path"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("archive_mailboxes.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("archive_folders.id", ondelete="CASCADE"), default=None)
    name: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(String(2000))
    special_use: Mapped[str | None] = mapped_column(String(20), default=None)
    source_deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Message(Base):
    """A message's content: stored once per tenant, addressed by the SHA-256 of its exact bytes."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("tenant_id", "sha256"),
        Index("ix_messages_tenant_internet_message_id", "tenant_id", "internet_message_id"),
        Index("ix_messages_tenant_date", "tenant_id", "date"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    stored_size: Mapped[int] = mapped_column(BigInteger)
    subject: Mapped[str] = mapped_column(Text, default="")
    from_address: Mapped[str] = mapped_column(String(320), default="")
    from_name: Mapped[str] = mapped_column(String(320), default="")
    recipients: Mapped[str] = mapped_column(Text, default="")  # To and Cc addresses, for search
    date: Mapped[datetime | None] = mapped_column(default=None)
    internet_message_id: Mapped[str | None] = mapped_column(String(998), default=None)
    has_attachments: Mapped[bool] = mapped_column(Boolean, default=False)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the full extracted metadata
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FolderEntry(Base):
    """A message listed in an archive folder, with what the source said about it there."""

    __tablename__ = "folder_entries"
    __table_args__ = (
        UniqueConstraint("folder_id", "source_id"),
        Index("ix_folder_entries_message", "message_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    folder_id: Mapped[int] = mapped_column(ForeignKey("archive_folders.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="RESTRICT"))
    source_id: Mapped[str | None] = mapped_column(String(200), default=None)  # IMAP UID in the current epoch
    flags: Mapped[list[str]] = mapped_column(default=list)
    internal_date: Mapped[datetime | None] = mapped_column(default=None)
    recognition: Mapped[str | None] = mapped_column(String(1100), default=None, index=True)
    archived_at: Mapped[datetime] = mapped_column(default=utcnow)
    vanished_at: Mapped[datetime | None] = mapped_column(default=None)  # gone from the source folder
    deleted_in_source_at: Mapped[datetime | None] = mapped_column(default=None)  # removed by the policy


class SyncFolderState(Base):
    """Where a profile's sync of one source folder stands: the source's cursor, stored after commit."""

    __tablename__ = "sync_folder_states"
    __table_args__ = (UniqueConstraint("profile_id", "mailbox_id", "source_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    profile_id: Mapped[str] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"), index=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("archive_mailboxes.id", ondelete="CASCADE"))
    folder_id: Mapped[int] = mapped_column(ForeignKey("archive_folders.id", ondelete="CASCADE"))
    source_key: Mapped[str] = mapped_column(String(1000))
    identity: Mapped[str | None] = mapped_column(String(200), default=None)
    cursor: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
