"""The task queue: huey with SQLite storage in the data directory, or Redis when configured.

Every process that shares the queue (``serve``, ``worker``, the CLI) builds it the same way from
its settings, so a run queued by any of them is run by whichever worker takes it first. A task
carries only IDs; the process log is where a run's story is told.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from huey import RedisHuey, SqliteHuey
from huey.exceptions import RetryTask

from postroom.config import Settings
from postroom.db.types import utcnow
from postroom.domain.process import ProcessStatus, Severity
from postroom.runtime import Runtime
from postroom.services import processes, profile_runs
from postroom.services.scheduler import (
    MailboxTask,
    Outcome,
    Queued,
    QueuedDirectorySync,
    QueuedRun,
    execute_directory_sync_task,
    execute_mailbox,
    execute_queued,
    run_holder,
    worker_name,
)

logger = logging.getLogger("postroom.jobs")

RETRIES = 3  # attempts after the first when the mail system cannot be reached


def make_huey(settings: Settings) -> Any:
    """The huey instance for ``settings``: Redis when ``POSTROOM_REDIS_URL`` is set, else SQLite."""
    if settings.redis_url:
        return RedisHuey(settings.queue_name, url=settings.redis_url, results=False)
    return SqliteHuey(settings.queue_name, filename=str(settings.data_dir / "queue.db"), results=False)


@dataclass(frozen=True)
class InFlight:
    run: QueuedRun
    holder: str


class TaskQueue:
    """The queue and its task, bound to one runtime (the database and blob store the task uses)."""

    def __init__(self, runtime: Runtime, huey: Any = None) -> None:
        self.runtime = runtime
        self.huey = huey if huey is not None else make_huey(runtime.settings)
        self.in_flight: dict[str, InFlight] = {}
        self._lock = threading.Lock()
        retry_seconds = runtime.settings.run_retry_seconds

        @self.huey.task(retries=RETRIES, context=True, name="run_profile")  # type: ignore[untyped-decorator]
        def run_profile(
            tenant_id: str, profile_id: str, schedule_id: str | None, process_id: str, task: Any = None
        ) -> str:
            run = QueuedRun(tenant_id, profile_id, schedule_id, process_id)
            retries_left = int(task.retries) if task is not None else 0
            outcome = self.execute(run, retries_left)
            if outcome is Outcome.RETRY:
                attempt = RETRIES - retries_left + 1
                task.retries -= 1  # huey gives back the retry that RetryTask takes; count it here
                raise RetryTask(delay=retry_seconds * 2 ** (attempt - 1))
            return outcome.value

        self._task = run_profile

        @self.huey.task(context=True, name="sync_mailbox")  # type: ignore[untyped-decorator]
        def sync_mailbox(
            tenant_id: str, profile_id: str, parent_id: str, child_id: str, address: str, task: Any = None
        ) -> str:
            mailbox = MailboxTask(tenant_id, profile_id, parent_id, child_id, address)
            outcome = self.execute_mailbox(mailbox)
            if outcome is Outcome.LATER:  # the run syncs as many mailboxes at once as it may
                self._mailbox_task.schedule(args=(tenant_id, profile_id, parent_id, child_id, address), delay=1)
            return outcome.value

        self._mailbox_task = sync_mailbox

        @self.huey.task(name="sync_directory")  # type: ignore[untyped-decorator]
        def sync_directory(tenant_id: str, directory_id: str, schedule_id: str | None, process_id: str) -> str:
            run = QueuedDirectorySync(tenant_id, directory_id, schedule_id, process_id)
            outcome = execute_directory_sync_task(self.runtime, run)
            logger.info("directory sync %s: %s", process_id, outcome.value)
            return outcome.value

        self._directory_task = sync_directory

    def execute(self, run: QueuedRun, retries_left: int = 0) -> Outcome:
        """Run ``run`` in this thread (what a worker does with a task it took)."""
        holder = worker_name()
        with self._lock:
            self.in_flight[run.process_id] = InFlight(run, holder)
        try:
            outcome = execute_queued(
                self.runtime, run, holder=holder, retries_left=retries_left, fan_out=self.enqueue_mailboxes
            )
            logger.info("run %s: %s", run.process_id, outcome.value)
            return outcome
        finally:
            with self._lock:
                self.in_flight.pop(run.process_id, None)

    def execute_mailbox(self, task: MailboxTask) -> Outcome:
        """Sync one mailbox of a fanned-out run in this thread."""
        with self._lock:  # on shutdown its run's lock is handed back, and the run queued again
            self.in_flight[task.child_id] = InFlight(
                QueuedRun(task.tenant_id, task.profile_id, None, task.parent_id), run_holder(task.parent_id)
            )
        try:
            outcome = execute_mailbox(self.runtime, task)
            if outcome is not Outcome.LATER:
                logger.info("run %s, mailbox %s: %s", task.parent_id, task.address, outcome.value)
            return outcome
        finally:
            with self._lock:
                self.in_flight.pop(task.child_id, None)

    def enqueue_mailboxes(self, tasks: list[MailboxTask]) -> None:
        """Put each mailbox of a run on the queue, for whichever workers take them."""
        for task in tasks:
            self._mailbox_task(task.tenant_id, task.profile_id, task.parent_id, task.child_id, task.address)

    def enqueue(self, run: Queued) -> None:
        """Put ``run`` on the queue; if the queue cannot take it, the run fails with the reason."""
        try:
            if isinstance(run, QueuedDirectorySync):
                self._directory_task(run.tenant_id, run.directory_id, run.schedule_id, run.process_id)
            else:
                self._task(run.tenant_id, run.profile_id, run.schedule_id, run.process_id)
        except Exception as exc:
            logger.exception("cannot queue run %s", run.process_id)
            with self.runtime.transaction() as session:
                process = processes.get_process(session, run.tenant_id, run.process_id)
                processes.log(session, process, Severity.ERROR, f"the task queue did not take the run: {exc}")
                processes.finish_process(session, process, ProcessStatus.FAILED)

    def pending(self) -> int:
        return int(self.huey.pending_count())

    def hand_back_in_flight(self) -> int:
        """On shutdown: give up the locks of runs still going, so the scheduler queues them again now."""
        with self._lock:
            running = list(self.in_flight.values())
        handed = 0
        for item in running:
            with self.runtime.transaction() as session:
                handed += profile_runs.hand_back(
                    session, item.run.profile_id, item.run.process_id, item.holder, utcnow()
                )
        return handed


_queues: dict[int, TaskQueue] = {}
_queues_lock = threading.Lock()


def queue_for(runtime: Runtime) -> TaskQueue:
    """The one :class:`TaskQueue` of ``runtime`` in this process."""
    with _queues_lock:
        queue = _queues.get(id(runtime))
        if queue is None or queue.runtime is not runtime:
            queue = _queues[id(runtime)] = TaskQueue(runtime)
        return queue
