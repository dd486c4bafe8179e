"""Scale-out with real processes: ``postroom serve`` (scheduler only) and ``postroom worker`` on a
Redis queue, a real Dovecot mailbox, and a worker killed with SIGKILL in the middle of a run.

The test process shares the database and blob store with the processes it starts; it queues the
run with the real ``postroom schedule run`` command and reads the outcome from the process log.
"""

from __future__ import annotations

import random
import signal
from pathlib import Path

import pytest

from postroom.config import Settings
from postroom.db.models import Process
from postroom.runtime import Runtime
from postroom.services import processes, schedules
from postroom.testing.processes import ServeProcess, wait_for
from tests.cli.conftest import cli_env
from tests.e2e.conftest import Cluster, run_status
from tests.sync.conftest import Mailbox
from tests.sync.test_crash_safety import assert_archive_is_exactly_the_source, fill

pytestmark = pytest.mark.usefixtures("runtime")


def queue_by_cli(cluster: Cluster, mailbox: Mailbox) -> str:
    with cluster.runtime.transaction() as s:
        schedules.create_schedule(
            s,
            mailbox.tenant.id,
            {"name": "Nightly", "profile_id": mailbox.profile_id, "recurrence": {"kind": "daily", "at": "02:00"}},
        )
    out = cluster.cli("schedule", "run", "nightly").stdout
    request_id = out.split()[1]
    assert request_id.startswith("R-") and run_status(cluster.runtime, mailbox.tenant.id, request_id) in {
        "queued",
        "running",
    }
    return request_id


def test_a_worker_process_runs_a_queued_profile(cluster: Cluster, mailbox: Mailbox) -> None:
    fill(mailbox, random.Random(7), 40)
    request_id = queue_by_cli(cluster, mailbox)
    with cluster.worker("worker-1") as worker:
        wait_for(
            lambda: run_status(cluster.runtime, mailbox.tenant.id, request_id) == "succeeded",
            "the run to succeed",
            detail=cluster.logs,
        )
        worker.signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0, worker.log()
    assert "postroom worker stopped" in worker.log()
    assert_archive_is_exactly_the_source(mailbox)
    listed = cluster.cli("schedule", "list", "--json").json()
    assert listed[0]["last_process"] == {
        "id": listed[0]["last_process"]["id"],
        "request_id": request_id,
        "status": "succeeded",
    }


def test_a_worker_killed_mid_run_is_replaced_and_every_message_is_archived_once(
    cluster: Cluster, mailbox: Mailbox
) -> None:
    fill(mailbox, random.Random(20261123), 600)
    total = sum(len(v) for v in mailbox.source().values())
    with cluster.worker("worker-1") as first:
        request_id = queue_by_cli(cluster, mailbox)
        wait_for(lambda: mailbox.stored_messages() >= 40, "the first messages", every=0.01, detail=cluster.logs)
        first.kill()  # SIGKILL: no goodbye, the lock is left to expire
    stored_at_kill = mailbox.stored_messages()
    assert stored_at_kill < total, "the run finished before the kill; make the mailbox bigger"
    assert run_status(cluster.runtime, mailbox.tenant.id, request_id) == "running"

    with cluster.worker("worker-2"):
        wait_for(
            lambda: run_status(cluster.runtime, mailbox.tenant.id, request_id) == "succeeded",
            "the run to be taken over and to succeed",
            timeout=120,
            detail=cluster.logs,
        )
    assert_archive_is_exactly_the_source(mailbox)
    with cluster.runtime.sessions() as s:
        process = processes.get_process(s, mailbox.tenant.id, request_id)
        details = processes.process_to_dict(s, process, details=True)
        assert s.get(Process, process.id) is not None
    texts = [m["text"] for m in details["messages"]]
    assert any("the worker running this process stopped" in t for t in texts), texts
    # the killed attempt's mailbox sub-process is closed as failed, the second one succeeded
    assert [c["status"] for c in details["subprocesses"]] == ["failed", "succeeded"]


def test_sigterm_gives_a_grace_period_then_hands_the_run_back(cluster: Cluster, mailbox: Mailbox) -> None:
    fill(mailbox, random.Random(99), 600)
    with cluster.worker("worker-1") as first:
        request_id = queue_by_cli(cluster, mailbox)
        wait_for(lambda: mailbox.stored_messages() >= 40, "the first messages", every=0.01, detail=cluster.logs)
        first.signal(signal.SIGTERM)
        assert first.wait(timeout=40) == 0, first.log()
    assert "postroom worker stopped" in first.log()
    with cluster.worker("worker-2"):
        wait_for(
            lambda: run_status(cluster.runtime, mailbox.tenant.id, request_id) == "succeeded",
            "the run to finish (in the grace period or after the hand-back)",
            timeout=120,
            detail=cluster.logs,
        )
    assert_archive_is_exactly_the_source(mailbox)


def test_embedded_serve_runs_schedules_with_its_own_workers_and_stops_cleanly(
    runtime: Runtime, settings: Settings, database_url: str, mailbox: Mailbox, tmp_path: Path
) -> None:
    """No Redis and no worker process: ``postroom serve`` alone, its queue a SQLite file."""
    data_dir = tmp_path / "data"  # a queue.db of its own
    env = cli_env(
        data_dir,
        database_url,
        POSTROOM_SECRET_KEY=str(settings.secret_key),
        POSTROOM_TENANT="acme",
        POSTROOM_SCHEDULER_SECONDS="0.5",
        POSTROOM_BLOB_DIR=str(settings.resolved_blob_dir),
    )
    fill(mailbox, random.Random(3), 25)
    with runtime.transaction() as s:
        schedule = schedules.create_schedule(
            s,
            mailbox.tenant.id,
            {
                "name": "Often",
                "profile_id": mailbox.profile_id,
                "recurrence": {"kind": "interval", "every_minutes": 15},
            },
        )
        schedule.next_run_at = schedule.created_at  # due now
    with ServeProcess(env, tmp_path / "serve.log").start() as serve:
        wait_for(
            lambda: cli_status(runtime, mailbox) == "succeeded",
            "the due schedule to run inside serve",
            detail=serve.log,
        )
        assert (data_dir / "queue.db").exists()
        serve.signal(signal.SIGTERM)
        assert serve.wait(timeout=30) == 0, serve.log()
    assert_archive_is_exactly_the_source(mailbox)


def cli_status(runtime: Runtime, mailbox: Mailbox) -> str | None:
    with runtime.sessions() as s:
        schedule = schedules.get_schedule(s, mailbox.tenant.id, "often")
        data = schedules.schedule_to_dict(s, schedule)
    return data["last_process"]["status"] if data["last_process"] else None
