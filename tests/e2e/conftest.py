"""End-to-end fixtures: the real Dovecot mailbox of the sync tests, and a scale-out cluster of
real processes — ``postroom serve`` (scheduler only) and ``postroom worker`` on a Redis queue."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from huey import RedisHuey

from postroom.config import Settings
from postroom.runtime import Runtime
from postroom.services import processes
from postroom.testing.processes import ServeProcess, WorkerProcess
from tests.cli.conftest import Cli, cli_env
from tests.sync.conftest import mailbox, mailbox_factory

__all__ = ["Cluster", "WorkerProcess", "cluster", "mailbox", "mailbox_factory", "run_status"]

REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass
class Cluster:
    runtime: Runtime
    env: dict[str, str]
    root: Path
    serve: ServeProcess
    cli: Cli

    def worker(self, name: str) -> WorkerProcess:
        return WorkerProcess(self.env, self.root / f"{name}.log").start()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in self.root.glob("*.log"))


@pytest.fixture
def cluster(runtime: Runtime, settings: Settings, database_url: str, tenant: object) -> Iterator[Cluster]:
    queue_name = f"postroom-test-{secrets.token_hex(6)}"
    env = cli_env(
        settings.data_dir,
        database_url,
        POSTROOM_SECRET_KEY=str(settings.secret_key),
        POSTROOM_TENANT="acme",
        POSTROOM_REDIS_URL=REDIS_URL,
        POSTROOM_QUEUE_NAME=queue_name,
        POSTROOM_WORKERS="0",  # this serve only schedules: the workers are separate processes
        POSTROOM_SCHEDULER_SECONDS="0.5",
        POSTROOM_RUN_LEASE_SECONDS="3",
    )
    root = Path(tempfile.mkdtemp(prefix="postroom-workers-"))
    serve = ServeProcess(env, root / "serve.log").start()
    try:
        yield Cluster(runtime, env, root, serve, Cli(env, settings.data_dir))
    finally:
        serve.stop()
        RedisHuey(queue_name, url=REDIS_URL).flush()  # this run's queue keys, whatever is left in them
        shutil.rmtree(root, ignore_errors=True)


def run_status(runtime: Runtime, tenant_id: str, request_id: str) -> str:
    with runtime.sessions() as s:
        return processes.get_process(s, tenant_id, request_id).status
