"""A message out of the archive as a file: its original bytes (``.eml``) or an Outlook ``.msg``.

The CLI (``postroom archive export``) and the API (``…/messages/{id}/download?format=``) both use
:func:`export_message`; file names follow the default location naming (``formats.naming``), so a
downloaded file is named like the file a connector would write for the same message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import func, select

from postroom.archive import repository as repo
from postroom.db.archive import FolderEntry, Message
from postroom.formats.naming import DEFAULT_TEMPLATE, MessageNameFacts, file_name
from postroom.runtime import Runtime


class ExportFormat(StrEnum):
    EML = "eml"
    MSG = "msg"

    @property
    def media_type(self) -> str:
        return "message/rfc822" if self is ExportFormat.EML else "application/vnd.ms-outlook"


@dataclass(frozen=True)
class ExportedMessage:
    data: bytes
    file_name: str  # the default location naming, e.g. "20261122T101530Z Quarterly report.msg"
    format: ExportFormat
    time: datetime | None  # the message time, for the file's modification time
    warnings: tuple[str, ...] = ()  # what the .msg conversion could not carry over exactly


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def export_message(runtime: Runtime, tenant_id: str, message_id: int, format: ExportFormat) -> ExportedMessage:
    """The message's bytes in ``format``; raises NotFound for another tenant's message."""
    with runtime.sessions() as session:
        message = repo.get_message(session, tenant_id, message_id)
        received = _aware(
            session.scalar(select(func.min(FolderEntry.internal_date)).where(FolderEntry.message_id == message.id))
        )
        facts = _facts(message, received)
    raw = runtime.blobs.get(tenant_id, facts.content_sha256)
    return convert_message(raw, facts, format)


def convert_message(raw: bytes, facts: MessageNameFacts, format: ExportFormat) -> ExportedMessage:
    """``raw`` as ``format``, named from ``facts``: the archived bytes untouched for EML."""
    name = file_name(DEFAULT_TEMPLATE, facts, f".{format.value}", max_path=None)
    when = facts.date or facts.received
    if format is ExportFormat.EML:
        return ExportedMessage(raw, name, format, when)
    from postroom.formats.msg.convert import msg_bytes  # the writer is only loaded when needed

    data, conversion = msg_bytes(raw, received=facts.received)
    return ExportedMessage(data, name, format, when, conversion.warnings)


def _facts(message: Message, received: datetime | None) -> MessageNameFacts:
    return MessageNameFacts(
        content_sha256=message.sha256,
        date=_aware(message.date),
        received=received or _aware(message.created_at),
        subject=message.subject,
        from_address=message.from_address,
        from_name=message.from_name,
        message_id=message.internet_message_id,
    )
