"""What runs beside the web server, and what ``postroom worker`` is: the scheduler loop and consumers.

``postroom serve`` starts :class:`Background`: a scheduler thread that calls
:func:`postroom.services.scheduler.tick` every ``POSTROOM_SCHEDULER_SECONDS`` and puts due runs
on the queue, and ``POSTROOM_WORKERS`` huey worker threads that run them — no other process
needed. ``postroom worker`` runs only the consumer (:func:`run_worker`), against the same queue.
On shutdown the workers get a grace period to finish; runs still going then hand their profile
lock back, so the next scheduler pass (of any ``serve``) queues them again at once, and the sync's
checkpoints make the second attempt pick up where the first stopped.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

from huey.consumer import Consumer
from sqlalchemy.exc import DBAPIError

from postroom.db.types import utcnow
from postroom.jobs.queue import TaskQueue, queue_for
from postroom.runtime import Runtime
from postroom.services.scheduler import Queued, tick

logger = logging.getLogger("postroom.scheduler")

SHUTDOWN_GRACE_SECONDS = 10.0


def scheduler_pass(runtime: Runtime, queue: TaskQueue, now: datetime | None = None) -> list[Queued]:
    """Claim what is due (and what a dead worker left), commit, then put it on the queue."""
    try:
        with runtime.transaction() as session:
            runs = tick(session, now or utcnow(), runtime.settings.run_lease_seconds)
    except DBAPIError as exc:  # database away, or (SQLite) another server's tick held the write lock
        logger.warning("scheduler pass skipped: %s", exc.orig)
        return []
    for run in runs:
        queue.enqueue(run)
    return runs


class SchedulerThread(threading.Thread):
    def __init__(self, runtime: Runtime, queue: TaskQueue) -> None:
        super().__init__(name="postroom-scheduler", daemon=True)
        self.runtime, self.queue = runtime, queue
        self.stopped = threading.Event()

    def run(self) -> None:
        interval = self.runtime.settings.scheduler_seconds
        while not self.stopped.is_set():
            try:
                scheduler_pass(self.runtime, self.queue)
            except Exception:  # keep the loop alive whatever one pass met
                logger.exception("scheduler pass failed")
            self.stopped.wait(interval)


class _EmbeddedConsumer(Consumer):  # type: ignore[misc]
    """A huey consumer inside another program: the program, not huey, owns the signal handlers."""

    def _set_signal_handlers(self) -> None:
        pass


def make_consumer(queue: TaskQueue, workers: int, *, embedded: bool) -> Any:
    cls = _EmbeddedConsumer if embedded else Consumer
    return cls(
        queue.huey,
        workers=workers,
        worker_type="thread",
        periodic=False,
        initial_delay=0.1,
        max_delay=1.0,
        shutdown_timeout=SHUTDOWN_GRACE_SECONDS,
        graceful_signal="TERM",
    )


class Background:
    """The scheduler thread and the in-process workers of ``postroom serve``."""

    def __init__(self, runtime: Runtime, *, workers: int | None = None, scheduler: bool = True) -> None:
        self.runtime = runtime
        self.queue = queue_for(runtime)
        count = runtime.settings.workers if workers is None else workers
        self.consumer = make_consumer(self.queue, count, embedded=True) if count > 0 else None
        self.scheduler = SchedulerThread(runtime, self.queue) if scheduler else None

    def start(self) -> None:
        if self.consumer is not None:
            self.consumer.start()
        if self.scheduler is not None:
            self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stopped.set()
            self.scheduler.join(timeout=SHUTDOWN_GRACE_SECONDS)
        if self.consumer is not None:
            self.consumer.stop(graceful=True)
            handed = self.queue.hand_back_in_flight()
            if handed:
                logger.warning("%d runs still going were handed back to the queue", handed)


def run_worker(runtime: Runtime, workers: int) -> None:
    """``postroom worker``: run queued tasks until SIGTERM or SIGINT (then a grace period)."""
    queue = queue_for(runtime)
    consumer = make_consumer(queue, workers, embedded=False)
    consumer.run()  # returns after a signal and the graceful stop
    handed = queue.hand_back_in_flight()
    if handed:
        logger.warning("%d runs still going were handed back to the queue", handed)
