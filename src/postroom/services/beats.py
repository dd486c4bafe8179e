"""A heartbeat: renew a lease from a background thread while some work runs.

Runs renew their profile lock (``services/scheduler.py``) and directory syncs their process's
``alive_until`` (``services/processes.py``) this way: every quarter of
``POSTROOM_RUN_LEASE_SECONDS``, so that a worker that dies stops renewing and others notice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

logger = logging.getLogger("postroom.heartbeat")


@contextmanager
def beating(lease_seconds: float, renew: Callable[[], object], what: str) -> Iterator[None]:
    """Call ``renew`` every ``lease_seconds / 4`` (at least every 0.5 s) while the block runs.

    A renewal that fails is logged and the next one tries again: the database may be away for a
    moment, and the lease outlasts three missed beats.
    """
    stopped = threading.Event()

    def beat() -> None:
        while not stopped.wait(max(lease_seconds / 4, 0.5)):
            try:
                renew()
            except Exception:
                logger.exception("heartbeat of %s failed", what)

    thread = threading.Thread(target=beat, name=f"heartbeat-{what[-12:]}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopped.set()
