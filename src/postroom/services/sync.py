"""Running a folder-synchronization profile: the process log around the sync engine.

Each run is a ``folder-sync`` process with one ``mailbox-sync`` sub-process per mailbox; every
folder's counts, every deletion in the source and every error is a message in the log.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from postroom.archive.repository import mailbox_for
from postroom.db.models import FilingRule, Process, Secret
from postroom.domain.process import ProcessStatus, ProcessType, Severity
from postroom.domain.profile import Mode, ProfileSettings
from postroom.errors import FieldError, InvalidInput, PostroomError, SourceError
from postroom.runtime import Runtime
from postroom.services import processes
from postroom.services.profiles import get_profile, settings_of
from postroom.services.secrets import reveal
from postroom.sources.registry import open_source
from postroom.sync.engine import Cancelled, MailboxReport, SyncEngine, SyncJob

ProgressCallback = Callable[[str, int, int, int], None]


class ProcessObserver:
    """Writes the engine's messages to a process and answers whether it (or its run) was cancelled."""

    def __init__(
        self,
        runtime: Runtime,
        process_id: str,
        on_progress: ProgressCallback | None = None,
        *,
        run_id: str | None = None,
    ) -> None:
        self.runtime = runtime
        self.process_id = process_id
        self.on_progress = on_progress
        self._watched = [process_id] if run_id is None or run_id == process_id else [process_id, run_id]
        self._checked_at = 0.0
        self._cancelled = False

    def log(self, severity: Severity, text: str) -> None:
        self.log_many([(severity, text)])

    def log_many(self, lines: list[tuple[Severity, str]]) -> None:
        """Several messages in one transaction (a summary line per folder)."""
        with self.runtime.transaction() as session:
            process = session.get(Process, self.process_id)
            assert process is not None
            for severity, text in lines:
                processes.log(session, process, severity, text)

    def progress(self, folder: str, done: int, total: int, nbytes: int) -> None:
        if self.on_progress:
            self.on_progress(folder, done, total, nbytes)

    def cancelled(self) -> bool:
        """Whether this process, or the run it belongs to, was asked to stop (read at most once a second)."""
        if not self._cancelled and time.monotonic() - self._checked_at > 1.0:
            self._checked_at = time.monotonic()
            with self.runtime.sessions() as session:
                asked = session.scalars(select(Process.cancel_requested).where(Process.id.in_(self._watched)))
                self._cancelled = any(asked)
        return self._cancelled


@dataclass
class RunResult:
    request_id: str
    status: ProcessStatus
    mailboxes: dict[str, MailboxReport] = field(default_factory=dict)
    error: PostroomError | None = None  # what ended the run (or its first failed mailbox), when it failed with one
    failed_mailboxes: list[str] = field(default_factory=list)


def _finish(runtime: Runtime, process_id: str, status: ProcessStatus | None = None) -> ProcessStatus:
    with runtime.transaction() as session:
        process = session.get(Process, process_id)
        assert process is not None
        return ProcessStatus(processes.finish_process(session, process, status).status)


@dataclass(frozen=True)
class PreparedRun:
    """A run whose process exists (so its request ID can be shown) but that has not started.

    Single-mailbox profiles get their mailbox's sub-process (``child_id``) and ``job`` here;
    multiple-mailbox profiles list their mailboxes when the run starts, each its own sub-process.
    """

    request_id: str
    parent_id: str
    tenant_id: str
    profile_id: str
    settings: ProfileSettings
    secret: dict[str, object] = field(repr=False)
    dry_run_delete: bool = False
    child_id: str | None = None
    job: SyncJob | None = None
    rules_since: datetime | None = None  # filing rules cover what was archived since then (see _apply_filing_rules)


def prepare_run(
    runtime: Runtime,
    tenant_id: str,
    profile_key: str,
    *,
    dry_run_delete: bool = False,
    process_id: str | None = None,
) -> PreparedRun:
    """Check the profile, and open the run's process (and, for one mailbox, its sub-process) in the log.

    With ``process_id`` the run is that queued process (a scheduled or re-queued run) instead
    of a new one; sub-processes an earlier, interrupted attempt left running are closed as failed.
    """
    with runtime.transaction() as session:
        profile = get_profile(session, tenant_id, profile_key)
        settings = settings_of(profile)
        if settings.mode is Mode.MULTIPLE and settings.directory_service_id is None:
            raise InvalidInput(
                FieldError("directory_service_id", "choose the directory service that lists the mailboxes")
            )
        if settings.mode is Mode.SINGLE and settings.mailbox is None:
            raise InvalidInput(FieldError("mailbox", "the profile has no mailbox yet"))
        secret_row = session.get(Secret, settings.secret_id) if settings.secret_id else None
        secret = reveal(runtime.secret_box, secret_row) if secret_row else {}
        rules_since = _last_success(session, profile.id)
        if process_id is None:
            parent = processes.start_process(session, tenant_id, ProcessType.FOLDER_SYNC, configuration_id=profile.id)
        else:
            parent = processes.resume_process(session, process_id)
        run = PreparedRun(
            parent.request_id,
            parent.id,
            tenant_id,
            profile.id,
            settings,
            secret,
            dry_run_delete,
            None,
            None,
            rules_since,
        )
        if settings.mode is Mode.MULTIPLE:
            return run
        assert settings.mailbox is not None
        child, job = _open_mailbox(session, run, parent, settings.mailbox)
        return dataclasses.replace(run, child_id=child.id, job=job)


def _last_success(session: Session, profile_id: str) -> datetime | None:
    """When the profile's last successful run started: it filed everything archived since."""
    return session.scalar(
        select(func.max(Process.started_at)).where(
            Process.type == ProcessType.FOLDER_SYNC.value,
            Process.configuration_id == profile_id,
            Process.status == ProcessStatus.SUCCEEDED.value,
        )
    )


def _open_mailbox(
    session: Session, run: PreparedRun, parent: Process, address: str, status: ProcessStatus = ProcessStatus.RUNNING
) -> tuple[Process, SyncJob]:
    """The mailbox's sub-process of the run, and what the engine is to do for it."""
    mailbox = mailbox_for(session, run.tenant_id, address)
    child = processes.start_process(
        session, run.tenant_id, ProcessType.MAILBOX_SYNC, configuration_id=run.profile_id, parent=parent, status=status
    )
    source_name = run.settings.server_name or run.settings.type.label
    processes.log(session, child, Severity.INFO, f"synchronizing {address} from {source_name}")
    job = SyncJob(run.tenant_id, run.profile_id, mailbox.id, run.settings.delete_policy, run.dry_run_delete)
    return child, job


@dataclass(frozen=True)
class MailboxTarget:
    address: str
    child_id: str
    job: SyncJob


def _apply_filing_rules(runtime: Runtime, run: PreparedRun, target: MailboxTarget, observer: ProcessObserver) -> None:
    """File by the rules what the mailbox archived since the profile's last successful run began.

    Not only this run's: a run killed between archiving and filing left its mail unfiled, and the
    next run, finding nothing new at the source, must still file it. Filing twice is one filing.
    """
    with runtime.transaction() as session:
        enabled = select(FilingRule.id).where(FilingRule.tenant_id == run.tenant_id, FilingRule.enabled.is_(True))
        if session.scalar(enabled.limit(1)) is None:
            return
        # imported only now: filing pulls in locations and file naming, which a run without rules never needs
        from postroom.services.filing_rules import apply_rules

        applied = apply_rules(session, run.tenant_id, since=run.rules_since, mailbox_id=target.job.mailbox_id)
    observer.log(Severity.INFO, f"filing rules: {applied.filed} messages filed")


_SERVER_SLOTS: dict[tuple[str, int | None], threading.BoundedSemaphore] = {}
_SERVER_SLOTS_LOCK = threading.Lock()


def _server_slots(runtime: Runtime, settings: ProfileSettings) -> threading.BoundedSemaphore:
    """How many mailboxes this process syncs at once from one mail server, across all its runs."""
    key = ((settings.server_name or settings.type.value).casefold(), settings.port)
    with _SERVER_SLOTS_LOCK:
        if key not in _SERVER_SLOTS:
            _SERVER_SLOTS[key] = threading.BoundedSemaphore(runtime.settings.mailboxes_per_server)
        return _SERVER_SLOTS[key]


def sync_mailbox(
    runtime: Runtime, run: PreparedRun, target: MailboxTarget, on_progress: ProgressCallback | None
) -> tuple[MailboxReport | None, PostroomError | None]:
    """One mailbox of the run, its sub-process finished: the report, or the error that ended it."""
    observer = ProcessObserver(runtime, target.child_id, on_progress, run_id=run.parent_id)
    status: ProcessStatus | None = None
    report: MailboxReport | None = None
    error: PostroomError | None = None
    try:
        with _server_slots(runtime, run.settings):
            if observer.cancelled():
                raise Cancelled("cancelled before this mailbox started")
            source = open_source(run.settings, run.secret, target.address)
            try:
                engine = SyncEngine(
                    runtime.sessions, runtime.blobs, observer, connections=runtime.settings.sync_connections
                )
                report = engine.run(source, target.job)
            finally:
                source.close()
        summary = [(Severity.INFO, f"{path}: {counts.summary()}") for path, counts in report.folders.items()]
        observer.log_many([*summary, (Severity.INFO, f"done: {report.total().summary()}")])
        _apply_filing_rules(runtime, run, target, observer)
    except Cancelled as exc:
        observer.log(Severity.WARNING, str(exc))
        status = ProcessStatus.CANCELLED
    except PostroomError as exc:
        observer.log(Severity.ERROR, str(exc))
        error = exc
    except Exception as exc:
        observer.log(Severity.ERROR, f"internal error ({type(exc).__name__}): {exc}")
        _finish(runtime, target.child_id, ProcessStatus.FAILED)
        raise
    _finish(runtime, target.child_id, status)
    return report, error


def list_run_mailboxes(
    runtime: Runtime, run: PreparedRun, status: ProcessStatus = ProcessStatus.RUNNING
) -> list[MailboxTarget]:
    """Multiple-mailbox mode: the directory's mailboxes (after synchronizing users, when the profile
    asks for it, as its own process under the run), each with its sub-process opened (``queued``
    when workers are to take them one by one)."""
    from postroom.services import directories  # ldap3 is loaded only by runs that need a directory

    directory = run.settings.directory_service_id
    assert directory is not None
    run_log = ProcessObserver(runtime, run.parent_id)
    if run.settings.synchronize_users:
        synced = directories.execute_directory_sync(
            runtime, directories.prepare_directory_sync(runtime, run.tenant_id, directory, parent_id=run.parent_id)
        )
        if synced.status is ProcessStatus.FAILED:
            raise SourceError("directory", f"synchronizing users failed ({synced.request_id}): {synced.error}")
        addresses = [entry.address for entry in synced.entries]
    else:
        addresses = [entry.address for entry in directories.list_mailboxes(runtime, run.tenant_id, directory).mailboxes]
    run_log.log(Severity.INFO, f"{len(addresses)} mailboxes listed by the directory service")
    with runtime.transaction() as session:
        parent = session.get(Process, run.parent_id)
        assert parent is not None
        targets = []
        for address in addresses:
            child, job = _open_mailbox(session, run, parent, address, status)
            targets.append(MailboxTarget(address, child.id, job))
        return targets


def prepare_mailbox(
    runtime: Runtime, tenant_id: str, profile_id: str, parent_id: str, child_id: str, address: str
) -> tuple[PreparedRun, MailboxTarget]:
    """A mailbox of a multiple-mailbox run, for the worker that takes it (``jobs/``): the run as
    :func:`prepare_run` saw it, and the mailbox's target. Opens no process."""
    with runtime.transaction() as session:
        profile = get_profile(session, tenant_id, profile_id)
        settings = settings_of(profile)
        secret_row = session.get(Secret, settings.secret_id) if settings.secret_id else None
        secret = reveal(runtime.secret_box, secret_row) if secret_row else {}
        parent = session.get(Process, parent_id)
        assert parent is not None
        run = PreparedRun(
            parent.request_id,
            parent.id,
            tenant_id,
            profile.id,
            settings,
            secret,
            rules_since=_last_success(session, profile.id),
        )
        mailbox = mailbox_for(session, tenant_id, address)
        job = SyncJob(tenant_id, profile.id, mailbox.id, settings.delete_policy, False)
        return run, MailboxTarget(address, child_id, job)


def failed_summary(failed: list[str], total: int) -> str:
    """The run's line naming the mailboxes that failed."""
    shown = ", ".join(failed[:20]) + (" …" if len(failed) > 20 else "")
    return f"{len(failed)} of {total} mailboxes failed: {shown}"


RetryNote = Callable[[RunResult], str | None]


def execute_run(
    runtime: Runtime,
    run: PreparedRun,
    on_progress: ProgressCallback | None = None,
    *,
    retry_note: RetryNote | None = None,
) -> RunResult:
    """Synchronize the prepared run's mailbox (or each mailbox its directory lists) into the archive.

    Mailboxes of a multiple-mailbox run go ``POSTROOM_MAILBOXES_IN_PARALLEL`` at a time, and never
    more than ``POSTROOM_MAILBOXES_PER_SERVER`` from one mail server in this process. One failed
    mailbox fails the run (its error rises to the run's severity) but not the other mailboxes.

    ``retry_note`` is for runs that may be tried again (queued runs). A failed attempt for which it
    returns a note goes back to *queued* with that note as a warning, in the transaction that would
    otherwise have finished it, so nobody sees the run failed in between; the result's status is
    then QUEUED. With it, the last attempt decides how the run ended: errors that an earlier attempt
    logged do not fail a later one that succeeded.
    """
    result = RunResult(run.request_id, ProcessStatus.RUNNING)
    try:
        if run.job is not None:
            assert run.child_id is not None and run.settings.mailbox is not None
            targets = [MailboxTarget(run.settings.mailbox, run.child_id, run.job)]
        else:
            targets = list_run_mailboxes(runtime, run)
        workers = max(1, min(runtime.settings.mailboxes_in_parallel, len(targets)))
        with ThreadPoolExecutor(workers, thread_name_prefix="mailbox") as pool:
            done = pool.map(lambda target: (target, *sync_mailbox(runtime, run, target, on_progress)), targets)
            for target, report, error in done:
                if report is not None:
                    result.mailboxes[target.address] = report
                if error is not None:
                    result.failed_mailboxes.append(target.address)
                    result.error = result.error or error
        if len(targets) > 1 and result.failed_mailboxes:
            ProcessObserver(runtime, run.parent_id).log(
                Severity.ERROR, failed_summary(result.failed_mailboxes, len(targets))
            )
    except PostroomError as exc:  # the directory could not list the mailboxes
        ProcessObserver(runtime, run.parent_id).log(Severity.ERROR, str(exc))
        result.error = exc
    except Exception:
        _finish(runtime, run.parent_id, ProcessStatus.FAILED)
        raise
    result.status = _end_attempt(runtime, run.parent_id, result, retry_note)
    return result


def _end_attempt(runtime: Runtime, process_id: str, result: RunResult, retry_note: RetryNote | None) -> ProcessStatus:
    with runtime.transaction() as session:
        process = session.get(Process, process_id)
        assert process is not None
        status = processes.outcome_of(process)
        if retry_note is not None and status is ProcessStatus.FAILED:
            if result.error is None and not result.failed_mailboxes:
                status = ProcessStatus.SUCCEEDED  # the errors were an earlier attempt's
            else:
                result.status = status
                note = retry_note(result)
                if note is not None:
                    processes.log(session, process, Severity.WARNING, note)
                    process.status, process.finished_at = ProcessStatus.QUEUED.value, None
                    return ProcessStatus.QUEUED
        return ProcessStatus(processes.finish_process(session, process, status).status)


def run_profile(
    runtime: Runtime,
    tenant_id: str,
    profile_key: str,
    *,
    dry_run_delete: bool = False,
    on_progress: ProgressCallback | None = None,
) -> RunResult:
    """Synchronize a profile's mailbox(es) into the archive, now, in this thread."""
    return execute_run(
        runtime, prepare_run(runtime, tenant_id, profile_key, dry_run_delete=dry_run_delete), on_progress
    )
