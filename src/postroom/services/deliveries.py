"""The connector's side of filing: the tenant's lease, claiming deliveries, and their results.

Decision 0004 has the rules; in short:

- **Lease**: one per tenant (scope ``*``). :func:`acquire_lease` grants it when there is none,
  it has expired, its holder's license was revoked, or the asker is the holder's own connector
  and instance (a restart); otherwise :class:`~postroom.errors.LeaseHeld` names the holder.
  Every grant adds one to the row's fencing token, which is never reset; :func:`check_fencing`
  refuses any other token with :class:`~postroom.errors.LeaseLost`.
- **Claim**: pending filings, and skipped or failed ones whose retry time has come, of enabled
  locations, oldest first. One conditional ``UPDATE`` marks them claimed (and counts the attempt)
  only where no live claim exists, so two claimers never get the same filing.
- **Results** name the attempt they answer: only the current claim's attempt, by the connector
  that holds it, changes the filing, so a result sent twice is ``unchanged`` the second time.

Every function takes ``now`` for tests; the default is the current time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from postroom.archive.blobstore import BlobStore
from postroom.db.archive import ArchiveFolder, FolderEntry, Message
from postroom.db.models import Connector, ConnectorLease, Filing, Location
from postroom.db.types import utcnow
from postroom.db.upsert import insert_ignoring_conflicts
from postroom.domain.connector import Outcome, Reason, retry_delay
from postroom.domain.filing import FilingStatus
from postroom.domain.naming import is_storable
from postroom.errors import Conflict, FieldError, InvalidInput, LeaseHeld, LeaseLost, NotFound

SCOPE = "*"  # all the tenant's locations; a later split gives each connector a scope of its own
MAX_CLAIM = 500
MAX_RESULTS = 500
MAX_FETCH = 100  # deliveries per batched message fetch
SMALL_MESSAGE = 1 << 20  # read whole from the blob store; larger ones are streamed
MAX_TEXT = 2000  # error texts and paths are cut to this; a path longer than any file system allows
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Grant:
    fencing_token: int
    expires_at: datetime
    lease_seconds: int


# --- the lease ---------------------------------------------------------------------------------


def live_lease(session: Session, tenant_id: str, now: datetime | None = None) -> ConnectorLease | None:
    """The tenant's lease if it has not expired and its holder's license is not revoked."""
    now = now or utcnow()
    lease = session.get(ConnectorLease, (tenant_id, SCOPE), populate_existing=True)
    if lease is None or lease.expires_at <= now:
        return None
    holder = session.get(Connector, lease.connector_id)
    return None if holder is None or holder.revoked_at is not None else lease


def holder_to_dict(session: Session, lease: ConnectorLease) -> dict[str, Any]:
    holder = session.get(Connector, lease.connector_id)
    return {
        "connector_id": lease.connector_id,
        "name": holder.name if holder else None,
        "instance_id": lease.instance_id,  # lets the holder's own doctor recognise its installation
        "host": lease.host,
        "since": lease.acquired_at.isoformat(),
        "expires_at": lease.expires_at.isoformat(),
    }


def _held_message(session: Session, lease: ConnectorLease, asker: Connector) -> str:
    holder = session.get(Connector, lease.connector_id)
    name = holder.name if holder else "?"
    text = (
        f"connector {name!r} ({lease.connector_id}) on host {lease.host!r} holds the tenant's lease since "
        f"{lease.acquired_at:%Y-%m-%d %H:%M:%S} UTC; it expires at {lease.expires_at:%Y-%m-%d %H:%M:%S} UTC "
        "unless renewed"
    )
    if lease.connector_id == asker.id:
        return text + (
            ": the same license runs in another installation (another instance ID); stop that one, or give each "
            "installation a license of its own"
        )
    return text + ": stop that connector or revoke its license to move filing here, or wait"


def acquire_lease(
    session: Session,
    connector: Connector,
    *,
    instance_id: str,
    host: str,
    version: str,
    lease_seconds: int,
    now: datetime | None = None,
) -> Grant:
    """Grant the tenant's lease to ``connector`` (see the module docstring), or raise LeaseHeld."""
    now = now or utcnow()
    instance_id, host, version = _text(instance_id, "instance_id", 100), _text(host, "host", 255), version[:100]
    expires = now + timedelta(seconds=lease_seconds)
    grant = {
        "connector_id": connector.id,
        "instance_id": instance_id,
        "host": host,
        "acquired_at": now,
        "renewed_at": now,
        "expires_at": expires,
    }
    for _ in range(3):  # a concurrent asker may change the row between our read and our write
        lease = session.get(ConnectorLease, (connector.tenant_id, SCOPE), populate_existing=True)
        if lease is None:
            values = {"tenant_id": connector.tenant_id, "scope": SCOPE, "fencing_token": 1, **grant}
            inserted = session.execute(
                insert_ignoring_conflicts(session, ConnectorLease).values(**values).returning(ConnectorLease.scope)
            ).first()
            if inserted is not None:
                return _granted(session, connector, instance_id, host, version, 1, expires, lease_seconds, now)
            continue
        current = live_lease(session, connector.tenant_id, now)
        same_installation = lease.connector_id == connector.id and lease.instance_id == instance_id
        if current is not None and not same_installation:
            raise LeaseHeld(_held_message(session, current, connector))
        token = lease.fencing_token + 1
        done = session.execute(
            update(ConnectorLease)
            .where(
                ConnectorLease.tenant_id == connector.tenant_id,
                ConnectorLease.scope == SCOPE,
                ConnectorLease.fencing_token == lease.fencing_token,
            )
            .values(fencing_token=token, **grant)
            .execution_options(synchronize_session=False)
        )
        if done.rowcount == 1:  # type: ignore[attr-defined]
            return _granted(session, connector, instance_id, host, version, token, expires, lease_seconds, now)
    lease = live_lease(session, connector.tenant_id, now)
    if lease is not None:
        raise LeaseHeld(_held_message(session, lease, connector))
    raise Conflict("the lease changed hands several times while it was being granted; ask again")


def _granted(
    session: Session,
    connector: Connector,
    instance_id: str,
    host: str,
    version: str,
    token: int,
    expires: datetime,
    lease_seconds: int,
    now: datetime,
) -> Grant:
    connector.instance_id, connector.host, connector.version, connector.last_seen_at = instance_id, host, version, now
    # Every claim made under an earlier token is void: its holder stopped writing before that
    # lease ended, or is this installation restarted (killed in the middle of a batch). Its
    # deliveries are offered again now; a file already written is then found present.
    session.execute(
        update(Filing)
        .where(Filing.tenant_id == connector.tenant_id, Filing.claimed_by.is_not(None))
        .values(claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return Grant(token, expires, lease_seconds)


def check_fencing(
    session: Session, connector: Connector, token: int | None, now: datetime | None = None
) -> ConnectorLease:
    """The lease ``token`` is the current token of, held by ``connector`` and live; else LeaseLost."""
    now = now or utcnow()
    if token is None:
        raise LeaseLost("this request needs the lease's fencing token (Postroom-Fencing-Token): take the lease first")
    lease = session.get(ConnectorLease, (connector.tenant_id, SCOPE), populate_existing=True)
    if lease is None:
        raise LeaseLost("this connector holds no lease: take the lease again")
    if lease.fencing_token != token or lease.connector_id != connector.id:
        holder = session.get(Connector, lease.connector_id)
        name = holder.name if holder else lease.connector_id
        raise LeaseLost(
            f"fencing token {token} is not the current lease's ({lease.fencing_token}, held by {name!r} on "
            f"{lease.host!r} since {lease.acquired_at:%Y-%m-%d %H:%M:%S} UTC): stop writing and take the lease again"
        )
    if lease.expires_at <= now:
        raise LeaseLost(
            f"the lease expired at {lease.expires_at:%Y-%m-%d %H:%M:%S} UTC without a heartbeat: stop writing "
            "and take the lease again"
        )
    return lease


def heartbeat(
    session: Session, connector: Connector, token: int | None, *, lease_seconds: int, now: datetime | None = None
) -> datetime:
    """Renew the lease (and the connector's claims with it); the new expiry."""
    now = now or utcnow()
    lease = check_fencing(session, connector, token, now)
    lease.renewed_at = now
    lease.expires_at = now + timedelta(seconds=lease_seconds)
    connector.last_seen_at = now
    session.execute(
        update(Filing)
        .where(Filing.claimed_by == connector.id, Filing.claimed_until > now)
        .values(claimed_until=lease.expires_at)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return lease.expires_at


def release_lease(session: Session, connector: Connector, token: int | None, now: datetime | None = None) -> None:
    """End the lease now (a clean stop), so that a successor need not wait for it to expire.

    The row stays, keeping its fencing token; unanswered claims are offered again at once.
    """
    now = now or utcnow()
    lease = check_fencing(session, connector, token, now)
    lease.expires_at = now
    session.execute(
        update(Filing)
        .where(Filing.claimed_by == connector.id)
        .values(claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    session.flush()


# --- what the connector works with -----------------------------------------------------------------


def connector_config(session: Session, connector: Connector) -> dict[str, Any]:
    rows = session.scalars(
        select(Location).where(Location.tenant_id == connector.tenant_id).order_by(Location.name_key)
    )
    return {
        "locations": [
            {
                "id": x.id,
                "name": x.name,
                "sync_path": x.sync_path,
                "format": x.format,
                "naming_template": x.naming_template,
                "enabled": x.enabled,
            }
            for x in rows
        ],
        "path_roots": list(connector.path_roots),
    }


def _offerable(now: datetime) -> Any:
    retry_due = Filing.status.in_([FilingStatus.SKIPPED.value, FilingStatus.FAILED.value]) & (
        Filing.next_attempt_at.is_(None) | (Filing.next_attempt_at <= now)
    )
    unclaimed = Filing.claimed_until.is_(None) | (Filing.claimed_until <= now)
    return and_(or_(Filing.status == FilingStatus.PENDING.value, retry_due), unclaimed)


def claim(
    session: Session,
    connector: Connector,
    token: int | None,
    *,
    limit: int,
    lease_seconds: int,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Claim up to ``limit`` deliveries for ``connector``: each with its attempt and the message's facts."""
    now = now or utcnow()
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_CLAIM:
        raise InvalidInput(FieldError("limit", f"must be a whole number from 1 to {MAX_CLAIM}"))
    check_fencing(session, connector, token, now)
    candidates = list(
        session.scalars(
            select(Filing.id)
            .join(Location, Location.id == Filing.location_id)
            .where(Filing.tenant_id == connector.tenant_id, Location.enabled.is_(True), _offerable(now))
            .order_by(Filing.filed_at, Filing.id)
            .limit(limit)
        )
    )
    if not candidates:
        return []
    rows = session.execute(
        update(Filing)
        .where(Filing.id.in_(candidates), _offerable(now))  # the condition again: someone may have been faster
        .values(
            claimed_by=connector.id,
            claimed_until=now + timedelta(seconds=lease_seconds),
            attempts=Filing.attempts + 1,
            updated_at=now,
        )
        .returning(Filing.id, Filing.attempts, Filing.location_id, Filing.message_id)
        .execution_options(synchronize_session=False)
    ).all()
    order = {filing_id: i for i, filing_id in enumerate(candidates)}
    claimed = sorted(rows, key=lambda row: order[row[0]])
    facts = _facts(session, [row[3] for row in claimed])
    return [
        {"id": filing_id, "attempt": attempt, "location_id": location_id, "message": facts[message_id]}
        for filing_id, attempt, location_id, message_id in claimed
    ]


def _facts(session: Session, message_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """What the connector names the file by, per message (``formats.naming.MessageNameFacts``)."""
    wanted = list(set(message_ids))
    received: dict[int, datetime | None] = {}
    for message_id, when in session.execute(
        select(FolderEntry.message_id, func.min(FolderEntry.internal_date))
        .where(FolderEntry.message_id.in_(wanted))
        .group_by(FolderEntry.message_id)
    ):
        received[message_id] = when
    folders: dict[int, str] = {}
    for message_id, path in session.execute(
        select(FolderEntry.message_id, ArchiveFolder.path)
        .join(ArchiveFolder, ArchiveFolder.id == FolderEntry.folder_id)
        .where(FolderEntry.message_id.in_(wanted))
        .order_by(FolderEntry.id)
    ):
        folders.setdefault(message_id, path)
    result = {}
    for message in session.scalars(select(Message).where(Message.id.in_(wanted))):
        to = message.details.get("to") or []
        when = received.get(message.id) or message.created_at
        result[message.id] = {
            "sha256": message.sha256,
            "size": message.size,
            "facts": {
                "date": _aware_iso(message.date),
                "received": _aware_iso(when),
                "subject": message.subject,
                "from_address": message.from_address,
                "from_name": message.from_name,
                "to": to[0].get("address", "") if to and isinstance(to[0], dict) else "",
                "folder": folders.get(message.id, ""),
                "message_id": message.internet_message_id,
            },
        }
    return result


def _aware_iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value.replace(tzinfo=UTC) if value.tzinfo is None else value).isoformat()


@dataclass(frozen=True)
class Download:
    """A claimed delivery's message: its archived bytes are read from the blob store as they are sent."""

    tenant_id: str
    sha256: str
    size: int
    delivery_id: str = ""

    def chunks(self, blobs: BlobStore, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
        """The bytes in chunks: a small message in one read (one decompression call), a large one streamed."""
        if self.size <= SMALL_MESSAGE:
            yield blobs.get(self.tenant_id, self.sha256)
            return
        with blobs.open(self.tenant_id, self.sha256) as reader:
            while chunk := reader.read(chunk_size):
                yield chunk


def claimed_message(
    session: Session, connector: Connector, token: int | None, delivery_id: str, now: datetime | None = None
) -> Download:
    """The message of a delivery ``connector`` holds a live claim on (a Conflict otherwise)."""
    now = now or utcnow()
    check_fencing(session, connector, token, now)
    filing = _filing(session, connector.tenant_id, delivery_id)
    if filing is None:
        raise NotFound("delivery", delivery_id)
    if filing.claimed_by != connector.id or filing.claimed_until is None or filing.claimed_until <= now:
        raise _not_claimed(filing.id)
    message = session.get(Message, filing.message_id)
    assert message is not None  # a filing's message is never deleted (RESTRICT)
    return Download(connector.tenant_id, message.sha256, message.size, filing.id)


@dataclass(frozen=True)
class Refusal:
    """Why one delivery of a batched fetch has no bytes: the error a single fetch would have raised."""

    delivery_id: str
    error: NotFound | Conflict


def claimed_messages(
    session: Session,
    connector: Connector,
    token: int | None,
    delivery_ids: Sequence[str],
    now: datetime | None = None,
) -> list[Download | Refusal]:
    """:func:`claimed_message` for several deliveries in one go: one fencing check and one query.

    The answer follows ``delivery_ids``; a delivery that is unknown or not claimed by this
    connector now is a :class:`Refusal` in its place, so one stale ID does not spoil the batch.
    """
    now = now or utcnow()
    check_fencing(session, connector, token, now)
    wanted = [_key(d) for d in delivery_ids]
    rows = session.execute(
        select(Filing.id, Filing.claimed_by, Filing.claimed_until, Message.sha256, Message.size)
        .join(Message, Message.id == Filing.message_id)
        .where(Filing.tenant_id == connector.tenant_id, Filing.id.in_({w for w in wanted if w}))
    ).all()
    found = {row.id: row for row in rows}
    answer: list[Download | Refusal] = []
    for raw, key in zip(delivery_ids, wanted, strict=True):
        row = found.get(key)
        if row is None:
            answer.append(Refusal(str(raw), NotFound("delivery", str(raw))))
        elif row.claimed_by != connector.id or row.claimed_until is None or row.claimed_until <= now:
            answer.append(Refusal(row.id, _not_claimed(row.id)))
        else:
            answer.append(Download(connector.tenant_id, row.sha256, row.size, row.id))
    return answer


def _not_claimed(filing_id: str) -> Conflict:
    return Conflict(
        f"delivery {filing_id} is not claimed by this connector now (its claim expired or was answered): "
        "claim deliveries again"
    )


def _key(delivery_id: object) -> str:
    """The filing ID ``delivery_id`` names, or "" when it cannot name one."""
    if not isinstance(delivery_id, str) or not is_storable(delivery_id) or len(delivery_id.strip()) > 36:
        return ""
    return delivery_id.strip().lower()


def _filings(session: Session, tenant_id: str, delivery_ids: Sequence[object]) -> dict[str, Filing]:
    """The tenant's filings among ``delivery_ids``, by ID, in one query."""
    keys = {key for key in map(_key, delivery_ids) if key}
    if not keys:
        return {}
    rows = session.scalars(
        select(Filing)
        .where(Filing.tenant_id == tenant_id, Filing.id.in_(keys))
        .execution_options(populate_existing=True)  # claims change rows with UPDATE statements
    )
    return {filing.id: filing for filing in rows}


def _filing(session: Session, tenant_id: str, delivery_id: object) -> Filing | None:
    return _filings(session, tenant_id, [delivery_id]).get(_key(delivery_id))


# --- results -------------------------------------------------------------------------------------


def _text(value: object, field: str, max_length: int) -> str:
    if not isinstance(value, str) or not value.strip() or not is_storable(value):
        raise InvalidInput(FieldError(field, "must be non-empty text"))
    return value.strip()[:max_length]


def _check_result(i: int, raw: Mapping[str, Any]) -> list[FieldError]:
    where = f"results[{i}]"
    problems = []
    if not isinstance(raw.get("delivery_id"), str) or not raw["delivery_id"]:
        problems.append(FieldError(f"{where}.delivery_id", "must be the ID of a claimed delivery"))
    attempt = raw.get("attempt")
    if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1:
        problems.append(FieldError(f"{where}.attempt", "must be the attempt number the claim gave (1 or more)"))
    try:
        outcome = Outcome(str(raw.get("outcome")))
    except ValueError:
        allowed = ", ".join(o.value for o in Outcome)
        return [*problems, FieldError(f"{where}.outcome", f"must be one of {allowed}")]
    if outcome.delivered:
        path = raw.get("path")
        if not isinstance(path, str) or not path.strip() or not is_storable(path):
            problems.append(FieldError(f"{where}.path", f"must name the file a {outcome} delivery is in"))
        size = raw.get("size")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            problems.append(FieldError(f"{where}.size", "must be the file's size in bytes"))
        sha = raw.get("sha256")
        if sha is not None and (not isinstance(sha, str) or not _SHA256.fullmatch(sha)):
            problems.append(FieldError(f"{where}.sha256", "must be the file's SHA-256: 64 lower-case hex digits"))
    reason = raw.get("reason")
    if outcome is Outcome.SKIPPED or reason is not None:
        try:
            Reason(str(reason))
        except ValueError:
            allowed = ", ".join(r.value for r in Reason)
            problems.append(FieldError(f"{where}.reason", f"must be one of {allowed}"))
    error = raw.get("error")
    if error is not None and (not isinstance(error, str) or not is_storable(error)):
        problems.append(FieldError(f"{where}.error", "must be text"))
    return problems


def record_results(
    session: Session,
    connector: Connector,
    token: int | None,
    results: Sequence[Mapping[str, Any]],
    *,
    retry_seconds: int,
    now: datetime | None = None,
) -> list[dict[str, str]]:
    """Apply the connector's results; per result ``applied``, ``unchanged`` or ``unknown``.

    All or nothing on bad input: one InvalidInput names every bad field and nothing changes.
    """
    now = now or utcnow()
    check_fencing(session, connector, token, now)
    if len(results) > MAX_RESULTS:
        raise InvalidInput(FieldError("results", f"send at most {MAX_RESULTS} results at once"))
    problems = [problem for i, raw in enumerate(results) for problem in _check_result(i, raw)]
    if problems:
        raise InvalidInput(problems)
    answers = []
    filings = _filings(session, connector.tenant_id, [raw["delivery_id"] for raw in results])
    for raw in results:
        filing = filings.get(_key(raw["delivery_id"]))
        if filing is None:
            status = "unknown"
        elif filing.claimed_by != connector.id or filing.attempts != raw["attempt"]:
            status = "unchanged"
        else:
            _apply(filing, raw, retry_seconds, now)
            status = "applied"
        answers.append({"delivery_id": raw["delivery_id"], "status": status})
    session.flush()
    return answers


def _apply(filing: Filing, raw: Mapping[str, Any], retry_seconds: int, now: datetime) -> None:
    outcome = Outcome(raw["outcome"])
    filing.status = FilingStatus(outcome.value).value
    filing.claimed_by, filing.claimed_until, filing.updated_at = None, None, now
    error = (raw.get("error") or "").strip()[:MAX_TEXT]
    if outcome.delivered:
        filing.written_path = raw["path"].strip()[:MAX_TEXT]
        filing.size, filing.sha256 = raw.get("size"), raw.get("sha256")
        filing.delivered_at, filing.reason, filing.next_attempt_at = now, None, None
        return
    code = raw.get("reason") or "failed"
    filing.reason = f"{code}: {error}" if error else code
    filing.next_attempt_at = now + retry_delay(filing.attempts, timedelta(seconds=retry_seconds))
