"""Directory-synchronization schedules: type fixed, naming a directory service; when due they
queue a ``directory-sync`` process that a worker runs (creating archive mailboxes for new users)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from postroom.db.archive import ArchiveMailbox
from postroom.db.models import Process, Tenant
from postroom.db.types import utcnow
from postroom.domain.schedule import validate_schedule
from postroom.errors import InvalidInput
from postroom.runtime import Runtime
from postroom.services import directories, schedules
from postroom.services.scheduler import Outcome, QueuedDirectorySync, execute_directory_sync_task, tick

STAFF = {"name": "Staff", "type": "static", "entries": "anna@example.com,Anna\nbob@example.com,Bob"}


def _schedule(runtime: Runtime, tenant: Tenant, **fields: object) -> dict[str, object]:
    with runtime.transaction() as session:
        raw = {
            "name": "Users nightly",
            "type": "directory-sync",
            "recurrence": {"kind": "interval", "every_minutes": 15},
            **fields,
        }
        return schedules.schedule_to_dict(session, schedules.create_schedule(session, tenant.id, raw))


def test_a_due_directory_schedule_queues_a_directory_sync_that_creates_mailboxes(
    runtime: Runtime, tenant: Tenant
) -> None:
    with runtime.transaction() as session:
        directories.create_directory(session, tenant.id, STAFF)
    created = _schedule(runtime, tenant, directory_service_id="staff")
    assert (created["type"], created["directory_service_name"], created["profile_id"]) == (
        "directory-sync",
        "Staff",
        None,
    )
    with runtime.transaction() as session:
        later = utcnow().replace(year=utcnow().year + 1)
        runs = tick(session, later)
    assert len(runs) == 1 and isinstance(runs[0], QueuedDirectorySync)
    assert execute_directory_sync_task(runtime, runs[0]) is Outcome.SUCCEEDED
    assert execute_directory_sync_task(runtime, runs[0]) is Outcome.DROPPED  # delivered twice: nothing more
    with runtime.sessions() as session:
        process = session.get(Process, runs[0].process_id)
        assert process is not None and (process.type, process.status) == ("directory-sync", "succeeded")
        addresses = set(session.scalars(select(ArchiveMailbox.address).where(ArchiveMailbox.tenant_id == tenant.id)))
    assert addresses == {"anna@example.com", "bob@example.com"}


def test_a_directory_schedule_needs_a_directory_and_no_profile(runtime: Runtime, tenant: Tenant) -> None:
    with pytest.raises(InvalidInput) as missing:
        _schedule(runtime, tenant)
    assert [e.field for e in missing.value.errors] == ["directory_service_id"]
    with pytest.raises(InvalidInput, match="no directory service named or with ID 'nope'"):
        _schedule(runtime, tenant, directory_service_id="nope")
    with runtime.transaction() as session:
        directories.create_directory(session, tenant.id, STAFF)
    both = {"name": "x", "type": "directory-sync", "recurrence": {"kind": "daily", "at": "02:00"}}
    with pytest.raises(InvalidInput, match="only a folder-sync schedule names a profile"):
        validate_schedule({**both, "directory_service_id": "d1", "profile_id": "p1"})
    with pytest.raises(InvalidInput, match="only a directory-sync schedule names a directory service"):
        validate_schedule({**both, "type": "folder-sync", "directory_service_id": "d1", "profile_id": "p1"})
