"""Directory services: stored, searched, edited, deleted, read, tested and synchronized.

The rules are pure (``domain/directory.py``); this module adds what needs the database: names
unique per tenant (case-insensitively), the bind secret by reference (a username/password secret
of the same tenant), the profiles and schedules that keep a directory service from being deleted,
and the process log. Reading a directory happens outside any database transaction.

"Synchronize users" (seed 002) is a ``directory-sync`` process of its own: it reads the
directory, cleans the listing (addresses normalised, duplicates dropped, invalid entries
reported as warnings) and makes sure every listed mailbox has its archive mailbox, creating those
of new users. It never deletes anything: a user who left keeps their archive.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from postroom.archive.repository import mailbox_for
from postroom.db.archive import ArchiveMailbox
from postroom.db.models import DirectoryService, Process, Profile, Schedule, Secret
from postroom.domain.connection_test import ConnectionTest, StepStatus
from postroom.domain.directory import (
    DirectorySettings,
    DirectoryType,
    allowed_secret_kinds,
    apply_changes,
    validate_new_directory,
)
from postroom.domain.mailbox_list import DirectoryEntry, Listing, clean_listing
from postroom.domain.naming import is_storable, like_contains_pattern, name_key
from postroom.domain.process import ProcessStatus, ProcessType, Severity
from postroom.errors import FieldError, InUse, PostroomError
from postroom.runtime import Runtime
from postroom.services import lookup, processes
from postroom.services.secrets import check_kind, reveal
from postroom.sources.directory.registry import open_directory

logger = logging.getLogger("postroom.directories")

_COLUMNS = ("name", "type", "secret_id")
MAX_LOGGED_PROBLEMS = 100  # warnings per run; the rest are counted in one line


def settings_of(directory: DirectoryService) -> DirectorySettings:
    """The validated settings of a stored directory service."""
    raw: dict[str, object] = dict(directory.settings)
    raw.update({column: getattr(directory, column) for column in _COLUMNS})
    return validate_new_directory(raw)


def _check_secret_kind(session: Session, settings: DirectorySettings) -> None:
    needs = f"{settings.type.label} directory services bind with"
    check_kind(session, settings.secret_id, allowed_secret_kinds(settings.type), needs)


def _resolve_secret(
    session: Session, tenant_id: str, raw: Mapping[str, object]
) -> tuple[dict[str, object], list[FieldError]]:
    """Turn a secret's name into its ID; an unknown one becomes a field error."""
    values = dict(raw)
    error = lookup.resolve_reference(session, Secret, tenant_id, values, "secret_id", "secret")
    return values, [error] if error else []


def _store(directory: DirectoryService, settings: DirectorySettings) -> None:
    data = settings.to_dict()
    directory.name = settings.name
    directory.name_key = name_key(settings.name)
    directory.type = settings.type.value
    directory.secret_id = settings.secret_id
    directory.settings = {
        k: v for k, v in data.items() if k not in _COLUMNS and v is not None and not (k == "entries" and not v)
    }


def create_directory(session: Session, tenant_id: str, raw: Mapping[str, object]) -> DirectoryService:
    values, missing = _resolve_secret(session, tenant_id, raw)
    settings = lookup.validated_with(missing, lambda: validate_new_directory(values))
    _check_secret_kind(session, settings)
    lookup.ensure_name_free(session, DirectoryService, tenant_id, settings.name, "directory service")
    directory = DirectoryService(tenant_id=tenant_id)
    _store(directory, settings)
    session.add(directory)
    session.flush()
    return directory


def get_directory(session: Session, tenant_id: str, key: str) -> DirectoryService:
    """A directory service of the tenant by ID (case-insensitive) or name (case-insensitive)."""
    return lookup.get(session, DirectoryService, tenant_id, key, "directory service")


def update_directory(session: Session, tenant_id: str, key: str, changes: Mapping[str, object]) -> DirectoryService:
    """Change the fields given (the type stays); the result must pass the rules of a new one."""
    directory = get_directory(session, tenant_id, key)
    values, missing = _resolve_secret(session, tenant_id, changes)
    current = settings_of(directory)
    settings = lookup.validated_with(missing, lambda: apply_changes(current, values))
    _check_secret_kind(session, settings)
    lookup.ensure_name_free(session, DirectoryService, tenant_id, settings.name, "directory service", directory.id)
    _store(directory, settings)
    session.flush()
    return directory


def users_of(session: Session, directory: DirectoryService) -> list[str]:
    """What refers to the directory service: its profiles and schedules, by name."""
    profiles = session.scalars(select(Profile.name).where(Profile.directory_service_id == directory.id))
    schedules = session.scalars(select(Schedule.name).where(Schedule.directory_service_id == directory.id))
    return [f"profile {name!r}" for name in sorted(profiles)] + [f"schedule {name!r}" for name in sorted(schedules)]


def delete_directory(session: Session, tenant_id: str, key: str) -> None:
    directory = get_directory(session, tenant_id, key)
    users = users_of(session, directory)
    if users:
        raise InUse(
            f"directory service {directory.name!r} is used by {', '.join(users)}; "
            "change or delete those first (a directory service can only be deleted while nothing uses it)"
        )
    session.delete(directory)
    session.flush()


def search_directories(session: Session, tenant_id: str, query: str | None = None) -> list[DirectoryService]:
    """Name case-insensitively *contains* ``query``, or ID case-insensitively *equals* it."""
    stmt = select(DirectoryService).where(DirectoryService.tenant_id == tenant_id).order_by(DirectoryService.name_key)
    if query and not is_storable(query):
        return []  # no name or ID contains it
    if query and query.strip():
        stmt = stmt.where(
            DirectoryService.name_key.like(like_contains_pattern(query), escape="\\")
            | (DirectoryService.id == query.strip().lower())
        )
    return list(session.scalars(stmt))


def directory_to_dict(session: Session, directory: DirectoryService) -> dict[str, Any]:
    settings = settings_of(directory)
    data: dict[str, Any] = {"id": directory.id, **settings.to_dict()}
    if settings.type is DirectoryType.STATIC:
        data = {k: v for k, v in data.items() if k in ("id", "name", "type", "entries")}
        data["entry_count"] = len(settings.entries)
    else:
        del data["entries"]
    secret = session.get(Secret, directory.secret_id) if directory.secret_id else None
    users = users_of(session, directory)
    data.update(
        type_label=settings.type.label,
        secret_name=secret.name if secret else None,
        bind_dn=secret.summary.get("username") if secret else None,
        used_by=users,
        deletable=not users,
        created_at=directory.created_at.isoformat(),
        updated_at=directory.updated_at.isoformat(),
    )
    return data


# --- reading the directory ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Opened:
    id: str
    name: str
    settings: DirectorySettings
    secret: dict[str, Any] = field(repr=False)


def _load(runtime: Runtime, tenant_id: str, key: str) -> _Opened:
    with runtime.transaction() as session:
        directory = get_directory(session, tenant_id, key)
        settings = settings_of(directory)
        row = session.get(Secret, settings.secret_id) if settings.secret_id else None
        secret = reveal(runtime.secret_box, row) if row else {}
        return _Opened(directory.id, directory.name, settings, secret)


def list_mailboxes(runtime: Runtime, tenant_id: str, key: str) -> Listing:
    """Read the directory now: its mailboxes cleaned, with what was left out and why.

    Raises :class:`~postroom.errors.SourceError` when the directory cannot be reached or read.
    """
    opened = _load(runtime, tenant_id, key)
    return clean_listing(open_directory(opened.settings, opened.secret).mailboxes())


def check_directory(runtime: Runtime, tenant_id: str, key: str) -> ConnectionTest:
    """Test the directory's connection step by step, kept as a ``connection-test`` process."""
    opened = _load(runtime, tenant_id, key)
    with runtime.transaction() as session:
        process = processes.start_process(session, tenant_id, ProcessType.CONNECTION_TEST, configuration_id=opened.id)
        processes.log(session, process, Severity.INFO, f"testing directory service {opened.name!r}")
        process_id, request_id = process.id, process.request_id
    try:
        result = open_directory(opened.settings, opened.secret).test()
    except Exception as exc:
        _fail(runtime, process_id, f"internal error ({type(exc).__name__}): {exc}")
        raise
    with runtime.transaction() as session:
        done = session.get(Process, process_id)
        assert done is not None
        for step in result.steps:
            severity = Severity.ERROR if step.status is StepStatus.FAILED else Severity.INFO
            processes.log(session, done, severity, step.log_line())
        processes.finish_process(session, done)
    return dataclasses.replace(result, request_id=request_id)


# --- synchronize users ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedDirectorySync:
    """A directory sync whose process exists (its request ID can be shown) but has not run."""

    request_id: str
    process_id: str
    tenant_id: str
    directory_id: str
    name: str
    settings: DirectorySettings
    secret: dict[str, Any] = field(repr=False)


@dataclass
class DirectorySyncResult:
    request_id: str
    status: ProcessStatus
    read: int = 0
    mailboxes: int = 0
    created: int = 0
    duplicates: int = 0
    invalid: int = 0
    error: str | None = None
    entries: list[DirectoryEntry] = field(default_factory=list, repr=False)  # the mailboxes listed

    def to_dict(self) -> dict[str, Any]:
        answer = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "entries"}
        return answer | {"status": self.status.value}


def prepare_directory_sync(
    runtime: Runtime, tenant_id: str, key: str, *, parent_id: str | None = None, process_id: str | None = None
) -> PreparedDirectorySync:
    """Check the directory service and open its ``directory-sync`` process (a sub-process of
    ``parent_id``, say a folder-sync run, when given; or the queued ``process_id`` a schedule made)."""
    opened = _load(runtime, tenant_id, key)
    with runtime.transaction() as session:
        if process_id is not None:
            process = processes.resume_process(session, process_id)
        else:
            parent = session.get(Process, parent_id) if parent_id else None
            process = processes.start_process(
                session, tenant_id, ProcessType.DIRECTORY_SYNC, configuration_id=opened.id, parent=parent
            )
        what = "static list" if opened.settings.type is DirectoryType.STATIC else opened.settings.server_name
        processes.log(session, process, Severity.INFO, f"synchronizing users of {opened.name!r} ({what})")
        return PreparedDirectorySync(
            process.request_id, process.id, tenant_id, opened.id, opened.name, opened.settings, opened.secret
        )


def execute_directory_sync(runtime: Runtime, prepared: PreparedDirectorySync) -> DirectorySyncResult:
    """Read the directory and create the archive mailboxes of new users, in this thread."""
    with processes.kept_alive(runtime, prepared.process_id):  # a dead worker's sync is ended, not left running
        return _execute_directory_sync(runtime, prepared)


def _execute_directory_sync(runtime: Runtime, prepared: PreparedDirectorySync) -> DirectorySyncResult:
    result = DirectorySyncResult(prepared.request_id, ProcessStatus.RUNNING)
    try:
        listing = clean_listing(open_directory(prepared.settings, prepared.secret).mailboxes())
    except PostroomError as exc:
        result.error = str(exc)
        result.status = _fail(runtime, prepared.process_id, str(exc))
        return result
    except Exception as exc:
        _fail(runtime, prepared.process_id, f"internal error ({type(exc).__name__}): {exc}")
        raise
    with runtime.transaction() as session:
        process = session.get(Process, prepared.process_id)
        assert process is not None
        for line in listing.invalid[:MAX_LOGGED_PROBLEMS]:
            processes.log(session, process, Severity.WARNING, f"left out: {line}")
        if len(listing.invalid) > MAX_LOGGED_PROBLEMS:
            more = len(listing.invalid) - MAX_LOGGED_PROBLEMS
            processes.log(session, process, Severity.WARNING, f"left out: {more} more entries without a valid address")
        existing = set(
            session.scalars(select(ArchiveMailbox.address_key).where(ArchiveMailbox.tenant_id == prepared.tenant_id))
        )
        created = 0
        for entry in listing.mailboxes:
            if name_key(entry.address) not in existing:
                mailbox_for(session, prepared.tenant_id, entry.address, entry.display_name or "")
                created += 1
        result.read, result.mailboxes, result.created = listing.read, len(listing.mailboxes), created
        result.entries = list(listing.mailboxes)
        result.duplicates, result.invalid = listing.duplicates, len(listing.invalid)
        processes.log(
            session,
            process,
            Severity.INFO,
            f"done: {result.read} entries read, {result.mailboxes} mailboxes "
            f"({created} new archive mailboxes), {result.duplicates} duplicates dropped, "
            f"{result.invalid} without a valid address",
        )
        result.status = ProcessStatus(processes.finish_process(session, process).status)
    return result


def synchronize_users(runtime: Runtime, tenant_id: str, key: str) -> DirectorySyncResult:
    """Run the directory sync now, in this thread."""
    return execute_directory_sync(runtime, prepare_directory_sync(runtime, tenant_id, key))


def start_directory_sync(runtime: Runtime, tenant_id: str, key: str) -> PreparedDirectorySync:
    """Synchronize users now, by hand (the API's and the portal's): in a background thread of this
    process; answers at once with the ``directory-sync`` process to follow in the log. A large
    directory takes a while, and a web request must not wait for it."""
    prepared = prepare_directory_sync(runtime, tenant_id, key)

    def execute() -> None:
        try:
            execute_directory_sync(runtime, prepared)
        except Exception:  # already recorded in the process log as an internal error
            logger.exception("directory sync %s failed", prepared.request_id)

    threading.Thread(target=execute, name=f"directory-sync-{prepared.request_id}", daemon=True).start()
    return prepared


def _fail(runtime: Runtime, process_id: str, text: str) -> ProcessStatus:
    with runtime.transaction() as session:
        process = session.get(Process, process_id)
        assert process is not None
        processes.log(session, process, Severity.ERROR, text)
        return ProcessStatus(processes.finish_process(session, process, ProcessStatus.FAILED).status)
