"""One sync connector: files written per second, and the latency from a new message to its file.

Issue #5's goals: over 500 ``.eml`` files/s and over 150 ``.msg`` files/s for 10,000 filings by
one connector on local disk; a message arriving in the source mailbox appears as a file within
two poll intervals plus the sync interval. Prints Markdown tables.

* **Throughput.** ``--filings`` distinct messages of the seeded corpus of ``bench/sync_vs_peers.py``
  (2 KB to 2 MB, median ~37 KB) are archived into a fresh data directory (SQLite unless
  ``--database-url``) and filed to one location per format. A real ``postroom serve`` and a real
  ``postroom connector run --once --batch 500`` (separate processes, loopback HTTP) then deliver
  them: the time is the connector process's wall time from start to exit, its CPU time comes from
  ``wait4``, and the server's CPU time from ``/proc``. Every file is counted and every filing must
  end ``written``, or the row is marked failed.
* **Latency.** A real Dovecot, an IMAP profile synced every ``--sync-interval`` seconds (a loop
  standing in for the schedule of issue 7), a filing rule for INBOX and a connector polling every
  ``--poll`` seconds. ``--samples`` messages are appended at random moments; the latency of each is
  the time from the APPEND's answer to its file appearing (the folder is watched every 10 ms).

    .venv/bin/python bench/connector_bench.py                     # 10,000 filings per format, ~3 minutes
    .venv/bin/python bench/connector_bench.py --filings 2000 --skip-latency
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package
from sqlalchemy import func, select
from sync_vs_peers import Corpus, bytes_of, machine_line, plan

from postroom.archive.repository import insert_messages
from postroom.config import Settings
from postroom.db.models import Filing, Location, Tenant
from postroom.domain.message import extract_metadata
from postroom.runtime import Runtime
from postroom.security.keyring import generate_key
from postroom.services import connectors, filing_rules, filings, locations, profiles
from postroom.services import secrets as secret_service
from postroom.services.access import Actor
from postroom.services.sync import run_profile
from postroom.services.tenants import create_tenant
from postroom.testing.dovecot import Dovecot
from postroom.testing.processes import POSTROOM, ServeProcess

MB = 1_000_000
FILE_CHUNK = 1000  # filings.MAX_MESSAGES_PER_REQUEST


@dataclass
class Site:
    runtime: Runtime
    tenant: Tenant
    env: dict[str, str]
    work: Path

    def location(self, name: str, fmt: str) -> Path:
        folder = self.work / "shares" / name
        folder.mkdir(parents=True)
        with self.runtime.transaction() as session:
            locations.create_location(session, self.tenant.id, {"name": name, "sync_path": str(folder), "format": fmt})
        return folder

    def license(self, name: str, server_url: str) -> Path:
        with self.runtime.transaction() as session:
            tenant = session.get(Tenant, self.tenant.id)
            assert tenant is not None
            _connector, text = connectors.create_connector(session, tenant, name, [], "bench", server_url)
        path = self.work / f"{name}.lic"
        path.write_text(text)
        return path

    def connector(self, license: Path, *args: str) -> list[str]:
        state = self.work / f"state-{license.stem}"
        return [str(POSTROOM), "connector", "run", "--license", str(license), "--state-dir", str(state), *args]


def open_site(work: Path, database_url: str | None) -> Site:
    data = work / "data"
    settings = Settings(data_dir=data, database_url=database_url, secret_key=generate_key())
    runtime = Runtime.open(settings, upgrade=True)
    with runtime.transaction() as session:
        tenant = create_tenant(session, Actor.local_admin(), "bench")
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTROOM_")}
    env.update(
        POSTROOM_DATA_DIR=str(data),
        POSTROOM_SECRET_KEY=str(settings.secret_key),
        POSTROOM_ADMIN_PASSWORD="bench-password-123",
        NO_COLOR="1",
    )
    if database_url:
        env["POSTROOM_DATABASE_URL"] = database_url
    return Site(runtime, tenant, env, work)


# --- throughput ----------------------------------------------------------------------------------


def archive_corpus(site: Site, count: int, seed: int) -> tuple[list[int], int]:
    """``count`` distinct corpus messages archived; their IDs and total size in bytes."""
    corpus = Corpus(seed)
    planned = plan(count * 2, seed)
    ids: list[int] = []
    total = 0
    batch: list[tuple[str, int, int, object]] = []
    seen: set[str] = set()

    def flush() -> None:
        with site.runtime.transaction() as session:
            found = insert_messages(session, site.tenant.id, batch)  # type: ignore[arg-type]
        ids.extend(found[sha] for sha, *_ in batch)
        batch.clear()

    for index in range(len(planned)):
        if len(ids) + len(batch) >= count:
            break
        if planned[index].copy_of is not None:
            continue
        raw = bytes_of(corpus, planned, seed, index)
        ref = site.runtime.blobs.put(site.tenant.id, raw)
        if ref.sha256 in seen:
            continue
        seen.add(ref.sha256)
        total += len(raw)
        batch.append((ref.sha256, ref.size, ref.stored_size, extract_metadata(raw)))
        if len(batch) >= 500:
            flush()
    if batch:
        flush()
    return ids, total


def file_all(site: Site, location: str, ids: list[int]) -> None:
    for start in range(0, len(ids), FILE_CHUNK):
        with site.runtime.transaction() as session:
            filings.file_messages(
                session, site.tenant.id, location, ids[start : start + FILE_CHUNK], source="cli", filed_by="bench"
            )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Throughput:
    fmt: str
    files: int
    seconds: float
    connector_cpu: float
    server_cpu: float
    bytes_written: int
    peak_rss_mb: float
    complete: bool


def deliver(site: Site, serve: ServeProcess, fmt: str, ids: list[int], round_: int) -> Throughput:
    name = f"{fmt}-{round_}"
    folder = site.location(name, fmt)
    file_all(site, name, ids)
    license = site.license(name, serve.url)
    server_before = cpu_seconds(serve.pid)
    log = (site.work / f"{name}.log").open("wb")
    started = time.perf_counter()
    process = subprocess.Popen(
        site.connector(license, "--once", "--batch", "500", "--log-file", str(site.work / f"{name}-file.log")),
        env=site.env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    log.close()
    server_cpu = cpu_seconds(serve.pid) - server_before
    files = [p for p in folder.rglob("*") if p.is_file()]
    with site.runtime.sessions() as session:
        written = session.scalar(
            select(func.count(Filing.id))
            .join(Location, Location.id == Filing.location_id)
            .where(Location.name == name, Filing.status == "written")
        )
    complete = process.returncode == 0 and len(files) == len(ids)
    if not complete:
        print(f"  {name}: exit {process.returncode}, {len(files)} files of {len(ids)}; see {log.name}")
    return Throughput(
        fmt,
        len(files),
        seconds,
        usage.ru_utime + usage.ru_stime,
        server_cpu,
        sum(p.stat().st_size for p in files),
        usage.ru_maxrss / 1024,
        complete and written == len(ids),
    )


def throughput(site: Site, args: argparse.Namespace) -> list[Throughput]:
    started = time.perf_counter()
    ids, total = archive_corpus(site, args.filings, args.seed)
    print(f"archived {len(ids)} messages ({total / MB:.0f} MB) in {time.perf_counter() - started:.0f} s")
    results = []
    with ServeProcess(site.env, site.work / "serve.log") as serve:
        serve.start()
        for round_ in range(args.repeat):
            for fmt in args.formats:
                result = deliver(site, serve, fmt, ids, round_)
                print(f"  {fmt} round {round_ + 1}: {result.files / result.seconds:.0f} files/s")
                results.append(result)
    return results


def throughput_table(results: list[Throughput], goals: dict[str, int]) -> str:
    rows = [
        "| format | files | wall s | files/s | MB/s | connector CPU s | server CPU s | connector peak RSS MB | goal |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for fmt in dict.fromkeys(r.fmt for r in results):
        mine = [r for r in results if r.fmt == fmt]
        best = sorted(mine, key=lambda r: r.seconds)[len(mine) // 2]  # the median round
        rate = best.files / best.seconds
        verdict = ("✓" if rate > goals[fmt] else "✗") + f" > {goals[fmt]}/s"
        if not all(r.complete for r in mine):
            verdict = "FAILED: not every filing was written"
        rows.append(
            f"| {fmt} | {best.files} | {best.seconds:.1f} | {rate:.0f} | {best.bytes_written / MB / best.seconds:.1f} "
            f"| {best.connector_cpu:.1f} | {best.server_cpu:.1f} | {best.peak_rss_mb:.0f} | {verdict} |"
        )
    return "\n".join(rows)


# --- latency -------------------------------------------------------------------------------------


def message(subject: str) -> bytes:
    return (
        f"From: Anna <anna@example.com>\r\nTo: bob@example.com\r\nSubject: {subject}\r\n"
        f"Date: {datetime.now(UTC).strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@bench.example>\r\n\r\nLatency probe.\r\n"
    ).encode()


def latency(site: Site, args: argparse.Namespace) -> list[float]:
    folder = site.location("Latency", "eml")
    with Dovecot() as server:
        user, password = "latency", "latency-password-1"
        server.add_user(user, password)
        with site.runtime.transaction() as session:
            secret = secret_service.create_secret(
                session,
                site.runtime.secret_box,
                site.tenant.id,
                "login",
                "basic",
                {"username": user, "password": password},
            )
            profile = profiles.create_profile(
                session,
                site.tenant.id,
                {
                    "name": "latency",
                    "type": "imap",
                    "mode": "single",
                    "server_name": server.host,
                    "port": server.imaps_port,
                    "protocol": "IMAP-SSL",
                    "secret_id": secret.id,
                    "mailbox": f"{user}@example.test",
                    "tls_trusted_ca": server.ca_cert_path.read_text(),
                },
            )
            filing_rules.create_rule(
                session, site.tenant.id, {"name": "Inbox", "location": "Latency", "conditions": {"folder": "INBOX"}}
            )
        run_profile(site.runtime, site.tenant.id, profile.id)
        stop = threading.Event()

        def sync_loop() -> None:  # what a schedule "every N seconds" would do
            while not stop.wait(args.sync_interval):
                run_profile(site.runtime, site.tenant.id, profile.id)

        samples: list[float] = []
        with ServeProcess(site.env, site.work / "serve-latency.log") as serve:
            serve.start()
            license = site.license("latency", serve.url)
            log = (site.work / "latency-connector.log").open("wb")
            connector = subprocess.Popen(
                site.connector(license, "--interval", str(args.poll)),
                env=site.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            syncing = threading.Thread(target=sync_loop, daemon=True)
            syncing.start()
            rng = random.Random(args.seed)
            try:
                for n in range(args.samples):
                    time.sleep(rng.uniform(0, args.sync_interval))
                    subject = f"Latency probe {n}"
                    server.append(user, password, "INBOX", message(subject), (), datetime.now(UTC))
                    sent = time.perf_counter()
                    deadline = sent + 3 * (2 * args.poll + args.sync_interval) + 30
                    while not any(subject in p.name for p in folder.iterdir()):
                        if time.perf_counter() > deadline:
                            raise SystemExit(f"probe {n} never appeared; see {log.name}")
                        time.sleep(0.01)
                    samples.append(time.perf_counter() - sent)
                    print(f"  probe {n}: {samples[-1]:.2f} s")
            finally:
                stop.set()
                syncing.join()
                connector.terminate()
                connector.wait(timeout=60)
                log.close()
    return samples


def latency_table(samples: list[float], args: argparse.Namespace) -> str:
    bound = 2 * args.poll + args.sync_interval
    worst = max(samples)
    verdict = "✓" if worst < bound else "✗"
    return "\n".join(
        [
            "| poll interval s | sync interval s | probes | median s | max s | goal: under 2 x poll + sync |",
            "| ---: | ---: | ---: | ---: | ---: | --- |",
            f"| {args.poll:g} | {args.sync_interval:g} | {len(samples)} | {statistics.median(samples):.2f} "
            f"| {worst:.2f} | {verdict} {bound:g} s |",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--filings", type=int, default=10_000, help="filings per format (goal: 10,000)")
    parser.add_argument("--formats", default="eml,msg", help="comma-separated: eml, msg")
    parser.add_argument("--repeat", type=int, default=1, help="rounds per format; the table shows the median")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None, help="default: SQLite in the work folder")
    parser.add_argument("--poll", type=float, default=2.0, help="the connector's poll interval, seconds")
    parser.add_argument("--sync-interval", type=float, default=5.0, help="seconds between syncs of the mailbox")
    parser.add_argument("--samples", type=int, default=10, help="latency probes")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--dir", type=Path, default=None, help="where the work folder goes (the disk measured)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    args.formats = [f.strip() for f in args.formats.split(",") if f.strip()]

    work = Path(tempfile.mkdtemp(prefix="postroom-connector-bench-", dir=args.dir))
    try:
        site = open_site(work, args.database_url)
        print(machine_line())
        print(f"work folder on {work} ({'PostgreSQL' if args.database_url else 'SQLite'})")
        tables = []
        if not args.skip_throughput:
            results = throughput(site, args)
            tables.append(throughput_table(results, {"eml": 500, "msg": 150}))
        if not args.skip_latency:
            tables.append(latency_table(latency(site, args), args))
        site.runtime.close()
        print()
        print("\n\n".join(tables))
        print(f"\npeak RSS of this driver: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
