"""Message blobs: every message's bytes exactly as received, compressed, addressed by SHA-256.

``BlobStore`` is the port the sync engine, export and delete-in-source depend on;
``LocalBlobStore`` keeps blobs in a folder (``Settings.resolved_blob_dir``); an object-store
adapter can come later. Blobs are deduplicated within a tenant, never across tenants::

    <root>/<tenant_id>/<sha[0:2]>/<sha[2:4]>/<sha>.zst      one zstd frame, content size in its header

Durability — the order the archive relies on:

1. ``put`` writes the compressed blob to a temporary file in its final folder, fsyncs the file
   and renames it into place (atomic, so readers and concurrent writers of the same content only
   ever see a complete blob; identical content makes the last rename harmless).
2. The caller calls ``sync()`` (or leaves a ``with store.batch():`` block), which fsyncs every
   folder whose entries those puts changed — once per folder, however many blobs went into it,
   and also after a dedup hit on a blob this store has not itself made durable (its writer,
   perhaps another process, may not have synced yet). When that is many folders (a batch of new
   blobs lands in as many leaf folders), one ``syncfs(2)`` of the blob file system replaces the
   folder fsyncs on Linux.
3. Only then does the caller commit the database rows that refer to the blobs, and only after
   that commit does it advance its checkpoint.

A mail is deleted from its source only after ``verify`` has read its blob back, decompressed it
and found it still hashes to its name.
"""

# Blob paths are plain strings handled with os / os.path: a put builds and uses several paths,
# and pathlib objects cost ~9 us per path here against ~2 us, on the sync's hottest loop.
# ruff: noqa: PTH100, PTH103, PTH105, PTH108, PTH110, PTH116, PTH118, PTH120, PTH123

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

import zstandard

from postroom.errors import BlobCorrupt, BlobMissing, BlobStoreError, FieldError, InvalidInput
from postroom.files import fsync_folder as _fsync_folder
from postroom.files import has_syncfs
from postroom.files import syncfs as _syncfs

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

DEFAULT_LEVEL = 3
"""zstd level. SHA-256 plus level 3 runs at ~300 MB/s per core on mail here; level 1 measured no
faster end to end (the fsyncs dominate); higher levels cost much more time for little space."""

LARGE_BLOB = 1 << 20
"""Blobs above this many bytes are compressed and verified as streams instead of in one piece."""

MAX_BLOB_SIZE = 1 << 32
"""No mail system accepts messages near 4 GiB; a frame claiming more is treated as corrupt."""

TEMP_PREFIX = ".tmp-"
BLOB_SUFFIX = ".zst"

_SHA256 = re.compile(r"[0-9a-f]{64}")
_TENANT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_CHUNK = 1 << 20
_FRAME_HEADER_MAX = 18
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_DURABLE_LIMIT = 50_000  # paths remembered as durable: ~7 MB at most
# Blobs spread over 65,536 leaf folders, so a batch of puts touches about as many folders as it has
# blobs, and fsyncing each costs the sync more than a third of its main thread. Above this many
# folders one syncfs(2) of the blob file system makes every entry durable at once (Linux).
_SYNCFS_FROM = 16


@dataclass(frozen=True)
class BlobRef:
    """What ``put`` stored: the content's hash and size, the compressed size, and whether this
    call wrote the blob (``False``: the tenant already had it). Under a race, two writers of the
    same new content may both see ``created=True``; exactly one complete blob remains."""

    sha256: str
    size: int
    stored_size: int
    created: bool


@dataclass(frozen=True)
class BlobStats:
    blobs: int
    stored_bytes: int
    temp_files: int


class BlobStore(Protocol):
    """The archive's message-blob port. Every method validates its tenant id and hash."""

    def put(self, tenant_id: str, data: bytes) -> BlobRef:
        """Store ``data`` unless the tenant already has it; durable after the next ``sync()``."""
        ...

    def get(self, tenant_id: str, sha256: str) -> bytes:
        """The blob's exact bytes; ``BlobMissing`` or ``BlobCorrupt`` when it cannot be given."""
        ...

    def open(self, tenant_id: str, sha256: str) -> BinaryIO:
        """A streaming reader; ``BlobCorrupt`` is raised when reaching the end of bad content."""
        ...

    def exists(self, tenant_id: str, sha256: str) -> bool: ...

    def verify(self, tenant_id: str, sha256: str) -> bool:
        """Read the blob back and check its hash; ``False`` if it is missing or corrupt."""
        ...

    def sync(self) -> None:
        """Make every blob put before this call durable. Call it before committing their rows."""
        ...

    def batch(self) -> AbstractContextManager[None]:
        """A block whose puts are made durable (``sync()``) when it exits without an error."""
        ...


def check_tenant_id(tenant_id: str) -> str:
    if not isinstance(tenant_id, str) or not _TENANT_ID.fullmatch(tenant_id):
        raise InvalidInput(
            FieldError(
                "tenant_id",
                "must be 1-64 letters, digits, '-' or '_' and start with a letter or digit "
                f"(no path separators or dots), not {tenant_id!r}",
            )
        )
    return tenant_id


def check_sha256(sha256: str) -> str:
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise InvalidInput(FieldError("sha256", f"must be 64 lowercase hexadecimal digits, not {sha256!r}"))
    return sha256


class _Codecs(threading.local):
    """zstd contexts are not thread-safe; each thread gets its own, reused across calls."""

    def __init__(self, level: int) -> None:
        self.compressor = zstandard.ZstdCompressor(level=level, write_content_size=True)
        self.decompressor = zstandard.ZstdDecompressor()


class LocalBlobStore:
    """Blobs as files under ``root``. Safe to share between threads; several processes may use
    the same folder at once (each must ``sync()`` its own puts)."""

    def __init__(self, root: Path | str, *, level: int = DEFAULT_LEVEL, large_blob: int = LARGE_BLOB) -> None:
        self.root = Path(os.path.abspath(root))
        self._root = str(self.root)
        self._large = large_blob
        self._codecs = _Codecs(level)
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._root_parent = os.path.dirname(self._root)
        self._pending: set[str] = set()  # folders to fsync at the next sync()
        self._settling: set[str] = set()  # blobs and folders whose entries that makes durable
        self._durable: set[str] = set()  # blobs and folders whose entries are known durable

    def __repr__(self) -> str:
        return f"LocalBlobStore({self._root!r})"

    def path(self, tenant_id: str, sha256: str) -> Path:
        """Where the blob lives (whether or not it exists)."""
        return Path(self._path(tenant_id, sha256))

    def _path(self, tenant_id: str, sha256: str) -> str:
        check_tenant_id(tenant_id)
        check_sha256(sha256)
        return os.path.join(self._root, tenant_id, sha256[:2], sha256[2:4], sha256 + BLOB_SUFFIX)

    # --- writing ---------------------------------------------------------------------------

    def put(self, tenant_id: str, data: bytes) -> BlobRef:
        check_tenant_id(tenant_id)
        if len(data) > MAX_BLOB_SIZE:
            raise InvalidInput(FieldError("data", f"a message blob may hold at most {MAX_BLOB_SIZE} bytes"))
        sha256 = hashlib.sha256(data).hexdigest()
        final = self._path(tenant_id, sha256)
        folder = os.path.dirname(final)
        created = made_folder = False
        try:
            try:
                stored_size = os.stat(final).st_size
            except FileNotFoundError:
                stored_size, made_folder = self._write(folder, final, sha256, data)
                created = True
        except OSError as exc:
            raise BlobStoreError(f"cannot store message blob {sha256} in {folder}: {_reason(exc)}") from exc
        # Also after a dedup hit: the writer that created the blob may not have synced yet.
        self._note_entry(final, new=created, new_folders=made_folder)
        return BlobRef(sha256, len(data), stored_size, created)

    def _write(self, folder: str, final: str, sha256: str, data: bytes) -> tuple[int, bool]:
        """Write the blob; return its compressed size and whether its folder had to be made."""
        temp = os.path.join(folder, f"{TEMP_PREFIX}{sha256[:16]}-{os.getpid()}-{secrets.token_hex(6)}")
        made_folder = False
        try:
            fd = os.open(temp, _NEW_FILE, 0o600)
        except FileNotFoundError:
            os.makedirs(folder, exist_ok=True)
            made_folder = True
            fd = os.open(temp, _NEW_FILE, 0o600)
        try:
            with open(fd, "wb") as file:
                if len(data) > self._large:  # streamed: never a second full-size copy in memory
                    writer = self._codecs.compressor.stream_writer(file, size=len(data), closefd=False)
                    with writer:
                        writer.write(data)
                else:
                    file.write(self._codecs.compressor.compress(data))
                file.flush()
                os.fsync(fd)
                stored_size = file.tell()
            os.replace(temp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        return stored_size, made_folder

    def _note_entry(self, path: str, *, new: bool, new_folders: bool) -> None:
        """Queue the fsyncs that make ``path``'s entry durable, and its folders' entries, except
        those this store has made durable already (a folder is made once; a blob put again)."""
        with self._lock:
            if new:  # (re)written now, whatever was known before
                self._durable.discard(path)
            folder = os.path.dirname(path)
            while new_folders and folder != self._root_parent:
                self._durable.discard(folder)
                folder = os.path.dirname(folder)
            while path not in self._durable and path != self._root_parent:
                parent = os.path.dirname(path)
                self._settling.add(path)
                self._pending.add(parent)
                path = parent

    def sync(self) -> None:
        """Fsync each folder that puts since the last sync changed (from any thread).

        When it returns, every blob whose ``put`` returned before the call survives a crash or a
        power cut. Call it before committing the database rows that refer to those blobs.
        """
        with self._sync_lock:  # a second caller waits, so it never returns before the fsyncs
            with self._lock:
                pending, self._pending = self._pending, set()
                settling, self._settling = self._settling, set()
            try:
                if has_syncfs() and len(pending) >= _SYNCFS_FROM:
                    _syncfs(self._root)
                else:
                    for folder in sorted(pending, key=len, reverse=True):
                        _fsync_folder(folder)
            except OSError as exc:
                with self._lock:
                    self._pending |= pending
                    self._settling |= settling
                raise BlobStoreError(f"cannot make the blob store durable: {_reason(exc)}") from exc
            with self._lock:
                if len(self._durable) + len(settling) > _DURABLE_LIMIT:
                    self._durable.clear()  # bounded memory; costs a few redundant fsyncs later
                self._durable |= settling

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """``with store.batch(): ...put...`` then commit: the block ends with ``sync()``."""
        yield
        self.sync()

    # --- reading ---------------------------------------------------------------------------

    def exists(self, tenant_id: str, sha256: str) -> bool:
        return os.path.exists(self._path(tenant_id, sha256))

    def get(self, tenant_id: str, sha256: str) -> bytes:
        path = self._path(tenant_id, sha256)
        data = self._read(tenant_id, sha256, path, keep=True)
        assert data is not None
        return data

    def verify(self, tenant_id: str, sha256: str) -> bool:
        """Read the blob back from its file, decompress it and compare its SHA-256 with its name.

        ``False`` when it is missing or corrupt; other I/O errors raise ``BlobStoreError``. The
        read goes through the page cache, which after ``put``'s fsync holds what the disk holds.
        """
        path = self._path(tenant_id, sha256)
        try:
            self._read(tenant_id, sha256, path, keep=False)
        except (BlobMissing, BlobCorrupt):
            return False
        return True

    def _read(self, tenant_id: str, sha256: str, path: str, *, keep: bool) -> bytes | None:
        def corrupt(reason: str) -> BlobCorrupt:
            return BlobCorrupt(tenant_id, sha256, reason, path)

        try:
            with open(path, "rb") as file:
                try:
                    size = zstandard.frame_content_size(file.read(_FRAME_HEADER_MAX))
                except zstandard.ZstdError as exc:
                    raise corrupt(f"no valid zstd frame header ({exc})") from exc
                if size < 0 or size > MAX_BLOB_SIZE:
                    raise corrupt("the frame header gives no plausible content size")
                file.seek(0)
                data: bytes | None = None
                try:
                    if keep or size <= self._large:
                        data = self._codecs.decompressor.decompress(file.read(), allow_extra_data=False)
                        actual = hashlib.sha256(data).hexdigest()
                    else:  # verify a large blob without holding it
                        actual = _hash_stream(self._codecs.decompressor, file)
                except zstandard.ZstdError as exc:
                    raise corrupt(f"it does not decompress ({exc})") from exc
        except FileNotFoundError as exc:
            raise BlobMissing(tenant_id, sha256) from exc
        except OSError as exc:
            raise BlobStoreError(f"cannot read message blob {path}: {_reason(exc)}") from exc
        if actual != sha256:
            raise corrupt(f"its content hashes to {actual}")
        return data if keep else None

    def open(self, tenant_id: str, sha256: str) -> BinaryIO:
        """A buffered reader of the blob's bytes, for exporting large messages without holding
        them. The content is hashed as it is read; reaching the end of content that does not
        match raises ``BlobCorrupt`` (a reader closed early has checked nothing)."""
        path = self._path(tenant_id, sha256)
        try:
            file = open(path, "rb")  # noqa: SIM115 - the reader owns and closes it
        except FileNotFoundError as exc:
            raise BlobMissing(tenant_id, sha256) from exc
        except OSError as exc:
            raise BlobStoreError(f"cannot read message blob {path}: {_reason(exc)}") from exc
        return io.BufferedReader(_VerifyingReader(file, tenant_id, sha256, path), _CHUNK)

    # --- housekeeping ----------------------------------------------------------------------

    def cleanup_temp(self, older_than: float = 3600.0) -> int:
        """Delete temporary files left by writers that were killed mid-put; returns how many.

        Only files untouched for ``older_than`` seconds go, so a put in progress keeps its file.
        Leftovers are never read as blobs, so cleaning them up is housekeeping, not repair.
        """
        cutoff = time.time() - older_than
        removed = 0
        for folder, _subfolders, names in os.walk(self._root):
            for name in names:
                if not name.startswith(TEMP_PREFIX):
                    continue
                path = os.path.join(folder, name)
                with contextlib.suppress(FileNotFoundError):
                    if os.stat(path).st_mtime <= cutoff:
                        os.unlink(path)
                        removed += 1
        return removed

    def stats(self, tenant_id: str) -> BlobStats:
        """Count a tenant's blobs and their compressed bytes (walks the tenant's folder)."""
        blobs = stored = temps = 0
        for folder, _subfolders, names in os.walk(os.path.join(self._root, check_tenant_id(tenant_id))):
            for name in names:
                if name.startswith(TEMP_PREFIX):
                    temps += 1
                elif name.endswith(BLOB_SUFFIX):
                    blobs += 1
                    with contextlib.suppress(FileNotFoundError):
                        stored += os.stat(os.path.join(folder, name)).st_size
        return BlobStats(blobs, stored, temps)


class _VerifyingReader(io.RawIOBase):
    """Decompresses a blob file as it is read and checks its hash when the content ends."""

    def __init__(self, file: BinaryIO, tenant_id: str, sha256: str, path: str) -> None:
        super().__init__()
        self._file = file
        # A decompressor of its own: the thread's shared one may be used while this is open.
        self._reader = zstandard.ZstdDecompressor().stream_reader(file, read_across_frames=False, closefd=False)
        self._digest = hashlib.sha256()
        self._tenant_id, self._sha256, self._path = tenant_id, sha256, path
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        try:
            count = self._reader.readinto(buffer)
        except zstandard.ZstdError as exc:
            raise BlobCorrupt(self._tenant_id, self._sha256, f"it does not decompress ({exc})", self._path) from exc
        if count:
            self._digest.update(memoryview(buffer).cast("B")[:count])
        elif not self._checked:
            self._checked = True
            if self._digest.hexdigest() != self._sha256:
                raise BlobCorrupt(
                    self._tenant_id,
                    self._sha256,
                    f"its content hashes to {self._digest.hexdigest()}",
                    self._path,
                )
        return count

    def close(self) -> None:
        self._file.close()  # the zstd reader does not own it (closefd=False)
        super().close()


def _hash_stream(decompressor: zstandard.ZstdDecompressor, file: BinaryIO) -> str:
    digest = hashlib.sha256()
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    with decompressor.stream_reader(file, read_across_frames=False, closefd=False) as reader:
        while count := reader.readinto(buffer):
            digest.update(view[:count])
    return digest.hexdigest()


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
