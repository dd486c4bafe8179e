"""A directory sync keeps a heartbeat; one whose worker died is ended by the scheduler, not left running."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from postroom.db.models import Process, Tenant
from postroom.db.types import utcnow
from postroom.domain.mailbox_list import DirectoryEntry
from postroom.domain.process import ProcessStatus, ProcessType
from postroom.runtime import Runtime
from postroom.services import directories, processes, scheduler

STATIC = {"name": "Board", "type": "static", "entries": "address\nanna@example.com\nbob@example.com"}


def _process(runtime: Runtime, tenant: Tenant, alive_for: float | None, *, finished: bool = False) -> str:
    with runtime.transaction() as session:
        process = processes.start_process(session, tenant.id, ProcessType.DIRECTORY_SYNC)
        process.status = ProcessStatus.RUNNING.value
        process.alive_until = None if alive_for is None else utcnow() + timedelta(seconds=alive_for)
        if finished:
            processes.finish_process(session, process, ProcessStatus.SUCCEEDED)
        return process.id


def test_the_scheduler_ends_a_process_whose_heartbeat_stopped(runtime: Runtime, tenant: Tenant) -> None:
    dead = _process(runtime, tenant, -1)
    alive = _process(runtime, tenant, 60)
    unwatched = _process(runtime, tenant, None)  # profile runs: their lock has the heartbeat
    done = _process(runtime, tenant, -1, finished=True)
    with runtime.transaction() as session:
        scheduler.tick(session, utcnow(), runtime.settings.run_lease_seconds)
    with runtime.sessions() as session:
        status = dict(session.execute(select(Process.id, Process.status)).all())  # type: ignore[arg-type]
        assert status == {dead: "failed", alive: "running", unwatched: "running", done: "succeeded"}
        ended = processes.process_to_dict(session, session.get(Process, dead), details=True)  # type: ignore[arg-type]
    assert ended["max_severity"] == "error"
    assert "the worker running this process stopped" in ended["messages"][-1]["text"]


def test_a_directory_sync_renews_its_heartbeat_while_it_runs(
    runtime: Runtime, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    with runtime.transaction() as session:
        directories.create_directory(session, tenant.id, STATIC)
    seen: list[Any] = []
    real_open = directories.open_directory

    class Watching:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def mailboxes(self) -> list[DirectoryEntry]:
            with runtime.sessions() as session:  # mid-sync: the row says the worker is alive
                seen.extend(
                    session.scalars(select(Process.alive_until).where(Process.type == ProcessType.DIRECTORY_SYNC))
                )
            return list(self.inner.mailboxes())

    monkeypatch.setattr(directories, "open_directory", lambda *args: Watching(real_open(*args)))
    result = directories.synchronize_users(runtime, tenant.id, "Board")
    assert result.status is ProcessStatus.SUCCEEDED and result.created == 2
    [alive_until] = seen
    assert alive_until > utcnow() + timedelta(seconds=runtime.settings.run_lease_seconds / 2)
    with runtime.transaction() as session:  # finished: the scheduler leaves it alone for ever after
        scheduler.tick(session, utcnow() + timedelta(days=1), runtime.settings.run_lease_seconds)
    with runtime.sessions() as session:
        assert session.scalar(select(Process.status).where(Process.type == ProcessType.DIRECTORY_SYNC)) == "succeeded"
