"""The scheduler: due schedules become queued runs, and a queued run becomes a sync.

:func:`tick` is what ``postroom serve`` calls every few seconds. It claims each due schedule with
a conditional UPDATE of its ``next_run_at`` (so two servers never queue one due time twice),
moves ``next_run_at`` to the next due time after *now* (a server that was down runs a schedule
once, not once per missed time), and opens a *queued* process for the run. It also finds runs
whose worker died (their profile lock expired without a heartbeat) and queues them again. The
caller commits, then puts the returned :class:`QueuedRun` s on the task queue (``jobs/``).

:func:`execute_queued` is the body of the queue's task: it takes the profile's lock
(``services/profile_runs.py``), runs the same sync as ``POST …/profiles/{key}/run``, and records
a second, overlapping run as *skipped* with the reason.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from postroom.db.models import Process, ProcessMessage, Profile, ProfileRun, Schedule
from postroom.db.types import utcnow
from postroom.domain.process import ProcessStatus, ProcessType, Severity
from postroom.domain.schedule import ScheduleType, next_run, recurrence_of
from postroom.errors import Conflict, PostroomError, SourceAuthFailed, SourceError
from postroom.runtime import Runtime
from postroom.services import processes, profile_runs
from postroom.services.beats import beating
from postroom.services.profile_runs import Claim
from postroom.services.sync import (
    PreparedRun,
    RunResult,
    execute_run,
    failed_summary,
    list_run_mailboxes,
    prepare_mailbox,
    prepare_run,
    sync_mailbox,
)

logger = logging.getLogger("postroom.scheduler")


@dataclass(frozen=True)
class QueuedRun:
    """What the task queue carries: plain strings, so any worker on any machine can run it."""

    tenant_id: str
    profile_id: str
    schedule_id: str | None
    process_id: str


@dataclass(frozen=True)
class QueuedDirectorySync:
    """A directory-sync schedule's run, as the task queue carries it."""

    tenant_id: str
    directory_id: str
    schedule_id: str | None
    process_id: str


Queued = QueuedRun | QueuedDirectorySync


def next_due(schedule: Schedule, now: datetime) -> datetime | None:
    """When ``schedule`` is due next after ``now`` (``None``: paused, or a past once-only time)."""
    if not schedule.enabled:
        return None
    return next_run(recurrence_of(schedule.recurrence), schedule.timezone, now)


def queue_run(
    session: Session, tenant_id: str, profile_id: str, *, schedule: Schedule | None = None
) -> tuple[QueuedRun, Process]:
    """Open a queued ``folder-sync`` process for a profile; the caller puts the run on the queue."""
    process = processes.start_process(
        session, tenant_id, ProcessType.FOLDER_SYNC, configuration_id=profile_id, status=ProcessStatus.QUEUED
    )
    if schedule is not None:
        processes.log(session, process, Severity.INFO, f"queued by schedule {schedule.name!r}")
        schedule.last_run_at = utcnow()
        schedule.last_process_id = process.id
        session.flush()
    return QueuedRun(tenant_id, profile_id, schedule.id if schedule else None, process.id), process


def queue_directory_sync(
    session: Session, tenant_id: str, directory_id: str, *, schedule: Schedule | None = None
) -> tuple[QueuedDirectorySync, Process]:
    """Open a queued ``directory-sync`` process; the caller puts it on the queue."""
    process = processes.start_process(
        session, tenant_id, ProcessType.DIRECTORY_SYNC, configuration_id=directory_id, status=ProcessStatus.QUEUED
    )
    if schedule is not None:
        processes.log(session, process, Severity.INFO, f"queued by schedule {schedule.name!r}")
        schedule.last_run_at = utcnow()
        schedule.last_process_id = process.id
        session.flush()
    return QueuedDirectorySync(tenant_id, directory_id, schedule.id if schedule else None, process.id), process


def queue_schedule(session: Session, schedule: Schedule) -> tuple[Queued, Process]:
    """Open the queued process a schedule's run is (a folder sync or a directory sync)."""
    if schedule.type == ScheduleType.DIRECTORY_SYNC and schedule.directory_service_id is not None:
        return queue_directory_sync(session, schedule.tenant_id, schedule.directory_service_id, schedule=schedule)
    if schedule.type == ScheduleType.FOLDER_SYNC and schedule.profile_id is not None:
        return queue_run(session, schedule.tenant_id, schedule.profile_id, schedule=schedule)
    raise Conflict(
        f"schedule {schedule.name!r} names no profile or directory service to run (it was deleted?): "
        "delete the schedule, or create it again naming one"
    )


def execute_directory_sync_task(runtime: Runtime, run: QueuedDirectorySync) -> Outcome:
    """Run a queued directory sync in this thread (the process already exists, queued)."""
    from postroom.services import directories  # ldap3 only where a directory is used

    with runtime.transaction() as session:
        process = session.get(Process, run.process_id)
        if process is None or process.status != ProcessStatus.QUEUED:
            return Outcome.DROPPED  # delivered twice, or cancelled while queued
    try:
        prepared = directories.prepare_directory_sync(
            runtime, run.tenant_id, run.directory_id, process_id=run.process_id
        )
    except PostroomError as exc:  # the directory service was deleted or is unusable
        _end(runtime, run.process_id, Severity.ERROR, str(exc), ProcessStatus.FAILED)
        return Outcome.FAILED
    return Outcome(directories.execute_directory_sync(runtime, prepared).status.value)


def claim_due(session: Session, now: datetime, limit: int = 100) -> list[Queued]:
    """Claim every enabled schedule whose time has come and open a queued process for each."""
    due = session.execute(
        select(Schedule.id, Schedule.next_run_at)
        .where(Schedule.enabled.is_(True), Schedule.next_run_at.is_not(None), Schedule.next_run_at <= now)
        .order_by(Schedule.next_run_at)
        .limit(limit)
    ).all()
    runs: list[Queued] = []
    for schedule_id, due_at in due:
        schedule = session.get(Schedule, schedule_id)
        if schedule is None:
            continue
        following = next_due(schedule, now)
        claimed = session.execute(
            update(Schedule)
            .where(Schedule.id == schedule_id, Schedule.next_run_at == due_at, Schedule.enabled.is_(True))
            .values(next_run_at=following)
            .execution_options(synchronize_session=False)
        )
        if getattr(claimed, "rowcount", 0) != 1:
            continue  # another server claimed this due time first
        session.refresh(schedule)
        try:
            run, _process = queue_schedule(session, schedule)
        except Conflict as exc:
            logger.warning("schedule %s: %s", schedule.id, exc)
            continue
        runs.append(run)
    return runs


def recover_interrupted(session: Session, now: datetime, lease_seconds: int) -> list[QueuedRun]:
    """Queue again the runs whose worker stopped renewing their lock (killed, machine lost)."""
    runs: list[QueuedRun] = []
    for row in profile_runs.expired(session, now):
        if not profile_runs.requeue(session, row, now, lease_seconds):
            continue
        assert row.process_id is not None
        process = session.get(Process, row.process_id)
        if process is None or ProcessStatus(process.status).finished:
            profile_runs.release(session, row.profile_id, row.process_id)
            continue
        processes.log(
            session,
            process,
            Severity.WARNING,
            f"the worker running this process stopped (no heartbeat for {lease_seconds} s); queued again",
        )
        runs.append(QueuedRun(row.tenant_id, row.profile_id, row.schedule_id, row.process_id))
    return runs


def tick(session: Session, now: datetime, lease_seconds: int = 120) -> list[Queued]:
    """One pass of the scheduler; enqueue what it returns after the transaction commits."""
    processes.end_abandoned(session, now)
    return [*recover_interrupted(session, now, lease_seconds), *claim_due(session, now)]


# --- running a queued run ----------------------------------------------------------------------


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"  # another run of the profile was in progress
    DROPPED = "dropped"  # nothing to do: finished already, or this process runs elsewhere
    RETRY = "retry"  # the mail system could not be reached: try again later
    FANNED_OUT = "fanned-out"  # a multiple-mailbox run handed its mailboxes to the queue, one task each
    LATER = "later"  # the run already syncs as many mailboxes at once as it may: ask again in a moment


def is_transient(error: PostroomError | None) -> bool:
    """Worth retrying: the mail system refused the connection or did not answer in time."""
    return isinstance(error, SourceError) and not isinstance(error, SourceAuthFailed) and error.step == "tcp"


@contextmanager
def _renewing(runtime: Runtime, run: QueuedRun, holder: str) -> Iterator[None]:
    """Renew the run's profile lock while the block runs."""
    lease = runtime.settings.run_lease_seconds

    def renew() -> None:
        with runtime.transaction() as session:
            mine = profile_runs.renew(session, run.profile_id, run.process_id, holder, utcnow(), lease)
        if not mine:
            logger.warning("run %s lost its profile lock", run.process_id)

    with beating(lease, renew, f"run {run.process_id}"):
        yield


def _end(runtime: Runtime, process_id: str, severity: Severity, text: str, status: ProcessStatus) -> None:
    with runtime.transaction() as session:
        process = session.get(Process, process_id)
        assert process is not None
        processes.log(session, process, severity, text)
        processes.finish_process(session, process, status)


@dataclass(frozen=True)
class MailboxTask:
    """One mailbox of a fanned-out multiple-mailbox run, as the task queue carries it."""

    tenant_id: str
    profile_id: str
    parent_id: str
    child_id: str
    address: str


FanOut = Callable[[list[MailboxTask]], None]


def run_holder(process_id: str) -> str:
    """Who holds a fanned-out run's profile lock: the run itself, renewed by its mailbox tasks."""
    return f"run:{process_id}"


def execute_queued(
    runtime: Runtime, run: QueuedRun, *, holder: str, retries_left: int = 0, fan_out: FanOut | None = None
) -> Outcome:
    """Run a queued profile run in this thread, holding the profile's lock while it runs.

    With ``fan_out`` a multiple-mailbox run lists its mailboxes and hands each to ``fan_out`` (the
    task queue, so that every worker takes some); the lock then stays with the run until its last
    mailbox finishes (:func:`execute_mailbox`). Without it, the mailboxes are synced here.
    """
    refused = _take_lock(runtime, run, holder)
    if refused is not None:
        return refused
    with _holding(runtime, run, holder) as held:
        outcome = _sync(runtime, run, retries_left, fan_out)
        held.passed = outcome is Outcome.FANNED_OUT
        return outcome


def execute_prepared(runtime: Runtime, prepared: PreparedRun, *, holder: str) -> Outcome:
    """A run started by hand (``POST …/profiles/{key}/run``), under the same lock as queued runs."""
    run = QueuedRun(prepared.tenant_id, prepared.profile_id, None, prepared.parent_id)
    refused = _take_lock(runtime, run, holder)
    if refused is not None:
        return refused
    with _holding(runtime, run, holder):
        return Outcome(execute_run(runtime, prepared).status.value)


def worker_name() -> str:
    """Who holds a run's lock: host, process and a random part for this one execution."""
    return f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"


def start_run(runtime: Runtime, tenant_id: str, profile_key: str, *, dry_run_delete: bool = False) -> PreparedRun:
    """Run a profile now, by hand (the API's and the portal's "run now"), in a background thread
    of this process under the profile's lock; answers at once with the run to follow in the log."""
    prepared = prepare_run(runtime, tenant_id, profile_key, dry_run_delete=dry_run_delete)

    def execute() -> None:
        try:
            execute_prepared(runtime, prepared, holder=worker_name())
        except Exception:  # already recorded in the process log as an internal error
            logger.exception("run %s failed", prepared.request_id)

    threading.Thread(target=execute, name=f"run-{prepared.request_id}", daemon=True).start()
    return prepared


def _take_lock(runtime: Runtime, run: QueuedRun, holder: str) -> Outcome | None:
    """Take the profile's lock for ``run``; otherwise how the run ends (``None``: taken)."""
    with runtime.transaction() as session:
        process = session.get(Process, run.process_id)
        if process is None or ProcessStatus(process.status).finished:
            return Outcome.DROPPED
        lease = runtime.settings.run_lease_seconds
        state = profile_runs.acquire(session, run.tenant_id, run.profile_id, run.process_id, holder, utcnow(), lease)
        if state.claim is Claim.SAME_PROCESS:
            return Outcome.DROPPED
        if state.claim is Claim.OTHER_PROCESS:
            other = session.get(Process, state.process_id) if state.process_id else None
            profile = session.get(Profile, run.profile_id)
            name = profile.name if profile else run.profile_id
            running = f" as {other.request_id}" if other else ""
            processes.log(
                session,
                process,
                Severity.WARNING,
                f"skipped: profile {name!r} is already running{running}; runs of one profile never overlap",
            )
            for child in session.scalars(select(Process).where(Process.parent_id == process.id)):
                if not ProcessStatus(child.status).finished:
                    processes.finish_process(session, child, ProcessStatus.SKIPPED)
            processes.finish_process(session, process, ProcessStatus.SKIPPED)
            return Outcome.SKIPPED
        session.execute(
            update(ProfileRun)
            .where(ProfileRun.profile_id == run.profile_id)
            .values(schedule_id=run.schedule_id)
            .execution_options(synchronize_session=False)
        )
    return None


@dataclass
class _Held:
    passed: bool = False  # the lock went on to the run's mailbox tasks: not released here


@contextmanager
def _holding(runtime: Runtime, run: QueuedRun, holder: str) -> Iterator[_Held]:
    """Renew the lock while the body runs, and release it (or pass it on to the run) afterwards."""
    held = _Held()
    try:
        with _renewing(runtime, run, holder):
            yield held
    finally:
        with runtime.transaction() as session:
            if held.passed:
                lease = runtime.settings.run_lease_seconds
                new = run_holder(run.process_id)
                profile_runs.pass_to(session, run.profile_id, run.process_id, holder, new, utcnow(), lease)
            else:
                profile_runs.release(session, run.profile_id, run.process_id, holder)


def _sync(runtime: Runtime, run: QueuedRun, retries_left: int, fan_out: FanOut | None = None) -> Outcome:
    try:
        prepared = prepare_run(runtime, run.tenant_id, run.profile_id, process_id=run.process_id)
    except PostroomError as exc:  # the profile cannot run as configured: retrying will not help
        _end(runtime, run.process_id, Severity.ERROR, str(exc), ProcessStatus.FAILED)
        return Outcome.FAILED
    if prepared.job is None and fan_out is not None:
        return _fan_out(runtime, prepared, fan_out)

    def retry_note(result: RunResult) -> str | None:
        if is_transient(result.error) and retries_left > 0:
            return f"will try again ({retries_left} attempts left)"
        return None

    result = execute_run(runtime, prepared, retry_note=retry_note)
    if result.status is ProcessStatus.QUEUED:
        return Outcome.RETRY
    return Outcome(result.status.value)


# --- multiple-mailbox runs, one mailbox per task ----------------------------------------------------


def _fan_out(runtime: Runtime, prepared: PreparedRun, fan_out: FanOut) -> Outcome:
    """List the run's mailboxes (each a queued sub-process) and hand them to the queue."""
    try:
        targets = list_run_mailboxes(runtime, prepared, status=ProcessStatus.QUEUED)
    except PostroomError as exc:  # the directory could not list them
        _end(runtime, prepared.parent_id, Severity.ERROR, str(exc), ProcessStatus.FAILED)
        return Outcome.FAILED
    if not targets:
        _end(runtime, prepared.parent_id, Severity.WARNING, "the directory lists no mailboxes", ProcessStatus.SUCCEEDED)
        return Outcome.SUCCEEDED
    tasks = [
        MailboxTask(prepared.tenant_id, prepared.profile_id, prepared.parent_id, t.child_id, t.address) for t in targets
    ]
    fan_out(tasks)
    return Outcome.FANNED_OUT


def execute_mailbox(runtime: Runtime, task: MailboxTask) -> Outcome:
    """A worker's part of a fanned-out run: sync one mailbox, renewing the run's lock meanwhile;
    the last mailbox to finish finishes the run and releases the lock.

    The run syncs at most ``POSTROOM_MAILBOXES_IN_PARALLEL`` mailboxes at once across all workers
    (:attr:`Outcome.LATER`: the queue asks again in a moment). A task delivered twice, or for a run
    that ended meanwhile, does nothing (:attr:`Outcome.DROPPED`).
    """
    claimed = _claim_mailbox(runtime, task)
    if claimed is not None:
        return claimed
    run = QueuedRun(task.tenant_id, task.profile_id, None, task.parent_id)
    with _renewing(runtime, run, run_holder(task.parent_id)):
        prepared, target = prepare_mailbox(
            runtime, task.tenant_id, task.profile_id, task.parent_id, task.child_id, task.address
        )
        _report, error = sync_mailbox(runtime, prepared, target, None)
    finish_fanned_out(runtime, task.profile_id, task.parent_id)
    return Outcome.FAILED if error is not None else Outcome.SUCCEEDED


def _claim_mailbox(runtime: Runtime, task: MailboxTask) -> Outcome | None:
    """Mark the mailbox's sub-process running (``None``), or say why this task does nothing now."""
    now = utcnow()
    with runtime.transaction() as session:
        parent = session.get(Process, task.parent_id)
        child = session.get(Process, task.child_id)
        if parent is None or child is None or ProcessStatus(parent.status).finished:
            return Outcome.DROPPED
        if child.status != ProcessStatus.QUEUED:
            return Outcome.DROPPED
        if parent.cancel_requested:
            processes.finish_process(session, child, ProcessStatus.CANCELLED)
            cancelled = True
        else:
            cancelled = False
            busy = session.scalar(
                select(func.count(Process.id)).where(
                    Process.parent_id == task.parent_id,
                    Process.type == ProcessType.MAILBOX_SYNC.value,
                    Process.status == ProcessStatus.RUNNING.value,
                )
            )
            if (busy or 0) >= runtime.settings.mailboxes_in_parallel:
                return Outcome.LATER
            taken = session.execute(
                update(Process)
                .where(Process.id == task.child_id, Process.status == ProcessStatus.QUEUED.value)
                .values(status=ProcessStatus.RUNNING.value, started_at=now)
                .execution_options(synchronize_session=False)
            )
            if getattr(taken, "rowcount", 0) != 1:
                return Outcome.DROPPED  # another worker took it just now
    if cancelled:
        finish_fanned_out(runtime, task.profile_id, task.parent_id)
        return Outcome.CANCELLED
    return None


_OPEN = (ProcessStatus.QUEUED.value, ProcessStatus.RUNNING.value)


def finish_fanned_out(runtime: Runtime, profile_id: str, parent_id: str) -> ProcessStatus | None:
    """Finish a fanned-out run once none of its mailboxes is queued or running (one caller wins),
    naming the mailboxes that failed, and release the profile's lock; its status, or ``None``."""
    with runtime.transaction() as session:
        children = session.scalars(
            select(Process).where(Process.parent_id == parent_id, Process.type == ProcessType.MAILBOX_SYNC.value)
        ).all()
        if any(child.status in _OPEN for child in children):
            return None
        won = session.execute(
            update(Process)
            .where(
                Process.id == parent_id, Process.status == ProcessStatus.RUNNING.value, Process.finished_at.is_(None)
            )
            .values(finished_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if getattr(won, "rowcount", 0) != 1:
            return None
        parent = session.get(Process, parent_id, populate_existing=True)
        assert parent is not None
        failed = [c for c in children if c.status == ProcessStatus.FAILED and c.max_severity >= Severity.ERROR]
        if failed:
            processes.log(
                session,
                parent,
                Severity.ERROR,
                failed_summary([_address_of(session, c) for c in failed], len(children)),
            )
        status = ProcessStatus(processes.finish_process(session, parent).status)
        profile_runs.release(session, profile_id, parent_id)
        return status


def _address_of(session: Session, child: Process) -> str:
    """The mailbox a ``mailbox-sync`` sub-process synchronized, from its first message."""
    first = session.scalar(
        select(ProcessMessage.text).where(ProcessMessage.process_id == child.id).order_by(ProcessMessage.id).limit(1)
    )
    words = (first or "").split()
    return words[1] if len(words) > 1 and words[0] == "synchronizing" else child.request_id
