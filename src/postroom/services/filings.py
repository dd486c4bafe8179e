"""Filings: archived messages filed to locations, each one the delivery the connector will claim.

Filing the same message to the same location twice is one filing: the second finds the first
and leaves it as it is. Filing is all or nothing — when any message is not the tenant's, nothing
is filed. Concurrent filers of the same messages are safe: the insert is ``ON CONFLICT DO
NOTHING`` on (location, message), then the rows are read back, as ``archive/repository.py``
does for message contents.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from postroom.db.archive import Message
from postroom.db.models import Filing, Location
from postroom.db.types import new_id, utcnow
from postroom.db.upsert import insert_ignoring_conflicts
from postroom.domain.filing import FilingSource, FilingStatus
from postroom.domain.naming import is_storable
from postroom.errors import Conflict, FieldError, InvalidInput, NotFound
from postroom.services.locations import get_location

MAX_MESSAGES_PER_REQUEST = 1000
MAX_MESSAGE_ID = 2**63 - 1


@dataclass
class FilingResult:
    """The filings a request made (``created``) and those that existed before it (``already``),
    both in the order the messages were asked for."""

    created: list[Filing] = field(default_factory=list)
    already: list[Filing] = field(default_factory=list)


def _check_messages(session: Session, tenant_id: str, message_ids: Iterable[int]) -> list[int]:
    wanted = list(dict.fromkeys(message_ids))
    if not wanted:
        raise InvalidInput(FieldError("message_ids", "name at least one message"))
    if len(wanted) > MAX_MESSAGES_PER_REQUEST:
        raise InvalidInput(FieldError("message_ids", f"file at most {MAX_MESSAGES_PER_REQUEST} messages at once"))
    in_range = [m for m in wanted if 0 < m <= MAX_MESSAGE_ID]
    found = set(session.scalars(select(Message.id).where(Message.tenant_id == tenant_id, Message.id.in_(in_range))))
    for message_id in wanted:
        if message_id not in found:
            raise NotFound("message", str(message_id))
    return wanted


def _filings_of(session: Session, location_id: str, message_ids: list[int]) -> dict[int, Filing]:
    rows = session.scalars(select(Filing).where(Filing.location_id == location_id, Filing.message_id.in_(message_ids)))
    return {filing.message_id: filing for filing in rows}


def file_messages(
    session: Session,
    tenant_id: str,
    location_key: str,
    message_ids: Iterable[int],
    *,
    source: FilingSource | str,
    filed_by: str,
) -> FilingResult:
    """File the tenant's messages to one of its enabled locations; see the module docstring."""
    location = get_location(session, tenant_id, location_key)
    if not location.enabled:
        raise InvalidInput(
            FieldError("location", f"location {location.name!r} is disabled: enable it to file messages to it")
        )
    source = FilingSource(source)
    wanted = _check_messages(session, tenant_id, message_ids)
    existing = _filings_of(session, location.id, wanted)
    now = utcnow()
    new = {
        message_id: {
            "id": new_id(),
            "tenant_id": tenant_id,
            "location_id": location.id,
            "message_id": message_id,
            "source": source.value,
            "filed_by": filed_by[:254],
            "filed_at": now,
            "status": FilingStatus.PENDING.value,
            "attempts": 0,
            "updated_at": now,
        }
        for message_id in wanted
        if message_id not in existing
    }
    if new:
        statement = insert_ignoring_conflicts(session, Filing, ["location_id", "message_id"])
        session.execute(statement, list(new.values()))
        existing.update(_filings_of(session, location.id, list(new)))
    result = FilingResult()
    for message_id in wanted:
        filing = existing[message_id]
        mine = message_id in new and new[message_id]["id"] == filing.id
        (result.created if mine else result.already).append(filing)
    return result


def list_filings(
    session: Session,
    tenant_id: str,
    *,
    location: str | None = None,
    status: FilingStatus | str | None = None,
    limit: int = 100,
) -> list[Filing]:
    """The tenant's filings, newest first; of one location (by name or ID) and in one status if given."""
    stmt = select(Filing).where(Filing.tenant_id == tenant_id)
    if location is not None:
        stmt = stmt.where(Filing.location_id == get_location(session, tenant_id, location).id)
    if status is not None:
        stmt = stmt.where(Filing.status == FilingStatus.parse(status).value)
    return list(session.scalars(stmt.order_by(Filing.filed_at.desc(), Filing.id).limit(max(1, limit))))


def get_filing(session: Session, tenant_id: str, filing_id: str) -> Filing:
    """A filing of the tenant by its ID (case-insensitive)."""
    key = filing_id.strip()
    filing = None
    if is_storable(key) and len(key) <= 36:
        filing = session.scalar(select(Filing).where(Filing.tenant_id == tenant_id, Filing.id == key.lower()))
    if filing is None:
        raise NotFound("filing", filing_id)
    return filing


def unfile(session: Session, tenant_id: str, filing_id: str) -> None:
    """Delete a filing the connector has not delivered yet; a delivered one stays on record."""
    filing = get_filing(session, tenant_id, filing_id)
    if filing.status in (FilingStatus.WRITTEN, FilingStatus.PRESENT):
        where = f" ({filing.written_path})" if filing.written_path else ""
        raise Conflict(
            f"filing {filing.id} is {filing.status}: the file exists in the location's folder{where}; "
            "only a pending filing can be deleted"
        )
    if filing.status != FilingStatus.PENDING:
        raise Conflict(f"filing {filing.id} is {filing.status}; only a pending filing can be deleted")
    if filing.claimed_until is not None and filing.claimed_until > utcnow():
        raise Conflict(f"filing {filing.id} is being delivered by a connector now; try again in a minute")
    session.delete(filing)
    session.flush()


def filing_to_dict(session: Session, filing: Filing) -> dict[str, Any]:
    location = session.get(Location, filing.location_id)
    return {
        "id": filing.id,
        "location_id": filing.location_id,
        "location": location.name if location else None,
        "message_id": filing.message_id,
        "source": filing.source,
        "filed_by": filing.filed_by,
        "filed_at": filing.filed_at.isoformat(),
        "status": filing.status,
        "written_path": filing.written_path,
        "reason": filing.reason,
        "attempts": filing.attempts,
        "next_attempt_at": filing.next_attempt_at.isoformat() if filing.next_attempt_at else None,
        "size": filing.size,
        "sha256": filing.sha256,
        "delivered_at": filing.delivered_at.isoformat() if filing.delivered_at else None,
        "updated_at": filing.updated_at.isoformat(),
    }
