"""The connector's loop: hold the lease, claim deliveries, write them, report what became of them.

Start: lock the state folder, ``hello``, take the lease (while another connector holds it, wait
and ask again every poll interval; with ``--once`` stop with exit code 4), read the config,
remove stale temporary files from the location folders, and send the journal's results first.

A pass: heartbeat when due (every third of the lease time), claim up to ``batch`` deliveries,
skip at once those whose folder is unreachable (``no_path``) or fails the write check (one
check per folder per pass), and cut the others into groups (up to 50 deliveries or 8 MiB). Each
group is one thread's work: fetch its messages in one request, name and convert them, and write
them one by one, so that the fsyncs of several threads overlap. Results are journaled and
reported in batches. A full claim means more is due: claim again at once; otherwise wait the
poll interval.

The lease is never trusted past the connector's own deadline — the last successful renewal plus
the lease time minus a third — and nothing is written after it until a heartbeat succeeds, so a
connector cut off from the server stops writing before another can be granted the lease.

=================================  ==================================================================
what happens                       what the agent does
=================================  ==================================================================
server unreachable (or 5xx)        keeps running; "server unreachable, retrying in N s", back-off
                                   doubling up to the poll interval (at most 60 s); journal first after
``LeaseLost``                      stops writing, drops the deliveries not yet started, takes it again
``LeaseHeld``                      logs the holder the server names; asks again every poll interval
``LicenseRevoked`` (any 401)       logs it and exits with code 3 (the systemd unit does not restart)
SIGTERM / SIGINT (:meth:`stop`)    finishes the files in progress, reports, releases the lease, exit 0
=================================  ==================================================================
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import timedelta
from enum import IntEnum
from pathlib import Path
from typing import Protocol

import httpx

from postroom.connector.client import MAX_FETCH, ConnectorClient, FetchedMessage
from postroom.connector.errors import ProtocolError, ServerUnreachable, StateFolderInUse
from postroom.connector.protocol import Delivery, DeliveryResult
from postroom.connector.state import StateFolder
from postroom.connector.writer import (
    DIRECT_KINDS,
    Destination,
    Prepared,
    destination_result,
    destinations,
    failed,
    prepare,
    problem_result,
    write,
)
from postroom.destinations.local import check_writable, cleanup_stale_temp_files, sync_folders
from postroom.domain.connector import License, Outcome
from postroom.domain.location import PathKind, PathRoot
from postroom.errors import (
    ConfigurationError,
    Conflict,
    DestinationError,
    LeaseHeld,
    LeaseLost,
    NotAuthenticated,
    NotFound,
    PostroomError,
)

__all__ = ["Agent", "AgentSettings", "Clock", "ExitCode", "SystemClock"]

log = logging.getLogger("postroom.connector")

CLEANUP_EVERY = 6 * 3600.0
MAX_BACKOFF = 60.0


class ExitCode(IntEnum):
    OK = 0  # stopped on a signal, or --once filed everything due and reported it
    FAILED = 1  # --once: results left unreported, the server unreachable, or an unexpected error
    CONFIGURATION = 2  # the license file, a --root or the state folder is unusable (or in use)
    LICENSE_REFUSED = 3  # the server revoked or does not know the license: not restarted
    LEASE_HELD = 4  # --once: another connector holds the lease


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float, stop: threading.Event) -> None:
        """Wait ``seconds``, or less when ``stop`` is set."""


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float, stop: threading.Event) -> None:
        stop.wait(max(0.0, seconds))


@dataclass(frozen=True)
class AgentSettings:
    license: License
    state_dir: Path
    roots: tuple[PathRoot, ...] = ()  # --root: before the server's path roots
    interval: float | None = None  # seconds between polls; None: what the server says
    once: bool = False
    batch: int = 100
    fetchers: int = 4
    report_every: float = 5.0  # seconds: results are reported at least this often while writing
    host: str = field(default_factory=socket.gethostname)
    direct: frozenset[PathKind] = DIRECT_KINDS


class Agent:
    """``postroom connector run``: drive it with :meth:`run`, stop it with :meth:`stop` (any thread)."""

    def __init__(
        self,
        settings: AgentSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.client = ConnectorClient(settings.license, transport=transport)
        self._stop = threading.Event()
        self._lease_seconds = 60.0
        self._interval = settings.interval or 30.0
        self._renewed_at = 0.0  # monotonic time the last successful grant or heartbeat was asked
        self._destinations: dict[str, Destination] = {}
        self._config_due = True
        self._cleaned_at: float | None = None
        self._unjournaled: list[DeliveryResult] = []  # recorded by the pool's threads, journaled by run's
        self._results_lock = threading.Lock()
        self._lease_lock = threading.RLock()  # one heartbeat at a time, whichever thread finds it due
        self._reported_at = 0.0
        self._state: StateFolder | None = None

    # ------------------------------------------------------------ control

    def stop(self) -> None:
        """Finish the file in progress, report, release the lease and return from :meth:`run`."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> int:
        """Run until stopped (or one pass with ``once``); the process exit code."""
        try:
            with StateFolder(self.settings.state_dir) as state:
                self._state = state
                with ThreadPoolExecutor(self.settings.fetchers, thread_name_prefix="fetch") as pool:
                    return int(self._run(pool))
        except (StateFolderInUse, ConfigurationError) as exc:
            log.error("%s", exc)
            return ExitCode.CONFIGURATION
        finally:
            self.client.close()

    @property
    def state(self) -> StateFolder:
        assert self._state is not None, "the agent is not running"
        return self._state

    def _run(self, pool: ThreadPoolExecutor) -> ExitCode:
        backoff = _Backoff(min(self._interval, MAX_BACKOFF))
        code = ExitCode.OK
        try:
            while not self.stopping:
                try:
                    full = self._pass(pool)
                    backoff.reset()
                    if self.settings.once and not full:
                        break
                    if not full:
                        self.clock.sleep(self._interval, self._stop)
                except ServerUnreachable as exc:
                    if self.settings.once:
                        raise
                    delay = backoff.next()
                    log.warning("server unreachable, retrying in %g s: %s", delay, exc)
                    self.clock.sleep(delay, self._stop)
                except LeaseLost as exc:
                    if self.settings.once:
                        raise
                    log.warning("the lease was lost (%s): writing stopped; taking the lease again", exc)
                    self.client.fencing_token = None
                except LeaseHeld as exc:
                    if self.settings.once:
                        log.error("another connector holds the lease: %s", exc)
                        return ExitCode.LEASE_HELD
                    log.warning("another connector holds the lease: %s; asking again in %g s", exc, self._interval)
                    self.clock.sleep(self._interval, self._stop)
        except NotAuthenticated as exc:
            log.error("%s; the connector stops (create a new license for it to run again)", exc)
            return ExitCode.LICENSE_REFUSED
        except (PostroomError, OSError) as exc:
            log.error("the connector stops: %s", exc)
            code = ExitCode.FAILED
        self._finish()
        if self.settings.once and code is ExitCode.OK and len(self.state.journal):
            log.error("%d results could not be reported; they are kept and sent next time", len(self.state.journal))
            return ExitCode.FAILED
        return code

    def _finish(self) -> None:
        """Best effort on the way out: journal and report what is left, release the lease."""
        try:
            self._journal()
            if self.client.fencing_token is not None:
                if len(self.state.journal):
                    self._report()
                self.client.release()
                log.info("released the lease")
        except (PostroomError, OSError) as exc:
            log.warning("could not report or release the lease on the way out (%s); it expires by itself", exc)

    # ------------------------------------------------------------ the lease

    @property
    def deadline(self) -> float:
        """The monotonic time after which nothing is written without a renewal."""
        return self._renewed_at + self._lease_seconds * 2 / 3

    def _heartbeat_due(self) -> float:
        return self._renewed_at + self._lease_seconds / 3

    def _acquire(self) -> None:
        hello = self.client.hello()
        if self.settings.interval is None:
            self._interval = float(max(hello.poll_seconds, 1))
        asked = self.clock.monotonic()
        grant = self.client.acquire(self.state.instance_id, self.settings.host)
        self._renewed_at = asked
        self._lease_seconds = float(max(grant.lease_seconds, 3))
        self._config_due = True
        log.info(
            "connector %r of tenant %r holds the lease (fencing token %d, %g s); server %s",
            hello.connector_name,
            hello.tenant,
            grant.fencing_token,
            self._lease_seconds,
            hello.server_version,
        )

    def _heartbeat(self) -> None:
        with self._lease_lock:
            asked = self.clock.monotonic()
            self.client.heartbeat(backlog_local=len(self.state.journal) + len(self._unjournaled))
            self._renewed_at = asked

    def _keep_lease(self) -> None:
        """Take the lease if not held; renew it if a heartbeat is due."""
        if self.client.fencing_token is None:
            self._acquire()
        elif self.clock.monotonic() >= self._heartbeat_due():
            self._heartbeat()

    def _may_write(self) -> None:
        """Raise unless the lease is surely still ours (renewing it when the deadline has passed)."""
        with self._lease_lock:
            if self.clock.monotonic() >= self.deadline:
                log.warning("the lease deadline has passed: writing paused until the server renews it")
                self._heartbeat()

    # ------------------------------------------------------------ a pass

    def _pass(self, pool: ThreadPoolExecutor) -> bool:
        """Claim once and file what came; whether the claim was full (more is due)."""
        self._keep_lease()
        if len(self.state.journal) or self._unjournaled:
            self._journal()
            self._report()
        if self._config_due:
            self._load_config()
        deliveries = self.client.claim(self.settings.batch)
        if any(d.location_id not in self._destinations for d in deliveries):
            self._load_config()
        self._file(pool, deliveries)
        self._journal()
        if len(self.state.journal):
            self._report()
        full = len(deliveries) >= self.settings.batch
        self._config_due = not full
        return full

    def _load_config(self) -> None:
        config = self.client.config()
        for problem in config.problems:
            log.warning("ignoring a path root the server keeps for this connector: %s", problem)
        self._destinations = destinations(config, self.settings.roots, self.settings.direct)
        self._config_due = False
        now = self.clock.monotonic()
        if self._cleaned_at is None or now - self._cleaned_at >= CLEANUP_EVERY:
            self._cleaned_at = now
            for destination in self._destinations.values():
                if destination.folder is not None:
                    self._cleanup(destination)

    @staticmethod
    def _cleanup(destination: Destination) -> None:
        """Remove every temporary file a killed writer left in the folder, however new.

        This connector holds the tenant's lease, so nobody else writes these folders, and a
        previous holder stopped writing before its lease ran out (it keeps its own deadline).
        """
        assert destination.folder is not None
        try:
            removed = cleanup_stale_temp_files(destination.folder, older_than=timedelta(0))
        except OSError as exc:
            log.debug("cannot clean up %s: %s", destination.folder, exc)
            return
        if removed:
            log.info("removed %d stale temporary files in %s", removed, destination.folder)

    def _file(self, pool: ThreadPoolExecutor, deliveries: list[Delivery]) -> None:
        """Write ``deliveries``: skip the unreachable ones, and hand the rest, in groups, to the
        pool's threads, which fetch, name, convert and write them (fsyncs overlap that way)."""
        checked: dict[Path, DestinationError | None] = {}
        queue: list[tuple[Delivery, Destination]] = []
        for delivery in deliveries:
            destination = self._destinations.get(delivery.location_id)
            if destination is None:
                self._record(failed(delivery, f"the server's config has no location {delivery.location_id}"), None)
                continue
            result = problem_result(delivery, destination) or self._folder_problem(delivery, destination, checked)
            if result is not None:
                self._record(result, destination)
            else:
                queue.append((delivery, destination))
        halt = threading.Event()
        futures = [pool.submit(self._deliver, group, halt) for group in fetch_groups(queue)]
        try:
            for future in futures:
                self._wait(future)
                if self.stopping:
                    break
                if self.clock.monotonic() - self._reported_at >= self.settings.report_every:
                    self._journal()
                    self._report()
        finally:
            halt.set()  # the running groups finish the file in progress and write no more
            for future in futures:
                future.cancel()
            wait(futures)
            self._journal()

    def _folder_problem(
        self, delivery: Delivery, destination: Destination, checked: dict[Path, DestinationError | None]
    ) -> DeliveryResult | None:
        folder = destination.folder
        assert folder is not None
        if folder not in checked:
            try:
                check_writable(folder)
                checked[folder] = None
            except DestinationError as exc:
                checked[folder] = exc
        error = checked[folder]
        return None if error is None else destination_result(delivery, error)

    def _deliver(self, group: list[tuple[Delivery, Destination]], halt: threading.Event) -> None:
        """On a pool thread: fetch ``group`` in one request, write it, fsync its folders once and
        record each result; stop before the next file once ``halt`` or :meth:`stop` is set."""
        prepared = self._prepare(group)
        done: list[tuple[DeliveryResult, Destination | None]] = []
        unsynced: set[Path] = set()
        try:
            for item in prepared:
                if isinstance(item, DeliveryResult):
                    done.append((item, None))
                    continue
                if halt.is_set() or self.stopping:
                    break
                self._may_write()
                done.append((write(item, unsynced), item.destination))
        finally:
            _close(prepared, ())
            try:
                sync_folders(sorted(unsynced))
            except DestinationError as exc:  # written, but not surely durable: offered again, found present
                done = [(_unsure(r, exc) if r.outcome is Outcome.WRITTEN else r, d) for r, d in done]
            for result, destination in done:
                self._record(result, destination)

    def _prepare(self, group: list[tuple[Delivery, Destination]]) -> list[Prepared | DeliveryResult]:
        """On a fetch thread: the group's messages in one request, named and converted; a failed
        result for a delivery the server has no usable bytes for, nothing for one whose claim is
        gone (it is offered again). Connection and lease problems propagate to the writer."""
        fetched = self.client.fetch_many([delivery for delivery, _ in group])
        prepared: list[Prepared | DeliveryResult] = []
        handed = 0  # fetched messages handed on to prepare(), which closes them
        try:
            for (delivery, destination), item in zip(group, fetched, strict=True):
                handed += 1
                if isinstance(item, FetchedMessage):
                    prepared.append(prepare(delivery, destination, item))
                elif isinstance(item, NotFound | ProtocolError):
                    prepared.append(failed(delivery, str(item)))
                elif isinstance(item, Conflict):
                    log.warning("delivery %s: %s; it is offered again later", delivery.id, item)
                else:
                    raise item
        except BaseException:
            _close(prepared, fetched[handed:])
            raise
        return prepared

    def _wait(self, future: Future[None]) -> None:
        """Wait for ``future``, renewing the lease when due; its exception is raised here."""
        while True:
            timeout = max(0.05, self._heartbeat_due() - self.clock.monotonic())
            try:
                return future.result(timeout=timeout)
            except TimeoutError:
                self._heartbeat()

    # ------------------------------------------------------------ results

    def _record(self, result: DeliveryResult, destination: Destination | None) -> None:
        with self._results_lock:
            self._unjournaled.append(result)
        location = destination.location.name if destination else "-"
        name = Path(result.path).name if result.path else f"delivery {result.delivery_id}"
        if result.outcome.delivered:
            log.info("%s  %s  %s", result.outcome, location, name)
        elif result.outcome is Outcome.SKIPPED and result.reason is not None:
            log.warning(
                "skipped  %s  %s: %s: %s; to fix: %s", location, name, result.reason, result.error, result.reason.advice
            )
        else:
            log.error("failed  %s  %s: %s", location, name, result.error)

    def _journal(self) -> None:
        with self._results_lock:
            results, self._unjournaled = self._unjournaled, []
        if results:
            try:
                self.state.journal.append(results)
            except BaseException:
                with self._results_lock:
                    self._unjournaled[:0] = results
                raise

    def _report(self) -> None:
        """Send the journal's results; forget those the server answered for."""
        self._reported_at = self.clock.monotonic()
        pending = self.state.journal.pending()
        statuses = self.client.report(pending)
        unknown = [r.delivery_id for r in pending if statuses.get(r.delivery_id) == "unknown"]
        if unknown:
            log.info(
                "the server no longer knows %d deliveries (%s…); their results are dropped", len(unknown), unknown[0]
            )
        self.state.journal.acknowledge(r.key for r in pending if r.delivery_id in statuses)


GROUP_COUNT = 50  # deliveries fetched in one request …
GROUP_BYTES = 8 << 20  # … unless their messages add up to more than this (a larger one goes alone)


def _unsure(result: DeliveryResult, error: DestinationError) -> DeliveryResult:
    return DeliveryResult(result.delivery_id, result.attempt, Outcome.FAILED, error=f"written, not synced: {error}")


def fetch_groups(queue: list[tuple[Delivery, Destination]]) -> list[list[tuple[Delivery, Destination]]]:
    """``queue`` cut, in order, into the groups fetched one request each."""
    groups: list[list[tuple[Delivery, Destination]]] = []
    size = 0
    for item in queue:
        if not groups or len(groups[-1]) >= min(GROUP_COUNT, MAX_FETCH) or size + item[0].size > GROUP_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(item)
        size += item[0].size
    return groups


def _close(prepared: Iterable[Prepared | DeliveryResult], fetched: Iterable[FetchedMessage | PostroomError]) -> None:
    """Let go of the bytes of what will not be written now."""
    for item in prepared:
        if isinstance(item, Prepared):
            item.close()
    for message in fetched:
        if isinstance(message, FetchedMessage):
            message.close()


class _Backoff:
    """1 s, 2 s, 4 s, … up to ``cap``."""

    def __init__(self, cap: float) -> None:
        self.cap = max(cap, 0.5)
        self._delay = 0.0

    def next(self) -> float:
        self._delay = min(self.cap, max(0.5, self._delay * 2) if self._delay else min(1.0, self.cap))
        return self._delay

    def reset(self) -> None:
        self._delay = 0.0
