"""The scheduler against the database: claiming due schedules once, catch-up, pausing, editing,
the per-profile lock (no overlap, skipped runs), and re-queueing runs whose worker died."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from postroom.db.models import Process, ProfileRun, Schedule, Secret, Tenant
from postroom.db.types import utcnow
from postroom.domain.process import ProcessStatus
from postroom.runtime import Runtime
from postroom.services import processes, profile_runs, profiles, schedules, secrets
from postroom.services.profile_runs import Claim
from postroom.services.scheduler import Outcome, QueuedRun, execute_prepared, execute_queued, queue_run, tick
from postroom.services.sync import prepare_run
from postroom.testing.processes import free_port

NOW = datetime(2026, 11, 23, 10, 7, tzinfo=UTC)
LEASE = 60


@pytest.fixture
def profile_id(runtime: Runtime, tenant: Tenant) -> str:
    """A single-mailbox IMAP profile whose server refuses connections (nothing listens on the port)."""
    with runtime.transaction() as s:
        secrets.create_secret(
            s, runtime.secret_box, tenant.id, "Mail login", "basic", {"username": "anna", "password": "pw-1"}
        )
        profile = profiles.create_profile(
            s,
            tenant.id,
            {
                "name": "Main IMAP",
                "type": "imap",
                "mode": "single",
                "server_name": "127.0.0.1",
                "port": free_port(),
                "protocol": "IMAP-SSL",
                "secret_id": "mail login",
                "mailbox": "anna@example.com",
                "timeout": 5,
            },
        )
        return profile.id


def make_schedule(runtime: Runtime, tenant: Tenant, profile_id: str, **recurrence: object) -> str:
    with runtime.transaction() as s:
        schedule = schedules.create_schedule(
            s,
            tenant.id,
            {
                "name": "Every quarter",
                "profile_id": profile_id,
                "recurrence": recurrence or {"kind": "interval", "every_minutes": 15},
            },
        )
        return schedule.id


def set_next(runtime: Runtime, schedule_id: str, when: datetime) -> None:
    with runtime.transaction() as s:
        schedule = s.get(Schedule, schedule_id)
        assert schedule is not None
        schedule.next_run_at = when


def run_tick(runtime: Runtime, now: datetime) -> list[QueuedRun]:
    with runtime.transaction() as s:
        return tick(s, now, LEASE)


def queued(runtime: Runtime, tenant: Tenant) -> list[Process]:
    with runtime.sessions() as s:
        return list(s.scalars(select(Process).where(Process.tenant_id == tenant.id, Process.parent_id.is_(None))))


def test_a_new_schedule_knows_when_it_runs_next(runtime: Runtime, tenant: Tenant, profile_id: str) -> None:
    schedule_id = make_schedule(runtime, tenant, profile_id, kind="daily", at="02:30")
    with runtime.sessions() as s:
        data = schedules.schedule_to_dict(s, schedules.get_schedule(s, tenant.id, schedule_id))
    due = datetime.fromisoformat(data["next_run_at"])
    assert due > datetime.now(UTC) and (due.hour, due.minute) == (2, 30)
    assert data["last_run_at"] is None and data["last_process"] is None


def test_a_due_schedule_is_queued_once_and_moves_on(runtime: Runtime, tenant: Tenant, profile_id: str) -> None:
    schedule_id = make_schedule(runtime, tenant, profile_id)
    set_next(runtime, schedule_id, datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    assert run_tick(runtime, NOW - timedelta(minutes=10)) == []  # not yet due
    runs = run_tick(runtime, NOW)
    assert [(r.profile_id, r.schedule_id) for r in runs] == [(profile_id, schedule_id)]
    assert run_tick(runtime, NOW) == []  # the same due time is never queued twice
    with runtime.sessions() as s:
        schedule = s.get(Schedule, schedule_id)
        assert schedule is not None
        assert schedule.next_run_at == datetime(2026, 11, 23, 10, 15, tzinfo=UTC)
        assert schedule.last_run_at is not None and schedule.last_process_id == runs[0].process_id
        process = s.get(Process, runs[0].process_id)
        assert process is not None and process.status == ProcessStatus.QUEUED
        assert process.configuration_id == profile_id
        assert "queued by schedule 'Every quarter'" in [m.text for m in process.messages]


def test_after_downtime_one_run_not_a_burst(runtime: Runtime, tenant: Tenant, profile_id: str) -> None:
    schedule_id = make_schedule(runtime, tenant, profile_id)
    set_next(runtime, schedule_id, datetime(2026, 11, 20, 10, 0, tzinfo=UTC))  # three days of missed quarters
    assert len(run_tick(runtime, NOW)) == 1
    assert run_tick(runtime, NOW + timedelta(minutes=7)) == []
    assert len(run_tick(runtime, NOW + timedelta(minutes=8))) == 1  # 10:15, the next frame
    assert len(queued(runtime, tenant)) == 2


def test_paused_schedules_are_not_queued_and_resume_without_catch_up(
    runtime: Runtime, tenant: Tenant, profile_id: str
) -> None:
    schedule_id = make_schedule(runtime, tenant, profile_id)
    set_next(runtime, schedule_id, datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    with runtime.transaction() as s:
        schedules.set_enabled(s, tenant.id, schedule_id, False)
    assert run_tick(runtime, NOW) == []
    with runtime.transaction() as s:
        schedule = schedules.set_enabled(s, tenant.id, schedule_id, True)
        assert schedule.next_run_at is not None and schedule.next_run_at > datetime.now(UTC)


def test_pausing_does_not_stop_a_running_process(runtime: Runtime, tenant: Tenant, profile_id: str) -> None:
    schedule_id = make_schedule(runtime, tenant, profile_id)
    with runtime.transaction() as s:
        run, _ = schedules.run_schedule_now(s, tenant.id, schedule_id)
        assert profile_runs.acquire(s, tenant.id, profile_id, run.process_id, "w1", NOW, LEASE).claim is Claim.ACQUIRED
        schedules.set_enabled(s, tenant.id, schedule_id, False)
    with runtime.sessions() as s:
        process = s.get(Process, run.process_id)
        row = s.get(ProfileRun, profile_id)
        assert process is not None and process.status == ProcessStatus.QUEUED and not process.cancel_requested
        assert row is not None and row.process_id == run.process_id


def test_editing_the_recurrence_recomputes_the_next_run(runtime: Runtime, tenant: Tenant, profile_id: str) -> None:
    schedule_id = make_schedule(runtime, tenant, profile_id)
    with runtime.transaction() as s:
        schedule = schedules.update_schedule(
            s, tenant.id, schedule_id, {"recurrence": {"kind": "daily", "at": "23:45"}, "timezone": "Asia/Kathmandu"}
        )
        assert schedule.next_run_at is not None
        local = schedule.next_run_at.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Kathmandu"))
        assert (local.hour, local.minute) == (23, 45)
        assert schedules.schedule_to_dict(s, schedule)["recurrence_text"] == "daily at 23:45"


def test_two_schedulers_at_once_queue_a_due_schedule_once(runtime: Runtime, tenant: Tenant, profile_id: str) -> None:
    schedule_ids = []
    for n in range(5):
        with runtime.transaction() as s:
            schedule = schedules.create_schedule(
                s,
                tenant.id,
                {"name": f"s{n}", "profile_id": profile_id, "recurrence": {"kind": "interval", "every_minutes": 15}},
            )
            schedule.next_run_at = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
            schedule_ids.append(schedule.id)
    barrier = threading.Barrier(4)
    results: list[list[QueuedRun]] = []

    def scheduler() -> None:
        barrier.wait()
        for _ in range(3):
            try:
                results.append(run_tick(runtime, NOW))
            except DBAPIError:  # SQLite: another tick held the write lock; the next pass tries again
                results.append([])

    threads = [threading.Thread(target=scheduler) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = sorted(r.schedule_id or "" for batch in results for r in batch)
    assert claimed == sorted(schedule_ids)
    assert len(queued(runtime, tenant)) == 5


def test_a_second_run_of_a_profile_is_recorded_as_skipped(runtime: Runtime, tenant: Tenant, profile_id: str) -> None:
    with runtime.transaction() as s:
        first, _ = queue_run(s, tenant.id, profile_id)
        second, _ = queue_run(s, tenant.id, profile_id)
        assert profile_runs.acquire(s, tenant.id, profile_id, first.process_id, "w1", NOW, 3600).claim is Claim.ACQUIRED
        first_request = processes.get_process(s, tenant.id, first.process_id).request_id
    assert execute_queued(runtime, second, holder="w2") is Outcome.SKIPPED
    with runtime.sessions() as s:
        skipped = s.get(Process, second.process_id)
        assert skipped is not None and skipped.status == ProcessStatus.SKIPPED
        texts = [m.text for m in skipped.messages]
        assert (
            f"skipped: profile 'Main IMAP' is already running as {first_request}; runs of one profile never overlap"
            in texts
        )
        row = s.get(ProfileRun, profile_id)
        assert row is not None and row.process_id == first.process_id  # the first run keeps its lock
    # the same process offered twice (a duplicate task) is dropped, not recorded as skipped
    assert execute_queued(runtime, first, holder="w3") is Outcome.DROPPED


def test_the_lock_is_one_row_per_profile_and_only_one_wins(runtime: Runtime, tenant: Tenant, profile_id: str) -> None:
    with runtime.transaction() as s:
        runs = [queue_run(s, tenant.id, profile_id)[0] for _ in range(6)]
    barrier = threading.Barrier(len(runs))
    claims: list[Claim] = []

    def take(run: QueuedRun) -> None:
        barrier.wait()
        try:
            with runtime.transaction() as s:
                claims.append(
                    profile_runs.acquire(s, tenant.id, profile_id, run.process_id, run.process_id, NOW, 60).claim
                )
        except DBAPIError:  # SQLite busy: counts as not acquired
            claims.append(Claim.OTHER_PROCESS)

    threads = [threading.Thread(target=take, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert claims.count(Claim.ACQUIRED) == 1


def test_a_run_whose_worker_died_is_queued_again_once(runtime: Runtime, tenant: Tenant, profile_id: str) -> None:
    with runtime.transaction() as s:
        run, process = queue_run(s, tenant.id, profile_id)
        processes.resume_process(s, process.id)
        assert (
            profile_runs.acquire(s, tenant.id, profile_id, run.process_id, "dead", NOW, LEASE).claim is Claim.ACQUIRED
        )
    assert run_tick(runtime, NOW + timedelta(seconds=LEASE - 1)) == []  # still within its lease
    again = run_tick(runtime, NOW + timedelta(seconds=LEASE + 1))
    assert again == [QueuedRun(tenant.id, profile_id, None, run.process_id)]
    assert run_tick(runtime, NOW + timedelta(seconds=LEASE + 2)) == []  # not twice
    with runtime.transaction() as s:
        # another run cannot take the lock meanwhile; the re-queued run itself can
        later = NOW + timedelta(seconds=LEASE + 3)
        other, _ = queue_run(s, tenant.id, profile_id)
        assert (
            profile_runs.acquire(s, tenant.id, profile_id, other.process_id, "w2", later, LEASE).claim
            is Claim.OTHER_PROCESS
        )
        assert (
            profile_runs.acquire(s, tenant.id, profile_id, run.process_id, "w3", later, LEASE).claim is Claim.ACQUIRED
        )
        texts = [m.text for m in processes.get_process(s, tenant.id, run.process_id).messages]
        assert any("the worker running this process stopped" in t for t in texts)


def test_a_finished_run_with_a_stale_lock_is_just_released(runtime: Runtime, tenant: Tenant, profile_id: str) -> None:
    with runtime.transaction() as s:
        run, process = queue_run(s, tenant.id, profile_id)
        profile_runs.acquire(s, tenant.id, profile_id, run.process_id, "w", NOW, LEASE)
        processes.finish_process(s, process, ProcessStatus.SUCCEEDED)
    assert run_tick(runtime, NOW + timedelta(seconds=LEASE + 1)) == []
    with runtime.sessions() as s:
        row = s.get(ProfileRun, profile_id)
        assert row is not None and row.process_id is None


def test_an_unreachable_server_is_retried_then_fails(runtime: Runtime, tenant: Tenant, profile_id: str) -> None:
    with runtime.transaction() as s:
        run, _ = queue_run(s, tenant.id, profile_id)
    assert execute_queued(runtime, run, holder="w", retries_left=2) is Outcome.RETRY
    with runtime.sessions() as s:
        process = s.get(Process, run.process_id)
        assert process is not None and process.status == ProcessStatus.QUEUED
        row = s.get(ProfileRun, profile_id)
        assert row is not None and row.process_id is None  # the lock is free between attempts
    assert execute_queued(runtime, run, holder="w", retries_left=0) is Outcome.FAILED
    with runtime.sessions() as s:
        details = processes.process_to_dict(s, processes.get_process(s, tenant.id, run.process_id), details=True)
    assert details["status"] == "failed"
    assert [c["status"] for c in details["subprocesses"]] == ["failed", "failed"]  # one per attempt
    assert any("will try again (2 attempts left)" in m["text"] for m in details["messages"])


def test_a_configuration_error_is_not_retried(runtime: Runtime, tenant: Tenant, profile_id: str) -> None:
    with runtime.transaction() as s:
        secret = s.scalar(select(Secret).where(Secret.tenant_id == tenant.id))
        assert secret is not None
        secret.ciphertext = b"not a Fernet token"  # say, encrypted with a key this server no longer has
        run, _ = queue_run(s, tenant.id, profile_id)
    assert execute_queued(runtime, run, holder="w", retries_left=3) is Outcome.FAILED
    with runtime.sessions() as s:
        process = s.get(Process, run.process_id)
        assert process is not None and process.status == ProcessStatus.FAILED
        assert len(process.messages) == 1 and process.messages[0].severity == 40


def test_a_run_started_by_hand_takes_the_same_lock(runtime: Runtime, tenant: Tenant, profile_id: str) -> None:
    with runtime.transaction() as s:
        scheduled, _ = queue_run(s, tenant.id, profile_id)
        assert profile_runs.acquire(s, tenant.id, profile_id, scheduled.process_id, "w1", utcnow(), 3600).claim is (
            Claim.ACQUIRED
        )
    by_hand = prepare_run(runtime, tenant.id, profile_id)
    assert execute_prepared(runtime, by_hand, holder="api") is Outcome.SKIPPED
    with runtime.sessions() as s:
        details = processes.process_to_dict(s, processes.get_process(s, tenant.id, by_hand.parent_id), details=True)
    assert details["status"] == "skipped" and [c["status"] for c in details["subprocesses"]] == ["skipped"]
    with runtime.transaction() as s:
        profile_runs.release(s, profile_id, scheduled.process_id)
    again = prepare_run(runtime, tenant.id, profile_id)
    assert execute_prepared(runtime, again, holder="api") is Outcome.FAILED  # ran: nothing listens on its port
    with runtime.sessions() as s:
        row = s.get(ProfileRun, profile_id)
        assert row is not None and row.process_id is None


def test_a_run_handed_back_on_shutdown_is_queued_again_at_once(
    runtime: Runtime, tenant: Tenant, profile_id: str
) -> None:
    with runtime.transaction() as s:
        run, process = queue_run(s, tenant.id, profile_id)
        processes.resume_process(s, process.id)
        profile_runs.acquire(s, tenant.id, profile_id, run.process_id, "stopping", NOW, LEASE)
        assert not profile_runs.hand_back(s, profile_id, run.process_id, "someone else", NOW)
        assert profile_runs.hand_back(s, profile_id, run.process_id, "stopping", NOW)
    assert run_tick(runtime, NOW) == [QueuedRun(tenant.id, profile_id, None, run.process_id)]
