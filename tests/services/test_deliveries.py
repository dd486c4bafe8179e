"""The lease, claims and results against the database, with the clock passed in (nothing sleeps)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from postroom.db.models import Connector, Filing, Tenant
from postroom.db.types import utcnow
from postroom.errors import Conflict, InvalidInput, LeaseHeld, LeaseLost, NotFound
from postroom.runtime import Runtime
from postroom.services import connectors, deliveries, filings, locations
from postroom.services.access import Actor
from postroom.services.tenants import create_tenant
from postroom.testing.archive import archive_messages

LEASE = 60
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=utcnow().tzinfo)


def _connector(session: Session, tenant: Tenant, name: str) -> Connector:
    connector, _text = connectors.create_connector(session, tenant, name, [], "anna", "https://p.example")
    return connector


def _lease(session: Session, connector: Connector, instance: str = "i1", now: datetime = T0) -> int:
    grant = deliveries.acquire_lease(
        session,
        connector,
        instance_id=instance,
        host=f"{connector.name}.lan",
        version="1.0",
        lease_seconds=LEASE,
        now=now,
    )
    return grant.fencing_token


@pytest.fixture
def pair(runtime: Runtime, session: Session, tenant: Tenant) -> tuple[Connector, Connector]:
    """Connectors nas and backup, committed, as objects of the test's session."""
    with runtime.transaction() as setup:
        ids = [_connector(setup, tenant, "nas").id, _connector(setup, tenant, "backup").id]
    nas, backup = (session.get(Connector, x) for x in ids)
    assert nas is not None and backup is not None
    return nas, backup


@pytest.fixture
def filed(runtime: Runtime, tenant: Tenant) -> list[str]:
    """Three pending filings of location Surrey, oldest first."""
    ids = archive_messages(runtime, tenant.id, "Drawings", "Invoice", "Site visit")
    result = []
    with runtime.transaction() as session:
        locations.create_location(session, tenant.id, {"name": "Surrey", "sync_path": "/srv/surrey"})
        for message_id in ids:  # one at a time, so that filed_at orders them
            result += [
                f.id
                for f in filings.file_messages(
                    session, tenant.id, "Surrey", [message_id], source="api", filed_by="a"
                ).created
            ]
    return result


def test_lease_is_granted_refused_and_taken_over_after_expiry(
    session: Session, pair: tuple[Connector, Connector]
) -> None:
    nas, backup = pair
    first = _lease(session, nas)
    with pytest.raises(LeaseHeld) as held:
        _lease(session, backup, "i2", T0 + timedelta(seconds=30))
    message = str(held.value)
    assert "'nas'" in message and nas.id in message and "'nas.lan'" in message
    assert "since 2026-11-23 12:00:00 UTC" in message and "expires at 2026-11-23 12:01:00 UTC" in message
    # a heartbeat keeps it
    deliveries.heartbeat(session, nas, first, lease_seconds=LEASE, now=T0 + timedelta(seconds=50))
    with pytest.raises(LeaseHeld):
        _lease(session, backup, "i2", T0 + timedelta(seconds=90))
    # expired: the other connector takes it, and the old token is refused
    second = _lease(session, backup, "i2", T0 + timedelta(seconds=111))
    assert second == first + 1
    with pytest.raises(LeaseLost, match=f"fencing token {first} is not the current lease's"):
        deliveries.heartbeat(session, nas, first, lease_seconds=LEASE, now=T0 + timedelta(seconds=112))
    with pytest.raises(LeaseLost, match="expired"):
        deliveries.check_fencing(session, backup, second, T0 + timedelta(seconds=200))


def test_same_installation_takes_over_at_once_another_instance_does_not(
    session: Session, pair: tuple[Connector, Connector]
) -> None:
    nas, _backup = pair
    first = _lease(session, nas, "install-1")
    restarted = _lease(session, nas, "install-1", T0 + timedelta(seconds=5))
    assert restarted == first + 1
    with pytest.raises(LeaseHeld, match="the same license runs in another installation"):
        _lease(session, nas, "install-2", T0 + timedelta(seconds=6))


def test_a_revoked_holder_loses_the_lease_and_tokens_keep_growing(
    session: Session, tenant: Tenant, pair: tuple[Connector, Connector]
) -> None:
    nas, backup = pair
    tokens = [_lease(session, nas)]
    deliveries.release_lease(session, nas, tokens[0], T0 + timedelta(seconds=1))  # the row stays
    tokens.append(_lease(session, backup, "i2", T0 + timedelta(seconds=2)))
    connectors.revoke_connector(session, tenant.id, "backup")
    tokens.append(_lease(session, nas, "i1", utcnow()))  # revoked holder: granted at once
    assert tokens == [1, 2, 3]
    assert deliveries.live_lease(session, tenant.id).connector_id == nas.id  # type: ignore[union-attr]
    other = create_tenant(session, Actor.local_admin(), "globex")
    assert _lease(session, _connector(session, other, "nas"), now=utcnow()) == 1  # a token per tenant


def test_fenced_calls_need_the_current_token(session: Session, pair: tuple[Connector, Connector]) -> None:
    nas, backup = pair
    token = _lease(session, nas, now=utcnow())
    with pytest.raises(LeaseLost, match="Postroom-Fencing-Token"):
        deliveries.claim(session, nas, None, limit=1, lease_seconds=LEASE)
    with pytest.raises(LeaseLost):
        deliveries.claim(session, backup, token, limit=1, lease_seconds=LEASE)  # another connector's token
    with pytest.raises(LeaseLost):
        deliveries.record_results(session, nas, token + 1, [], retry_seconds=60)
    assert deliveries.claim(session, nas, token, limit=1, lease_seconds=LEASE) == []


def test_claim_hands_each_filing_once_oldest_first_with_facts(
    session: Session, pair: tuple[Connector, Connector], filed: list[str]
) -> None:
    nas, _backup = pair
    now = utcnow()
    token = _lease(session, nas, now=now)
    first = deliveries.claim(session, nas, token, limit=2, lease_seconds=LEASE, now=now)
    assert [d["id"] for d in first] == filed[:2]
    delivery = first[0]
    assert delivery["attempt"] == 1
    message = delivery["message"]
    assert len(message["sha256"]) == 64 and message["size"] > 0
    facts = message["facts"]
    assert (facts["subject"], facts["from_address"], facts["from_name"], facts["to"]) == (
        "Drawings",
        "anna@example.com",
        "Anna",
        "bob@example.com",
    )
    assert facts["date"] == "2026-11-22T10:15:30+00:00" and facts["received"] and facts["message_id"]
    second = deliveries.claim(session, nas, token, limit=500, lease_seconds=LEASE, now=now)
    assert [d["id"] for d in second] == filed[2:]
    assert deliveries.claim(session, nas, token, limit=500, lease_seconds=LEASE, now=now) == []
    with pytest.raises(InvalidInput, match="limit"):
        deliveries.claim(session, nas, token, limit=501, lease_seconds=LEASE, now=now)


def test_an_unanswered_claim_is_offered_again_after_the_lease_time(
    session: Session, pair: tuple[Connector, Connector], filed: list[str]
) -> None:
    nas, _backup = pair
    now = utcnow()
    token = _lease(session, nas, now=now)
    deliveries.claim(session, nas, token, limit=1, lease_seconds=LEASE, now=now)
    later = now + timedelta(seconds=LEASE + 1)
    token = _lease(session, nas, now=later)  # the same installation, after its lease ran out
    again = deliveries.claim(session, nas, token, limit=1, lease_seconds=LEASE, now=later)
    assert [(d["id"], d["attempt"]) for d in again] == [(filed[0], 2)]


def test_results_are_idempotent_and_stale_attempts_change_nothing(
    session: Session, pair: tuple[Connector, Connector], filed: list[str]
) -> None:
    nas, _backup = pair
    now = utcnow()
    token = _lease(session, nas, now=now)
    claimed = deliveries.claim(session, nas, token, limit=3, lease_seconds=LEASE, now=now)
    written = {
        "delivery_id": claimed[0]["id"],
        "attempt": 1,
        "outcome": "written",
        "path": "/srv/surrey/a.msg",
        "size": 123,
        "sha256": "a" * 64,
    }
    results: list[dict[str, Any]] = [
        written,
        {"delivery_id": claimed[1]["id"], "attempt": 7, "outcome": "present", "path": "/srv/surrey/b.msg"},
        {"delivery_id": "no-such-delivery", "attempt": 1, "outcome": "failed", "error": "x"},
    ]
    answer = deliveries.record_results(session, nas, token, results, retry_seconds=60, now=now)
    assert [a["status"] for a in answer] == ["applied", "unchanged", "unknown"]
    again = deliveries.record_results(session, nas, token, results, retry_seconds=60, now=now)
    assert [a["status"] for a in again] == ["unchanged", "unchanged", "unknown"]
    filing = session.get(Filing, claimed[0]["id"])
    assert filing is not None
    assert (filing.status, filing.written_path, filing.size, filing.sha256, filing.reason) == (
        "written",
        "/srv/surrey/a.msg",
        123,
        "a" * 64,
        None,
    )
    assert filing.delivered_at is not None and filing.claimed_by is None


def test_another_tenants_delivery_is_unknown(
    runtime: Runtime, session: Session, tenant: Tenant, filed: list[str]
) -> None:
    other = create_tenant(session, Actor.local_admin(), "globex")
    stranger = _connector(session, other, "nas")
    token = _lease(session, stranger, now=utcnow())
    answer = deliveries.record_results(
        session, stranger, token, [{"delivery_id": filed[0], "attempt": 1, "outcome": "failed"}], retry_seconds=60
    )
    assert answer == [{"delivery_id": filed[0], "status": "unknown"}]
    with pytest.raises(NotFound):
        deliveries.claimed_message(session, stranger, token, filed[0])


def test_skips_are_retried_with_a_growing_delay(
    session: Session, pair: tuple[Connector, Connector], filed: list[str]
) -> None:
    nas, _backup = pair
    now = utcnow()
    token = _lease(session, nas, now=now)
    delays = []
    for attempt in (1, 2, 3):
        [delivery] = deliveries.claim(session, nas, token, limit=1, lease_seconds=LEASE, now=now)
        assert (delivery["id"], delivery["attempt"]) == (filed[0], attempt)
        skipped = {"delivery_id": filed[0], "attempt": attempt, "outcome": "skipped", "reason": "folder_missing"}
        deliveries.record_results(
            session, nas, token, [skipped | {"error": "no such folder"}], retry_seconds=60, now=now
        )
        filing = session.get(Filing, filed[0])
        assert filing is not None and filing.reason == "folder_missing: no such folder"
        assert filing.next_attempt_at is not None
        delays.append((filing.next_attempt_at - now).total_seconds())
        # not offered before its time (the other two filings are claimed meanwhile, then held)
        offered = [d["id"] for d in deliveries.claim(session, nas, token, limit=500, lease_seconds=LEASE, now=now)]
        assert filed[0] not in offered
        now = filing.next_attempt_at
        token = _lease(session, nas, now=now)
    assert delays == [60, 120, 240]


def test_bad_results_name_every_field_and_change_nothing(
    session: Session, pair: tuple[Connector, Connector], filed: list[str]
) -> None:
    nas, _backup = pair
    token = _lease(session, nas, now=utcnow())
    [delivery] = deliveries.claim(session, nas, token, limit=1, lease_seconds=LEASE)
    bad = [
        {"delivery_id": delivery["id"], "attempt": 1, "outcome": "written"},
        {"delivery_id": delivery["id"], "attempt": 0, "outcome": "skipped", "reason": "gremlins"},
        {"delivery_id": delivery["id"], "attempt": 1, "outcome": "lost"},
        {"delivery_id": delivery["id"], "attempt": 1, "outcome": "present", "path": "/x", "sha256": "ABC"},
    ]
    with pytest.raises(InvalidInput) as caught:
        deliveries.record_results(session, nas, token, bad, retry_seconds=60)
    assert [e.field for e in caught.value.errors] == [
        "results[0].path",
        "results[1].attempt",
        "results[1].reason",
        "results[2].outcome",
        "results[3].sha256",
    ]
    assert "folder_missing" in str(caught.value)
    filing = session.get(Filing, delivery["id"])
    assert filing is not None and filing.status == "pending"


def test_the_message_is_only_for_the_claimer(
    runtime: Runtime, session: Session, pair: tuple[Connector, Connector], filed: list[str]
) -> None:
    nas, _backup = pair
    token = _lease(session, nas, now=utcnow())
    with pytest.raises(Conflict, match="not claimed by this connector"):
        deliveries.claimed_message(session, nas, token, filed[0])
    [delivery] = deliveries.claim(session, nas, token, limit=1, lease_seconds=LEASE)
    download = deliveries.claimed_message(session, nas, token, delivery["id"].upper())
    data = b"".join(download.chunks(runtime.blobs, chunk_size=16))
    assert data == runtime.blobs.get(session.get(Filing, filed[0]).tenant_id, download.sha256)  # type: ignore[union-attr]
    assert len(data) == download.size


def test_two_claimers_at_once_never_get_the_same_filing(runtime: Runtime, tenant: Tenant) -> None:
    ids = archive_messages(runtime, tenant.id, *(f"Message {i}" for i in range(40)))
    with runtime.transaction() as session:
        locations.create_location(session, tenant.id, {"name": "Surrey", "sync_path": "/srv/surrey"})
        filings.file_messages(session, tenant.id, "Surrey", ids, source="api", filed_by="a")
        connector = _connector(session, tenant, "nas")
        token = _lease(session, connector, now=utcnow())
        connector_id = connector.id
    got: list[list[str]] = []
    barrier = threading.Barrier(4)

    def claimer() -> None:
        barrier.wait()
        for _ in range(5):
            with runtime.transaction() as session:
                me = session.get(Connector, connector_id)
                assert me is not None
                got.append([d["id"] for d in deliveries.claim(session, me, token, limit=3, lease_seconds=LEASE)])

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with runtime.transaction() as session:  # what the races left over
        me = session.get(Connector, connector_id)
        assert me is not None
        got.append([d["id"] for d in deliveries.claim(session, me, token, limit=500, lease_seconds=LEASE)])
    handed = [filing_id for batch in got for filing_id in batch]
    assert len(handed) == len(set(handed)) == 40
