"""Running a folder-synchronization profile: the process log around the sync engine.

Each run is a ``folder-sync`` process with one ``mailbox-sync`` sub-process per mailbox; every
folder's counts, every deletion in the source and every error is a message in the log.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from postroom.archive.repository import mailbox_for
from postroom.db.models import Process, Secret
from postroom.db.types import utcnow
from postroom.domain.process import ProcessStatus, ProcessType, Severity
from postroom.domain.profile import Mode, ProfileSettings
from postroom.errors import FieldError, InvalidInput, PostroomError
from postroom.runtime import Runtime
from postroom.services import processes
from postroom.services.filing_rules import apply_rules, has_enabled_rules
from postroom.services.profiles import get_profile, settings_of
from postroom.services.secrets import reveal
from postroom.sources.registry import open_source
from postroom.sync.engine import Cancelled, MailboxReport, SyncEngine, SyncJob

ProgressCallback = Callable[[str, int, int, int], None]


class ProcessObserver:
    """Writes the engine's messages to a process and answers whether it was cancelled."""

    def __init__(self, runtime: Runtime, process_id: str, on_progress: ProgressCallback | None = None) -> None:
        self.runtime = runtime
        self.process_id = process_id
        self.on_progress = on_progress
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
        if not self._cancelled and time.monotonic() - self._checked_at > 1.0:
            self._checked_at = time.monotonic()
            with self.runtime.sessions() as session:
                process = session.get(Process, self.process_id)
                self._cancelled = bool(process and process.cancel_requested)
        return self._cancelled


@dataclass
class RunResult:
    request_id: str
    status: ProcessStatus
    mailboxes: dict[str, MailboxReport] = field(default_factory=dict)


def _finish(runtime: Runtime, process_id: str, status: ProcessStatus | None = None) -> ProcessStatus:
    with runtime.transaction() as session:
        process = session.get(Process, process_id)
        assert process is not None
        return ProcessStatus(processes.finish_process(session, process, status).status)


@dataclass(frozen=True)
class PreparedRun:
    """A run whose processes exist (so its request ID can be shown) but that has not started."""

    request_id: str
    parent_id: str
    child_id: str
    job: SyncJob
    settings: ProfileSettings
    secret: dict[str, object]


def prepare_run(runtime: Runtime, tenant_id: str, profile_key: str, *, dry_run_delete: bool = False) -> PreparedRun:
    """Check the profile, and open the run's process and its mailbox sub-process in the log."""
    with runtime.transaction() as session:
        profile = get_profile(session, tenant_id, profile_key)
        settings = settings_of(profile)
        if settings.mode is Mode.MULTIPLE:
            raise InvalidInput(
                FieldError(
                    "mode",
                    "this profile synchronizes multiple mailboxes, which needs directory services "
                    "(not available yet); use a single-mailbox profile per mailbox for now",
                )
            )
        if settings.mailbox is None:
            raise InvalidInput(FieldError("mailbox", "the profile has no mailbox yet"))
        secret_row = session.get(Secret, settings.secret_id) if settings.secret_id else None
        secret = reveal(runtime.secret_box, secret_row) if secret_row else {}
        parent = processes.start_process(session, tenant_id, ProcessType.FOLDER_SYNC, configuration_id=profile.id)
        mailbox = mailbox_for(session, tenant_id, settings.mailbox)
        child = processes.start_process(
            session, tenant_id, ProcessType.MAILBOX_SYNC, configuration_id=profile.id, parent=parent
        )
        source_name = settings.server_name or settings.type.label
        processes.log(session, child, Severity.INFO, f"synchronizing {settings.mailbox} from {source_name}")
        job = SyncJob(tenant_id, profile.id, mailbox.id, settings.delete_policy, dry_run_delete)
        return PreparedRun(parent.request_id, parent.id, child.id, job, settings, secret)


def _apply_filing_rules(runtime: Runtime, run: PreparedRun, started: datetime, observer: ProcessObserver) -> None:
    """File what the run archived (listed in the mailbox's folders since it started) by the rules."""
    with runtime.transaction() as session:
        if not has_enabled_rules(session, run.job.tenant_id):
            return
        applied = apply_rules(session, run.job.tenant_id, since=started, mailbox_id=run.job.mailbox_id)
    observer.log(Severity.INFO, f"filing rules: {applied.filed} messages filed")


def execute_run(runtime: Runtime, run: PreparedRun, on_progress: ProgressCallback | None = None) -> RunResult:
    """Synchronize the prepared run's mailbox into the archive, in this thread."""
    result = RunResult(run.request_id, ProcessStatus.RUNNING)
    observer = ProcessObserver(runtime, run.child_id, on_progress)
    mailbox = run.settings.mailbox
    assert mailbox is not None
    status: ProcessStatus | None = None
    try:
        started = utcnow()
        source = open_source(run.settings, run.secret, mailbox)
        try:
            report = SyncEngine(
                runtime.sessions, runtime.blobs, observer, connections=runtime.settings.sync_connections
            ).run(source, run.job)
        finally:
            source.close()
        result.mailboxes[mailbox] = report
        summary = [(Severity.INFO, f"{path}: {counts.summary()}") for path, counts in report.folders.items()]
        observer.log_many([*summary, (Severity.INFO, f"done: {report.total().summary()}")])
        _apply_filing_rules(runtime, run, started, observer)
    except Cancelled as exc:
        observer.log(Severity.WARNING, str(exc))
        status = ProcessStatus.CANCELLED
    except PostroomError as exc:
        observer.log(Severity.ERROR, str(exc))
    except Exception as exc:
        observer.log(Severity.ERROR, f"internal error ({type(exc).__name__}): {exc}")
        _finish(runtime, run.child_id, ProcessStatus.FAILED)
        _finish(runtime, run.parent_id, ProcessStatus.FAILED)
        raise
    _finish(runtime, run.child_id, status)
    result.status = _finish(runtime, run.parent_id, status)
    return result


def run_profile(
    runtime: Runtime,
    tenant_id: str,
    profile_key: str,
    *,
    dry_run_delete: bool = False,
    on_progress: ProgressCallback | None = None,
) -> RunResult:
    """Synchronize a profile's mailbox into the archive, now, in this thread."""
    return execute_run(
        runtime, prepare_run(runtime, tenant_id, profile_key, dry_run_delete=dry_run_delete), on_progress
    )
