"""scripts/local-cluster (``make cluster``): two serve and two worker processes on PostgreSQL and
Redis start, answer, and stop with the script."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

from huey import RedisHuey
from sqlalchemy import create_engine, text

from postroom.testing.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def test_the_local_cluster_starts_answers_and_stops(tmp_path: Path) -> None:
    database, queue = f"postroom_cluster_{secrets.token_hex(4)}", f"postroom-cluster-{secrets.token_hex(4)}"
    ports = [free_port(), free_port()]
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTROOM_")}
    env.update(
        POSTROOM_CLUSTER_DIR=str(tmp_path / "cluster"),
        POSTROOM_CLUSTER_DATABASE=database,
        POSTROOM_CLUSTER_PORTS=" ".join(map(str, ports)),
        POSTROOM_QUEUE_NAME=queue,
    )
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    try:
        done = subprocess.run(
            [str(ROOT / "scripts" / "local-cluster"), "--smoke"],
            env=env, capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"http://127.0.0.1:{ports[0]}/" in done.stdout and "2 workers" in done.stdout
        logs = tmp_path / "cluster" / "logs"
        assert {p.name for p in logs.iterdir()} >= {f"serve-{ports[0]}.log", "worker-1.log", "worker-2.log"}
        alive = subprocess.run(["pgrep", "-f", f"serve --port {ports[0]}"], capture_output=True, check=False)
        assert alive.returncode == 1, "the script left a server running"
    finally:
        RedisHuey(queue, url="redis://127.0.0.1:6379/0").flush()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()
