"""An archived message as a person reads it: its metadata, folders, bodies and attachments.

The portal's message page uses :func:`read_message`; an API route for the same would call it too.
The bytes come from the blob store exactly as archived and are parsed only for showing
(``domain/message_parts.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from postroom.archive import repository as repo
from postroom.domain.message_parts import Attachment, MessageParts, parse_parts
from postroom.errors import NotFound
from postroom.runtime import Runtime


@dataclass(frozen=True)
class MessageView:
    message: dict[str, Any]  # repository.message_to_dict: metadata and the folders it is in
    parts: MessageParts


def parse_message_id(key: str) -> int:
    """A message ID from a URL; NotFound (not a validation error) for anything else."""
    key = key.strip()
    if not key.isdigit() or len(key) > 18 or int(key) < 1:
        raise NotFound("message", key)
    return int(key)


def read_message(runtime: Runtime, tenant_id: str, message_id: int) -> MessageView:
    """The tenant's message; NotFound for another tenant's or a missing one."""
    with runtime.sessions() as session:
        message = repo.get_message(session, tenant_id, message_id)
        data = repo.message_to_dict(session, message)
    raw = runtime.blobs.get(tenant_id, data["sha256"])
    return MessageView(data, parse_parts(raw))


def read_attachment(runtime: Runtime, tenant_id: str, message_id: int, index: int) -> tuple[Attachment, bytes]:
    """One attachment of the tenant's message and its decoded bytes; NotFound if there is none."""
    view = read_message(runtime, tenant_id, message_id)
    attachment = view.parts.attachment(index)
    data = view.parts.part_bytes(index) if attachment else None
    if attachment is None or data is None:
        raise NotFound("attachment", f"{message_id}/{index}")
    return attachment, data
