"""The folder-sync engine: one source mailbox into one archive mailbox.

It depends only on the ``MailSource`` and ``BlobStore`` protocols. A run has three phases:

1. **Folders.** List the source's folders; recognise renamed ones by their identity
   (UIDVALIDITY for IMAP, the folder id elsewhere) and rename them in the archive; mark folders
   gone from the source as deleted (their messages stay archived).
2. **Changes.** Ask every folder what changed since its cursor; record vanished messages and new
   flags. New messages are only listed here.
3. **Messages.** For each new message: if a vanished message with the same Message-ID, size and
   internal date exists in the mailbox, it was *moved*, so its entry moves without a download;
   after a UIDVALIDITY reset, entries of the folder itself are re-linked the same way. Everything
   else is fetched, written to the blob store and fsynced, and only then committed to the
   database, batch by batch. A folder's cursor is stored after all its messages are committed.

Then the delete-in-source policy runs: a message is deleted at the source only after its blob has
been read back and its hash verified, and every deletion is logged.

Crash safety: an entry is unique per (folder, source id) and committed with its message row in one
transaction after the blob is durable; cursors move only after that. A run killed anywhere is
completed by the next run with nothing lost and nothing twice.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import CursorResult, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from postroom.archive.blobstore import BlobRef, BlobStore
from postroom.archive.repository import folder_for, insert_messages, recognition_text, rename_folder
from postroom.db.archive import ArchiveFolder, FolderEntry, Message, SyncFolderState
from postroom.db.types import utcnow
from postroom.domain.delete_policy import DeletePolicy, DeleteWhen
from postroom.domain.message import MessageMetadata, extract_metadata
from postroom.domain.process import Severity
from postroom.errors import PostroomError, SourceError
from postroom.sources.base import FolderChanges, MailSource, RemoteMessage, SourceFolder


class SyncObserver(Protocol):
    """Where the engine reports: the process log, a progress bar, a cancel button."""

    def log(self, severity: Severity, text: str) -> None: ...

    def progress(self, folder: str, done: int, total: int, nbytes: int) -> None: ...

    def cancelled(self) -> bool: ...


class Cancelled(PostroomError):
    """The run was cancelled; what was committed stays."""


@dataclass
class FolderCounts:
    new: int = 0  # fetched and stored (or found already stored: content is kept once)
    moved: int = 0  # recognised as moved from another folder: not downloaded again
    relinked: int = 0  # re-linked after a UIDVALIDITY reset: not downloaded again
    vanished: int = 0  # gone from this source folder (still in the archive)
    flags: int = 0
    deleted_in_source: int = 0
    failed: int = 0
    bytes: int = 0

    def summary(self) -> str:
        parts = [f"{value} {name.replace('_', ' ')}" for name, value in vars(self).items() if value and name != "bytes"]
        return ", ".join(parts) or "no changes"


@dataclass
class MailboxReport:
    folders: dict[str, FolderCounts] = field(default_factory=dict)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    deleted_folders: list[str] = field(default_factory=list)
    would_delete: list[str] = field(default_factory=list)

    def total(self) -> FolderCounts:
        total = FolderCounts()
        for counts in self.folders.values():
            for name, value in vars(counts).items():
                setattr(total, name, getattr(total, name) + value)
        return total


@dataclass(frozen=True)
class SyncJob:
    tenant_id: str
    profile_id: str
    mailbox_id: int
    delete_policy: DeletePolicy
    dry_run_delete: bool = False


@dataclass
class _Folder:
    source: SourceFolder
    archive_id: int
    state_id: int
    path: str
    cursor: dict[str, Any] | None = None  # as stored when the run began
    changes: FolderChanges | None = None


class SyncEngine:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        blobs: BlobStore,
        observer: SyncObserver,
        *,
        batch_bytes: int = 6 << 20,  # two batches are in flight per folder (memory goal: < 200 MB)
        batch_messages: int = 200,
        put_threads: int = 4,
        connections: int = 3,
        clock: Callable[[], datetime] = utcnow,
        fault: Callable[[str], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.blobs = blobs
        self.observer = observer
        self.batch_bytes = batch_bytes
        self.batch_messages = batch_messages
        self.put_threads = put_threads
        self.connections = max(1, connections)  # folders fetched at once, each on its own connection
        self.clock = clock
        self.fault = fault or (lambda _point: None)  # tests inject crashes at named points

    def run(self, source: MailSource, job: SyncJob) -> MailboxReport:
        report = MailboxReport()
        folders = self._plan_folders(source, job, report)
        for folder in folders:
            self._check_cancel()
            folder.changes = source.changes(folder.source, folder.cursor)
            self._apply_changes(job, folder, report)
        # Hashing, compressing and fsyncing release the GIL: blobs are written by a few threads
        # shared by all folders while the next messages arrive.
        with ThreadPoolExecutor(self.put_threads, thread_name_prefix="blob-put") as puts:
            self._store_all(source, job, [f for f in folders if f.changes and f.changes.new], report, puts)
        if job.delete_policy.when is not DeleteWhen.NEVER:
            for folder in folders:
                self._check_cancel()
                self._delete_in_source(source, job, folder, report)
        return report

    def _check_cancel(self) -> None:
        if self.observer.cancelled():
            raise Cancelled("cancelled by request; everything archived so far is kept")

    # --- phase 1: folders ----------------------------------------------------------------------

    def _plan_folders(self, source: MailSource, job: SyncJob, report: MailboxReport) -> list[_Folder]:
        listed = list(source.list_folders())
        by_key = {f.key: f for f in listed}
        notes: list[tuple[Severity, str]] = []  # logged after the commit: SQLite has one writer at a time
        with self.sessions() as session, session.begin():
            states = {
                s.source_key: s
                for s in session.scalars(
                    select(SyncFolderState).where(
                        SyncFolderState.profile_id == job.profile_id,
                        SyncFolderState.mailbox_id == job.mailbox_id,
                    )
                )
            }
            fresh = [f for f in listed if f.key not in states]
            gone = [s for key, s in states.items() if key not in by_key]
            gone.sort(key=lambda s: self._folder_path(session, s.folder_id).count("/"))
            for state in gone:
                twins = [f for f in fresh if f.identity and f.identity == state.identity]
                folder = session.get(ArchiveFolder, state.folder_id)
                assert folder is not None
                if len(twins) == 1:
                    old_path = folder.path
                    rename_folder(session, folder, twins[0].path)
                    del states[state.source_key]
                    state.source_key = twins[0].key
                    states[state.source_key] = state
                    fresh.remove(twins[0])
                    report.renamed.append((old_path, folder.path))
                    notes.append((Severity.INFO, f"folder {old_path!r} was renamed to {folder.path!r}"))
                else:
                    folder.source_deleted_at = folder.source_deleted_at or self.clock()
                    session.execute(
                        update(FolderEntry)
                        .where(FolderEntry.folder_id == folder.id, FolderEntry.vanished_at.is_(None))
                        .values(vanished_at=self.clock())
                    )
                    session.delete(state)
                    del states[state.source_key]
                    report.deleted_folders.append(folder.path)
                    notes.append(
                        (Severity.INFO, f"folder {folder.path!r} no longer exists at the source; kept in the archive")
                    )
            planned = []
            for source_folder in sorted(listed, key=lambda f: f.path):
                archive = folder_for(session, job.mailbox_id, source_folder.path, source_folder.special_use)
                if not source_folder.selectable:
                    continue
                existing = states.get(source_folder.key)
                if existing is None:
                    state = SyncFolderState(
                        profile_id=job.profile_id,
                        mailbox_id=job.mailbox_id,
                        folder_id=archive.id,
                        source_key=source_folder.key,
                        identity=source_folder.identity,
                        cursor={},
                    )
                    session.add(state)
                    session.flush()
                else:
                    state = existing
                    state.folder_id, state.identity = archive.id, source_folder.identity
                cursor = dict(state.cursor) if state.cursor else None
                planned.append(_Folder(source_folder, archive.id, state.id, archive.path, cursor))
                report.folders[archive.path] = FolderCounts()
        for severity, text in notes:
            self.observer.log(severity, text)
        return planned

    @staticmethod
    def _folder_path(session: Session, folder_id: int) -> str:
        folder = session.get(ArchiveFolder, folder_id)
        return folder.path if folder else ""

    # --- phase 2: changes ----------------------------------------------------------------------

    def _apply_changes(self, job: SyncJob, folder: _Folder, report: MailboxReport) -> None:
        changes = folder.changes
        assert changes is not None
        counts = report.folders[folder.path]
        now = self.clock()
        quiet = not (changes.reset or changes.new or changes.vanished or changes.flag_changes)
        if quiet and changes.present is None:  # the common case: nothing to look up or write
            if changes.cursor != folder.cursor:
                with self.sessions() as session, session.begin():
                    self._store_cursor(session, folder)
            return
        with self.sessions() as session, session.begin():
            if changes.reset:
                session.execute(
                    update(FolderEntry).where(FolderEntry.folder_id == folder.archive_id).values(source_id=None)
                )
            live: dict[str, int] = dict(
                session.execute(  # type: ignore[arg-type]
                    select(FolderEntry.source_id, FolderEntry.id).where(
                        FolderEntry.folder_id == folder.archive_id,
                        FolderEntry.source_id.is_not(None),
                        FolderEntry.vanished_at.is_(None),
                    )
                ).all()
            )
            gone = set(changes.vanished or ()) & set(live)
            if changes.present is not None:
                gone |= set(live) - changes.present
            if gone:
                session.execute(
                    update(FolderEntry).where(FolderEntry.id.in_([live[g] for g in gone])).values(vanished_at=now)
                )
                counts.vanished += len(gone)
            for source_id, flags in changes.flag_changes.items():
                if source_id in live and source_id not in gone:
                    session.execute(
                        update(FolderEntry).where(FolderEntry.id == live[source_id]).values(flags=sorted(flags))
                    )
                    counts.flags += 1
            known = set(live) - gone
            changes.new = [m for m in changes.new if m.id not in known]
            if not changes.new:
                self._store_cursor(session, folder)
        if changes.reset:
            self.observer.log(
                Severity.WARNING,
                f"folder {folder.path!r}: the server reset its UIDs (UIDVALIDITY changed); "
                "re-linking archived messages instead of storing them again",
            )

    def _store_cursor(self, session: Session, folder: _Folder) -> None:
        assert folder.changes is not None
        state = session.get(SyncFolderState, folder.state_id)
        assert state is not None
        state.cursor = dict(folder.changes.cursor)

    # --- phase 3: messages ---------------------------------------------------------------------

    def _store_all(
        self, source: MailSource, job: SyncJob, busy: list[_Folder], report: MailboxReport, puts: ThreadPoolExecutor
    ) -> None:
        """Fetch the new messages of ``busy`` folders, several folders at once on their own connections.

        The server streams one folder while another folder's messages are hashed, compressed and
        committed; the largest folders start first so that one big folder does not run alone at the end.
        """
        if self.connections == 1 or len(busy) <= 1:
            for folder in busy:
                self._check_cancel()
                self._store_new(source, job, folder, report, puts)
            return
        busy = sorted(busy, key=lambda f: -sum(m.size or 0 for m in f.changes.new) if f.changes else 0)
        idle: queue.SimpleQueue[MailSource] = queue.SimpleQueue()
        idle.put(source)
        forks: list[MailSource] = []
        refused = threading.Event()  # the server took no more connections: share the ones open
        lock = threading.Lock()

        def connection() -> MailSource:
            with lock:
                may_fork = not refused.is_set() and len(forks) + 1 < self.connections
            if may_fork:
                try:
                    return idle.get_nowait()
                except queue.Empty:
                    pass
                try:
                    fork = source.fork()
                except SourceError as exc:
                    with lock:
                        first = not refused.is_set()
                        refused.set()
                    if first:
                        self.observer.log(Severity.INFO, f"fetching folders one connection at a time: {exc}")
                else:
                    with lock:
                        forks.append(fork)
                    return fork
            return idle.get()

        def work(folder: _Folder) -> None:
            self._check_cancel()
            connected = connection()
            try:
                self._store_new(connected, job, folder, report, puts)
            finally:
                idle.put(connected)

        try:
            with ThreadPoolExecutor(min(self.connections, len(busy)), thread_name_prefix="folder") as pool:
                futures = [pool.submit(work, folder) for folder in busy]
                wait(futures, return_when=FIRST_EXCEPTION)
                for future in futures:
                    future.cancel()  # after an error (a cancel, a crash) start no other folder
                for future in futures:
                    if not future.cancelled():
                        future.result()  # the first error, if any, leaves here
        finally:
            for fork in forks:
                fork.close()

    def _put(self, tenant_id: str, raw: bytes) -> tuple[BlobRef, MessageMetadata]:
        """Store the bytes and read their metadata, on a blob-put thread."""
        return self.blobs.put(tenant_id, raw), extract_metadata(raw)

    def _store_new(
        self, source: MailSource, job: SyncJob, folder: _Folder, report: MailboxReport, puts: ThreadPoolExecutor
    ) -> None:
        changes = folder.changes
        assert changes is not None
        if not changes.new:
            return
        counts = report.folders[folder.path]
        to_fetch = self._link_recognised(job, folder, changes.new, counts)
        total, done = len(changes.new), len(changes.new) - len(to_fetch)
        self.observer.progress(folder.path, done, total, 0)
        Batch = list[tuple[RemoteMessage, Future[tuple[BlobRef, MessageMetadata]]]]
        pending: Batch = []
        waiting: Batch = []  # the batch before: its puts finish while ``pending`` fills
        pending_size = 0
        fetched: set[str] = set()

        def commit(batch: Batch) -> int:
            # every put must be finished (and then synced) before the rows that point at them commit
            rows = []
            for message, future in batch:
                ref, meta = future.result()
                rows.append((message, ref.sha256, ref.size, ref.stored_size, meta))
            return self._commit_batch(job, folder, rows, counts) if rows else 0

        try:
            for message, raw in source.fetch(folder.source, to_fetch):
                fetched.add(message.id)
                pending.append((message, puts.submit(self._put, job.tenant_id, raw)))
                pending_size += len(raw)
                del raw  # held by the put until it is stored
                if len(pending) >= self.batch_messages or pending_size >= self.batch_bytes:
                    done += commit(waiting)
                    waiting, pending, pending_size = pending, [], 0
                    self.observer.progress(folder.path, done, total, counts.bytes)
                    self._check_cancel()
            done += commit(waiting)
            done += commit(pending)
            waiting, pending = [], []
            self.observer.progress(folder.path, done, total, counts.bytes)
        except SourceError as exc:
            done += commit(waiting) + commit(pending)  # what arrived before the error is kept
            counts.failed += len(to_fetch) - len(fetched)
            self.observer.log(Severity.ERROR, f"folder {folder.path!r}: {exc}; the rest is fetched next run")
            return
        missing = [m for m in to_fetch if m.id not in fetched]
        if missing:
            counts.failed += len(missing)
            self.observer.log(
                Severity.WARNING,
                f"folder {folder.path!r}: {len(missing)} message(s) disappeared before they could be "
                "fetched (deleted or moved meanwhile); they are picked up where they went",
            )
        with self.sessions() as session, session.begin():
            self._store_cursor(session, folder)

    def _link_recognised(
        self, job: SyncJob, folder: _Folder, new: list[RemoteMessage], counts: FolderCounts
    ) -> list[RemoteMessage]:
        """Move or re-link entries recognised by Message-ID, size and internal date; the rest to fetch."""
        keyed = {recognition_text(m.message_id, m.size, m.internal_date): m for m in new}
        keyed.pop(None, None)
        if not keyed:
            return new
        linked: set[str] = set()
        # An entry may claim only while it is still unclaimed: folders are stored in parallel, and
        # a message copied into two folders must not be claimed by both (one would lose its entry).
        claimable = (FolderEntry.vanished_at.is_not(None)) | (
            (FolderEntry.folder_id == folder.archive_id) & FolderEntry.source_id.is_(None)
        )
        with self.sessions() as session, session.begin():
            rows = session.execute(
                select(FolderEntry.id, FolderEntry.folder_id, FolderEntry.vanished_at, FolderEntry.recognition)
                .join(ArchiveFolder, ArchiveFolder.id == FolderEntry.folder_id)
                .where(
                    ArchiveFolder.mailbox_id == job.mailbox_id,
                    FolderEntry.recognition.in_(list(keyed)),
                    FolderEntry.deleted_in_source_at.is_(None),
                    claimable,
                )
                .order_by(FolderEntry.id)
            ).all()
            for entry_id, folder_id, vanished_at, recognition in rows:
                message = keyed.get(recognition)
                if message is None or message.id in linked:
                    continue
                claimed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
                    update(FolderEntry)
                    .where(FolderEntry.id == entry_id, FolderEntry.deleted_in_source_at.is_(None), claimable)
                    .values(
                        folder_id=folder.archive_id, source_id=message.id, vanished_at=None, flags=sorted(message.flags)
                    )
                    .execution_options(synchronize_session=False)
                )
                if claimed.rowcount != 1:  # taken meanwhile by another folder: fetch instead
                    continue
                linked.add(message.id)
                if folder_id != folder.archive_id or vanished_at is not None:
                    counts.moved += 1
                else:
                    counts.relinked += 1
        return [m for m in new if m.id not in linked]

    def _commit_batch(
        self,
        job: SyncJob,
        folder: _Folder,
        batch: list[tuple[RemoteMessage, str, int, int, MessageMetadata]],
        counts: FolderCounts,
    ) -> int:
        self.blobs.sync()  # blobs durable before the rows that point at them
        self.fault("after-blobs")
        with self.sessions() as session, session.begin():
            ids = insert_messages(
                session, job.tenant_id, [(sha, size, stored, meta) for _m, sha, size, stored, meta in batch]
            )
            listed = set(
                session.scalars(
                    select(FolderEntry.source_id).where(
                        FolderEntry.folder_id == folder.archive_id,
                        FolderEntry.source_id.in_([message.id for message, *_rest in batch]),
                    )
                )
            )
            rows = [
                {
                    "folder_id": folder.archive_id,
                    "message_id": ids[sha256],
                    "source_id": message.id,
                    "flags": sorted(message.flags),
                    "internal_date": message.internal_date,
                    "recognition": recognition_text(message.message_id, message.size, message.internal_date),
                    "archived_at": self.clock(),
                }
                for message, sha256, _size, _stored, _meta in batch
                if message.id not in listed
            ]
            if rows:
                session.execute(insert(FolderEntry), rows)
        counts.new += len(batch)
        counts.bytes += sum(size for _m, _sha, size, _stored, _meta in batch)
        self.fault("after-commit")
        return len(batch)

    # --- delete in source ----------------------------------------------------------------------

    def _delete_in_source(self, source: MailSource, job: SyncJob, folder: _Folder, report: MailboxReport) -> None:
        counts = report.folders[folder.path]
        policy = job.delete_policy
        now = self.clock()
        cutoff = policy.cutoff(now)
        with self.sessions() as session:
            stmt = (
                select(FolderEntry.id, FolderEntry.source_id, Message.sha256, Message.subject, Message.date)
                .join(Message, Message.id == FolderEntry.message_id)
                .where(
                    FolderEntry.folder_id == folder.archive_id,
                    FolderEntry.source_id.is_not(None),
                    FolderEntry.vanished_at.is_(None),
                    FolderEntry.deleted_in_source_at.is_(None),
                )
            )
            if policy.when is DeleteWhen.ARCHIVED_OLDER_THAN and cutoff is not None:
                stmt = stmt.where(FolderEntry.archived_at <= cutoff)
            elif policy.when is DeleteWhen.MESSAGE_OLDER_THAN and cutoff is not None:
                stmt = stmt.where(FolderEntry.internal_date.is_not(None), FolderEntry.internal_date <= cutoff)
            candidates = session.execute(stmt.order_by(FolderEntry.id)).all()
        if not candidates:
            return
        verified: dict[str, tuple[int, str, str]] = {}
        for entry_id, source_id, sha256, subject, _date in candidates:
            assert source_id is not None
            if self.blobs.verify(job.tenant_id, sha256):
                verified[source_id] = (entry_id, sha256, subject)
            else:
                self.observer.log(
                    Severity.ERROR,
                    f"folder {folder.path!r}: message {source_id} ({subject!r}) NOT deleted at the source: "
                    "its archived copy failed verification",
                )
        self.fault("after-verify")
        if job.dry_run_delete:
            for source_id, (_entry, _sha, subject) in verified.items():
                report.would_delete.append(f"{folder.path}: {source_id} {subject}")
                self.observer.log(
                    Severity.INFO, f"dry run: would delete {folder.path!r} message {source_id} ({subject!r})"
                )
            return
        removed = source.delete(folder.source, list(verified))
        with self.sessions() as session, session.begin():
            ids = [verified[r][0] for r in removed if r in verified]
            if ids:
                session.execute(
                    update(FolderEntry).where(FolderEntry.id.in_(ids)).values(deleted_in_source_at=now, vanished_at=now)
                )
        for source_id in removed:
            _entry, sha256, subject = verified[source_id]
            self.observer.log(
                Severity.INFO,
                f"deleted at the source: {folder.path!r} message {source_id} ({subject!r}, "
                f"sha256 {sha256[:12]}…), archived and verified",
            )
        counts.deleted_in_source += len(removed)
        if len(removed) < len(verified):
            self.observer.log(
                Severity.WARNING,
                f"folder {folder.path!r}: {len(verified) - len(removed)} message(s) were not removed by the "
                "server (without UIDPLUS Postroom never expunges messages others flagged \\Deleted)",
            )
