"""``postroom worker``: run queued profile runs, beside or instead of the workers in ``postroom serve``."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from postroom.cli.common import console, opened


def worker(
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, max=64, help="Runs executed at once (default POSTROOM_WORKERS, at least 1)."),
    ] = None,
) -> None:
    """Run queued profile runs until stopped (SIGTERM or SIGINT: runs get 10 s, then are handed back)."""
    from postroom.jobs.background import run_worker

    with opened() as runtime:
        settings = runtime.settings
        logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        count = workers or max(settings.workers, 1)
        where = settings.redis_url or str(settings.data_dir / "queue.db")
        console.print(f"postroom worker: {count} workers on queue {settings.queue_name!r} at {where}", highlight=False)
        run_worker(runtime, count)
        console.print("postroom worker stopped", highlight=False)
