"""Scale-out: one multiple-mailbox run over 1, 2 and 4 ``postroom worker`` processes.

Issue 7's benchmark. A real OpenLDAP directory lists ``--mailboxes`` people (20); a real Dovecot
holds their mailboxes, ``--messages`` each (sizes 2 KB to 150 KB); PostgreSQL is the database and
Redis the queue; one ``postroom serve`` only schedules (``POSTROOM_WORKERS=0``). For each worker
count, a fresh tenant gets the same LDAP directory service and multiple-mailbox profile, and its
schedule is run now with ``postroom schedule run``: the run lists the mailboxes and hands one task
per mailbox to the workers. The time is the run's own, from the process log (queued → finished).
A second, no-change run then gives the per-mailbox cost of a scheduled run that finds nothing new.
"machine CPU busy" is the share of all the machine's CPUs in use during the full run (Dovecot,
PostgreSQL and every Postroom process together): near 100 % the machine, not Postroom, is the limit.
Every mailbox's archive is checked against the server (message counts per folder).

    .venv/bin/python bench/cluster_bench.py                          # 20 x 100 messages, 1/2/4 workers
    .venv/bin/python bench/cluster_bench.py --messages 30 --workers 1,2

Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package
from huey import RedisHuey
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sync_vs_peers import machine_line

from postroom.config import Settings
from postroom.db.archive import ArchiveFolder, ArchiveMailbox, FolderEntry
from postroom.db.models import Process, Tenant
from postroom.runtime import Runtime
from postroom.security.keyring import generate_key
from postroom.services.access import Actor
from postroom.services.tenants import create_tenant
from postroom.testing.dovecot import Dovecot
from postroom.testing.processes import POSTROOM, ServeProcess, WorkerProcess, wait_for
from postroom.testing.slapd import Slapd, user_address
from postroom.testing.staff import load_mailboxes, staff_profile

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379/0"


def setup_tenant(runtime: Runtime, name: str, ldap: Slapd, dovecot: Dovecot) -> Tenant:
    with runtime.transaction() as session:
        tenant = create_tenant(session, Actor.local_admin(), name)
        session.expunge(tenant)
    staff_profile(runtime, tenant, ldap, dovecot)
    return tenant


@dataclass
class Round:
    workers: int
    full_s: float
    no_change_s: float
    messages: int
    mailboxes: int
    worker_cpu_s: float
    machine_busy: float  # share of all CPUs busy during the full run (any process)


def run_now(runtime: Runtime, env: dict[str, str], tenant: Tenant, timeout: float) -> float:
    """Run the tenant's schedule now; the run's own duration (queued → finished) from the process log."""
    import subprocess

    out = subprocess.run(
        [str(POSTROOM), "schedule", "run", "nightly", "--tenant", tenant.name],
        env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    request_id = out.split()[1]

    def finished() -> Process | None:
        with runtime.sessions() as session:
            process = session.scalar(select(Process).where(Process.request_id == request_id))
            return process if process is not None and process.finished_at is not None else None

    wait_for(lambda: finished() is not None, f"run {request_id}", timeout=timeout, every=0.05)
    process = finished()
    assert process is not None and process.started_at is not None
    if process.status != "succeeded":
        raise RuntimeError(f"run {request_id} ended {process.status}: postroom process show {request_id}")
    return (process.finished_at - process.created_at).total_seconds()


def check_archive(runtime: Runtime, tenant: Tenant, people: int, per_mailbox: int) -> None:
    with runtime.sessions() as session:
        rows = session.execute(
            select(ArchiveMailbox.address, func.count(FolderEntry.id))
            .join(ArchiveFolder, ArchiveFolder.mailbox_id == ArchiveMailbox.id)
            .join(FolderEntry, FolderEntry.folder_id == ArchiveFolder.id)
            .where(ArchiveMailbox.tenant_id == tenant.id, FolderEntry.vanished_at.is_(None))
            .group_by(ArchiveMailbox.address)
        ).all()
    counts = dict(rows)
    expected = {user_address(n): per_mailbox for n in range(1, people + 1)}
    if counts != expected:
        raise RuntimeError(f"archive differs from the server: {counts} != {expected}")


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mailboxes", type=int, default=20)
    parser.add_argument("--messages", type=int, default=100, help="messages per mailbox")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts, comma-separated")
    parser.add_argument(
        "--threads", type=int, default=1, help="threads per worker process (--workers of postroom worker)"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]

    work = Path(tempfile.mkdtemp(prefix="postroom-cluster-bench-"))
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    database = f"postroom_bench_{secrets.token_hex(4)}"
    queue = f"postroom-bench-{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    url = make_url(POSTGRES).set(database=database).render_as_string(hide_password=False)
    settings = Settings(data_dir=work / "data", database_url=url, secret_key=generate_key(), blob_dir=work / "blobs")
    runtime = Runtime.open(settings, upgrade=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTROOM_")}
    env.update(
        POSTROOM_DATA_DIR=str(work / "data"),
        POSTROOM_DATABASE_URL=url,
        POSTROOM_BLOB_DIR=str(work / "blobs"),
        POSTROOM_SECRET_KEY=str(settings.secret_key),
        POSTROOM_REDIS_URL=REDIS,
        POSTROOM_QUEUE_NAME=queue,
        POSTROOM_WORKERS="0",
        POSTROOM_SCHEDULER_SECONDS="0.5",
        POSTROOM_LOG_LEVEL="warning",
        NO_COLOR="1",
    )
    rounds: list[Round] = []
    try:
        with Slapd(users=args.mailboxes) as ldap, Dovecot() as dovecot:
            print(machine_line())
            started = time.perf_counter()
            loaded = load_mailboxes(dovecot, args.mailboxes, args.messages, args.seed)
            messages, size = loaded.messages, loaded.bytes
            print(
                f"{args.mailboxes} mailboxes in OpenLDAP and Dovecot, {messages:,} messages, {size / 1e6:,.0f} MB "
                f"(loaded in {time.perf_counter() - started:.0f} s); PostgreSQL, Redis; "
                f"{args.threads} thread(s) per worker process",
                flush=True,
            )
            with ServeProcess(env, work / "serve.log").start():
                for n in counts:
                    tenant = setup_tenant(runtime, f"bench-{n}", ldap, dovecot)
                    workers = [
                        WorkerProcess(env, work / f"worker-{n}-{i}.log", workers=args.threads).start() for i in range(n)
                    ]
                    try:
                        busy_before, total_before = machine_ticks()
                        full = run_now(runtime, env, tenant, timeout=1800)
                        busy_after, total_after = machine_ticks()
                        busy = (busy_after - busy_before) / max(1, total_after - total_before)
                        check_archive(runtime, tenant, args.mailboxes, args.messages)
                        again = [run_now(runtime, env, tenant, timeout=600) for _ in range(3)]
                        cpu = sum(cpu_seconds(w.pid) for w in workers)
                    finally:
                        for worker in workers:
                            worker.stop()
                    rounds.append(Round(n, full, statistics.median(again), messages, args.mailboxes, cpu, busy))
                    print(f"  {n} worker(s): full {full:.1f} s, no-change {statistics.median(again):.2f} s", flush=True)
    finally:
        runtime.close()
        RedisHuey(queue, url=REDIS).flush()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(rounds))


def table(rounds: list[Round]) -> str:
    base = rounds[0].full_s if rounds else 1.0
    head = [
        "workers", "full run s", "mailboxes/min", "messages/s", "speed-up", "efficiency",
        "worker CPU s", "machine CPU busy", "no-change run s", "no-change per mailbox s",
    ]  # fmt: skip
    rows = [head, ["---:"] * len(head)]
    for r in rounds:
        speedup = base / r.full_s
        rows.append(
            [
                str(r.workers),
                f"{r.full_s:.1f}",
                f"{r.mailboxes / r.full_s * 60:.0f}",
                f"{r.messages / r.full_s:.0f}",
                f"{speedup:.2f}x",
                f"{speedup / (r.workers / rounds[0].workers):.0%}",
                f"{r.worker_cpu_s:.1f}",
                f"{r.machine_busy:.0%} of {os.cpu_count()}",
                f"{r.no_change_s:.2f}",
                f"{r.no_change_s / r.mailboxes:.3f}",
            ]
        )
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


if __name__ == "__main__":
    main()
