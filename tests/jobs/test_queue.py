"""The task queue with real storage: huey on SQLite in a temporary folder and on the local Redis,
running real syncs from a real Dovecot with the in-process workers that ``postroom serve`` uses."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from huey import RedisHuey, SqliteHuey
from sqlalchemy import select

from postroom.db.models import Process, Tenant
from postroom.db.types import utcnow
from postroom.domain.process import ProcessStatus
from postroom.jobs.background import make_consumer, scheduler_pass
from postroom.jobs.queue import TaskQueue
from postroom.runtime import Runtime
from postroom.services import processes, schedules
from postroom.services.scheduler import queue_run
from postroom.testing.processes import free_port, wait_for
from tests.sync.conftest import Mailbox, make_message

REDIS_URL = "redis://127.0.0.1:6379/0"


def sqlite_huey(folder: Path) -> Any:
    return SqliteHuey(f"test-{secrets.token_hex(4)}", filename=str(folder / "queue.db"), results=False)


def redis_huey() -> Any:
    return RedisHuey(f"postroom-test-{secrets.token_hex(6)}", url=REDIS_URL, results=False)


@pytest.fixture(params=["sqlite", "redis"])
def queue(request: pytest.FixtureRequest, runtime: Runtime, tmp_path: Path) -> Iterator[TaskQueue]:
    """A queue on the storage named by the parameter, with two in-process workers running it."""
    huey = sqlite_huey(tmp_path) if request.param == "sqlite" else redis_huey()
    task_queue = TaskQueue(runtime, huey)
    consumer = make_consumer(task_queue, 2, embedded=True)
    consumer.start()
    try:
        yield task_queue
    finally:
        consumer.stop(graceful=True)
        huey.flush()  # Redis: deletes this queue's keys


def status(runtime: Runtime, process_id: str) -> str:
    with runtime.sessions() as s:
        process = s.get(Process, process_id)
        assert process is not None
        return process.status


def wait_finished(runtime: Runtime, process_id: str, timeout: float = 60) -> str:
    wait_for(lambda: ProcessStatus(status(runtime, process_id)).finished, f"process {process_id} to finish", timeout)
    return status(runtime, process_id)


def test_a_queued_run_archives_the_mailbox(
    runtime: Runtime, tenant: Tenant, queue: TaskQueue, mailbox: Mailbox
) -> None:
    for n in range(3):
        mailbox.append("INBOX", make_message(f"queued {n}"))
    with runtime.transaction() as s:
        run, _ = queue_run(s, tenant.id, mailbox.profile_id)
    queue.enqueue(run)
    assert wait_finished(runtime, run.process_id) == "succeeded"
    assert mailbox.archive() == mailbox.source()
    assert mailbox.stored_messages() == 3


def test_a_due_schedule_runs_through_the_scheduler(
    runtime: Runtime, tenant: Tenant, queue: TaskQueue, mailbox: Mailbox
) -> None:
    mailbox.append("INBOX", make_message("scheduled"))
    with runtime.transaction() as s:
        schedule = schedules.create_schedule(
            s,
            tenant.id,
            {
                "name": "hourly",
                "profile_id": mailbox.profile_id,
                "recurrence": {"kind": "interval", "every_minutes": 60},
            },
        )
        schedule.next_run_at = utcnow() - timedelta(minutes=1)
        schedule_id = schedule.id
    runs = scheduler_pass(runtime, queue)
    assert [r.schedule_id for r in runs] == [schedule_id]
    assert scheduler_pass(runtime, queue) == []
    assert wait_finished(runtime, runs[0].process_id) == "succeeded"
    assert mailbox.stored_messages() == 1
    with runtime.sessions() as s:
        data = schedules.schedule_to_dict(s, schedules.get_schedule(s, tenant.id, schedule_id))
    assert data["last_process"]["status"] == "succeeded"
    assert data["next_run_at"] > utcnow().isoformat()


def test_two_runs_of_one_profile_never_overlap(
    runtime: Runtime, tenant: Tenant, queue: TaskQueue, mailbox: Mailbox
) -> None:
    for n in range(30):
        mailbox.append("INBOX", make_message(f"overlap {n}", body="x" * 20_000))
    with runtime.transaction() as s:
        runs = [queue_run(s, tenant.id, mailbox.profile_id)[0] for _ in range(2)]
    for run in runs:
        queue.enqueue(run)
    outcomes = sorted(wait_finished(runtime, run.process_id) for run in runs)
    # both workers took one at once (the second is skipped), or one after the other (both succeed)
    assert outcomes in (["skipped", "succeeded"], ["succeeded", "succeeded"])
    assert mailbox.stored_messages() == 30
    with runtime.sessions() as s:
        started = [s.get(Process, r.process_id) for r in runs]
        spans = [(p.started_at, p.finished_at) for p in started if p is not None and p.status == "succeeded"]
    spans.sort()
    for (_s1, end1), (start2, _e2) in itertools.pairwise(spans):
        assert end1 is not None and start2 is not None and end1 <= start2


def test_an_unreachable_server_is_retried_with_back_off_then_fails(
    runtime: Runtime, tenant: Tenant, mailbox: Mailbox, tmp_path: Path, override_settings: Callable[..., None]
) -> None:
    override_settings(run_retry_seconds=0)
    mailbox.edit(server_name="127.0.0.1", port=free_port(), timeout=2)
    task_queue = TaskQueue(runtime, sqlite_huey(tmp_path))
    consumer = make_consumer(task_queue, 1, embedded=True)
    consumer.start()
    try:
        with runtime.transaction() as s:
            run, _ = queue_run(s, tenant.id, mailbox.profile_id)
        task_queue.enqueue(run)
        assert wait_finished(runtime, run.process_id) == "failed"
    finally:
        consumer.stop(graceful=True)
    with runtime.sessions() as s:
        details = processes.process_to_dict(s, processes.get_process(s, tenant.id, run.process_id), details=True)
    assert len(details["subprocesses"]) == 4  # the first attempt and three retries
    assert [m["text"] for m in details["messages"] if "will try again" in m["text"]] == [
        "will try again (3 attempts left)",
        "will try again (2 attempts left)",
        "will try again (1 attempts left)",
    ]


def test_a_queue_that_cannot_take_a_run_fails_it_with_the_reason(
    runtime: Runtime, tenant: Tenant, mailbox: Mailbox
) -> None:
    dead = RedisHuey("postroom-test-dead", url=f"redis://127.0.0.1:{free_port()}/0", results=False)
    with runtime.transaction() as s:
        run, _ = queue_run(s, tenant.id, mailbox.profile_id)
    TaskQueue(runtime, dead).enqueue(run)
    assert status(runtime, run.process_id) == "failed"
    with runtime.sessions() as s:
        process = s.scalar(select(Process).where(Process.id == run.process_id))
        assert process is not None
        assert "the task queue did not take the run" in process.messages[-1].text
