"""Filings against the database: one per (location, message), all or nothing, safe when concurrent."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy.orm import Session

from postroom.db.models import Tenant
from postroom.errors import Conflict, InvalidInput, NotFound
from postroom.runtime import Runtime
from postroom.services import filings, locations
from postroom.services.access import Actor
from postroom.services.tenants import create_tenant
from postroom.testing.archive import archive_messages

SURREY = {"name": "Surrey Court", "sync_path": "/srv/projects/Surrey Court"}


@pytest.fixture
def messages(runtime: Runtime, tenant: Tenant) -> list[int]:
    with runtime.transaction() as session:
        locations.create_location(session, tenant.id, SURREY)
    return archive_messages(runtime, tenant.id, "Drawings", "Invoice", "Site visit")


def _file(session: Session, tenant: Tenant, ids: list[int], to: str = "Surrey Court") -> filings.FilingResult:
    return filings.file_messages(session, tenant.id, to, ids, source="api", filed_by="anna@example.com")


def test_filing_twice_is_one_filing(runtime: Runtime, tenant: Tenant, messages: list[int]) -> None:
    with runtime.transaction() as session:
        first = _file(session, tenant, [messages[0], messages[1], messages[0]])
        assert [f.message_id for f in first.created] == messages[:2] and first.already == []
        data = filings.filing_to_dict(session, first.created[0])
        assert (data["status"], data["source"], data["filed_by"], data["attempts"]) == (
            "pending",
            "api",
            "anna@example.com",
            0,
        )
        assert data["location"] == "Surrey Court"
    with runtime.transaction() as session:
        again = filings.file_messages(session, tenant.id, "surrey court", messages, source="cli", filed_by="x")
        assert [f.message_id for f in again.created] == [messages[2]]
        assert [f.id for f in again.already] == [f.id for f in first.created]
        assert {f.source for f in again.already} == {"api"}  # unchanged
        assert len(filings.list_filings(session, tenant.id)) == 3


def test_a_bad_message_id_files_nothing(session: Session, tenant: Tenant, messages: list[int]) -> None:
    missing = max(messages) + 1000
    with pytest.raises(NotFound, match=f"message '{missing}' not found"):
        _file(session, tenant, [messages[0], missing])
    with pytest.raises(NotFound):
        _file(session, tenant, [2**64])
    assert filings.list_filings(session, tenant.id) == []
    with pytest.raises(InvalidInput, match="message_ids"):
        _file(session, tenant, [])


def test_another_tenants_message_is_not_found(runtime: Runtime, tenant: Tenant, messages: list[int]) -> None:
    with runtime.transaction() as session:
        other = create_tenant(session, Actor.local_admin(), "other")
        locations.create_location(session, other.id, SURREY)
    with runtime.transaction() as session, pytest.raises(NotFound, match="message"):
        filings.file_messages(session, other.id, "Surrey Court", messages[:1], source="api", filed_by="x")
    with runtime.transaction() as session:
        filing = _file(session, tenant, messages[:1]).created[0]
    with runtime.transaction() as session:
        with pytest.raises(NotFound):
            filings.get_filing(session, other.id, filing.id)
        with pytest.raises(NotFound):
            filings.unfile(session, other.id, filing.id)
        assert filings.list_filings(session, other.id) == []


def test_a_disabled_location_takes_no_filings(session: Session, tenant: Tenant, messages: list[int]) -> None:
    locations.update_location(session, tenant.id, "Surrey Court", {"enabled": False})
    with pytest.raises(InvalidInput) as caught:
        _file(session, tenant, messages)
    assert caught.value.errors[0].field == "location" and "disabled" in caught.value.errors[0].message
    with pytest.raises(NotFound, match="location"):
        _file(session, tenant, messages, to="Nowhere")


def test_list_filters_and_unfile(runtime: Runtime, tenant: Tenant, messages: list[int]) -> None:
    with runtime.transaction() as session:
        locations.create_location(session, tenant.id, {"name": "Harbour", "sync_path": "/srv/projects/Harbour"})
        surrey = _file(session, tenant, messages).created
        _file(session, tenant, messages[:1], to="Harbour")
        surrey[1].status, surrey[1].written_path = "written", "/srv/projects/Surrey Court/20261122T101530Z Invoice.msg"
    with runtime.transaction() as session:
        assert len(filings.list_filings(session, tenant.id, location="harbour")) == 1
        assert [f.id for f in filings.list_filings(session, tenant.id, status="WRITTEN")] == [surrey[1].id]
        assert len(filings.list_filings(session, tenant.id, limit=2)) == 2
        with pytest.raises(InvalidInput, match="status: must be one of pending"):
            filings.list_filings(session, tenant.id, status="done")
        with pytest.raises(Conflict, match="file exists in the location's folder"):
            filings.unfile(session, tenant.id, surrey[1].id)
        filings.unfile(session, tenant.id, surrey[0].id.upper())
        with pytest.raises(NotFound):
            filings.get_filing(session, tenant.id, surrey[0].id)
        with pytest.raises(NotFound):
            filings.get_filing(session, tenant.id, "\x00")


def test_concurrent_filers_make_one_filing_per_message(runtime: Runtime, tenant: Tenant, messages: list[int]) -> None:
    results: list[filings.FilingResult] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def work() -> None:
        try:
            with runtime.transaction() as session:
                barrier.wait()
                results.append(_file(session, tenant, messages))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    created = sorted(f.message_id for r in results for f in r.created)
    already = sorted(f.message_id for r in results for f in r.already)
    assert created == sorted(messages) and already == sorted(messages)
    with runtime.transaction() as session:
        assert len(filings.list_filings(session, tenant.id)) == 3
