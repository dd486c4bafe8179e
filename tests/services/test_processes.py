"""The process log: request IDs, severity rising to parents, filters, cancel, details."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from postroom.db.models import Tenant
from postroom.domain.process import ProcessStatus, ProcessType, Severity
from postroom.errors import Conflict, InvalidInput, NotFound
from postroom.services import processes as log
from postroom.services.processes import ProcessFilter


def test_subprocess_errors_raise_the_parents_severity(session: Session, tenant: Tenant) -> None:
    run = log.start_process(session, tenant.id, ProcessType.FOLDER_SYNC)
    child = log.start_process(session, tenant.id, ProcessType.MAILBOX_SYNC, parent=run)
    log.log(session, run, Severity.INFO, "starting")
    log.log(session, child, Severity.WARNING, "folder Junk skipped")
    assert run.max_severity == Severity.WARNING
    log.log(session, child, Severity.ERROR, "login failed")
    log.log(session, child, Severity.INFO, "done")
    assert (child.max_severity, run.max_severity) == (Severity.ERROR, Severity.ERROR)
    log.finish_process(session, child)
    log.finish_process(session, run)
    assert (child.status, run.status) == (ProcessStatus.FAILED, ProcessStatus.FAILED)
    details = log.process_to_dict(session, run, details=True)
    assert [m["text"] for m in details["messages"]] == ["starting"]
    assert details["subprocesses"][0]["messages"][1] == {
        "time": details["subprocesses"][0]["messages"][1]["time"],
        "severity": "error",
        "text": "login failed",
    }


def test_request_ids_are_unique_and_findable(session: Session, tenant: Tenant) -> None:
    ids = {log.start_process(session, tenant.id, ProcessType.CONNECTION_TEST).request_id for _ in range(50)}
    assert len(ids) == 50
    some = next(iter(ids))
    assert log.get_process(session, tenant.id, some.lower()).request_id == some


def test_filters(session: Session, tenant: Tenant) -> None:
    ok = log.start_process(session, tenant.id, ProcessType.FOLDER_SYNC)
    log.finish_process(session, ok)
    bad = log.start_process(session, tenant.id, ProcessType.DIRECTORY_SYNC)
    log.log(session, bad, Severity.ERROR, "LDAP bind failed")
    log.start_process(session, tenant.id, ProcessType.MAILBOX_SYNC, parent=ok)

    def ids(**kw: object) -> set[str]:
        return {p.id for p in log.list_processes(session, tenant.id, ProcessFilter(**kw))}  # type: ignore[arg-type]

    assert ids() == {ok.id, bad.id}  # top-level only by default
    assert len(ids(include_subprocesses=True)) == 3
    assert ids(type=ProcessType.DIRECTORY_SYNC) == {bad.id}
    assert ids(min_severity=Severity.WARNING) == {bad.id}
    assert ids(request_id=ok.request_id) == {ok.id}
    assert ids(status=ProcessStatus.SUCCEEDED) == {ok.id}
    now = datetime.now(UTC)
    assert ids(since=now - timedelta(minutes=5), until=now + timedelta(minutes=5)) == {ok.id, bad.id}
    assert ids(since=now + timedelta(minutes=5)) == set()
    with pytest.raises(InvalidInput, match="since"):
        ProcessFilter(since=now, until=now - timedelta(days=1))
    with pytest.raises(InvalidInput, match="time zone"):
        ProcessFilter(since=datetime(2026, 1, 1))


def test_cancel(session: Session, tenant: Tenant) -> None:
    running = log.start_process(session, tenant.id, ProcessType.FOLDER_SYNC)
    log.request_cancel(session, tenant.id, running.request_id)
    assert running.cancel_requested and running.status == ProcessStatus.RUNNING
    log.finish_process(session, running)
    assert running.status == ProcessStatus.CANCELLED
    with pytest.raises(Conflict, match="already finished"):
        log.request_cancel(session, tenant.id, running.id)
    queued = log.start_process(session, tenant.id, ProcessType.FOLDER_SYNC, status=ProcessStatus.QUEUED)
    assert log.request_cancel(session, tenant.id, queued.id).status == ProcessStatus.CANCELLED
    with pytest.raises(NotFound):
        log.request_cancel(session, tenant.id, "R-0000000000000000")
