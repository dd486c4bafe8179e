"""Multiple-mailbox runs fanned out over the task queue: one task per mailbox, whichever worker
takes it; the run's lock stays with the run until its last mailbox finishes it. The queue is a
list here and the "workers" are threads of the test; tests/e2e/test_cluster_e2e.py has the real
processes."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import select

from postroom.db.models import Process, ProfileRun, Tenant
from postroom.domain.process import ProcessStatus, ProcessType
from postroom.runtime import Runtime
from postroom.services import processes
from postroom.services.scheduler import (
    MailboxTask,
    Outcome,
    QueuedRun,
    execute_mailbox,
    execute_queued,
    queue_run,
    run_holder,
)
from postroom.testing.dovecot import Dovecot
from tests.sync.test_multiple_mailboxes import _staff


def _queued(runtime: Runtime, tenant: Tenant, profile_id: str) -> QueuedRun:
    with runtime.transaction() as session:
        run, _process = queue_run(session, tenant.id, profile_id)
        return run


def _fan_out(runtime: Runtime, run: QueuedRun) -> list[MailboxTask]:
    tasks: list[MailboxTask] = []
    assert execute_queued(runtime, run, holder="fanner", fan_out=tasks.extend) is Outcome.FANNED_OUT
    return tasks


def _status(runtime: Runtime, process_id: str) -> str:
    with runtime.sessions() as session:
        process = session.get(Process, process_id)
        assert process is not None
        return process.status


def _lock(runtime: Runtime, profile_id: str) -> tuple[str | None, str | None]:
    with runtime.sessions() as session:
        row = session.get(ProfileRun, profile_id)
        return (row.process_id, row.holder) if row else (None, None)


def test_each_mailbox_is_a_task_and_the_last_one_finishes_the_run(
    runtime: Runtime, tenant: Tenant, dovecot: Dovecot
) -> None:
    staff = _staff(runtime, tenant, dovecot, 6)
    run = _queued(runtime, tenant, staff.profile_id)
    tasks = _fan_out(runtime, run)
    assert sorted(t.address for t in tasks) == sorted(f"{u}@example.test" for u in staff.users)
    assert _status(runtime, run.process_id) == "running"
    assert _lock(runtime, staff.profile_id) == (run.process_id, run_holder(run.process_id))  # passed to the run
    with runtime.sessions() as session:
        children = session.scalars(select(Process.status).where(Process.parent_id == run.process_id)).all()
    assert sorted(children) == ["queued"] * 6

    outcomes: list[Outcome] = []
    workers = [
        threading.Thread(target=lambda part=tasks[n::3]: outcomes.extend(execute_mailbox(runtime, t) for t in part))
        for n in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    later = [t for t, o in zip(tasks, outcomes, strict=False) if o is Outcome.LATER]
    for task in later:  # what the queue would ask again a second later
        assert execute_mailbox(runtime, task) is Outcome.SUCCEEDED
    assert _status(runtime, run.process_id) == "succeeded"
    assert _lock(runtime, staff.profile_id) == (None, None)  # released by the last mailbox
    assert execute_mailbox(runtime, tasks[0]) is Outcome.DROPPED  # a task delivered twice does nothing


def test_a_run_syncs_no_more_mailboxes_at_once_than_allowed(
    runtime: Runtime, tenant: Tenant, dovecot: Dovecot, override_settings: Callable[..., None]
) -> None:
    staff = _staff(runtime, tenant, dovecot, 2)
    run = _queued(runtime, tenant, staff.profile_id)
    first, second = _fan_out(runtime, run)
    with runtime.transaction() as session:  # the first mailbox is being synced by another worker
        child = session.get(Process, first.child_id)
        assert child is not None
        child.status = ProcessStatus.RUNNING.value
    override_settings(mailboxes_in_parallel=1)
    assert execute_mailbox(runtime, second) is Outcome.LATER
    assert _status(runtime, second.child_id) == "queued"


def test_a_failed_mailbox_fails_the_run_and_is_named(runtime: Runtime, tenant: Tenant, dovecot: Dovecot) -> None:
    staff = _staff(runtime, tenant, dovecot, 1, extra="\nghost-nobody@example.test,Ghost")
    run = _queued(runtime, tenant, staff.profile_id)
    outcomes = sorted(execute_mailbox(runtime, task).value for task in _fan_out(runtime, run))
    assert outcomes == ["failed", "succeeded"]
    assert _status(runtime, run.process_id) == "failed"
    with runtime.sessions() as session:
        shown = processes.process_to_dict(
            session, processes.get_process(session, tenant.id, run.process_id), details=True
        )
    assert any("1 of 2 mailboxes failed: ghost-nobody@example.test" in m["text"] for m in shown["messages"])


def test_cancelling_the_run_cancels_the_mailboxes_not_yet_started(
    runtime: Runtime, tenant: Tenant, dovecot: Dovecot
) -> None:
    staff = _staff(runtime, tenant, dovecot, 3)
    run = _queued(runtime, tenant, staff.profile_id)
    tasks = _fan_out(runtime, run)
    with runtime.transaction() as session:
        processes.request_cancel(session, tenant.id, run.process_id)
    assert [execute_mailbox(runtime, t) for t in tasks] == [Outcome.CANCELLED] * 3
    assert _status(runtime, run.process_id) == "cancelled"
    with runtime.sessions() as session:
        kinds = session.scalars(
            select(Process.status).where(
                Process.parent_id == run.process_id, Process.type == ProcessType.MAILBOX_SYNC.value
            )
        ).all()
    assert set(kinds) == {"cancelled"}
    assert _lock(runtime, staff.profile_id) == (None, None)
