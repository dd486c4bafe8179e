"""Writing a filed message into a location's folder (a local disk or a mounted share): atomically,
never overwriting, and the same result however often it is repeated.

:func:`write_file_atomically` is the connector's one write. The order it keeps:

1. The location's folder must exist: a missing one is reported (:class:`FolderMissing`), never
   created, because it usually means a share is not mounted or a project was moved. Sub-folders
   the name asks for (``2026/11/…``) are created one level at a time below it, so a folder that
   vanishes meanwhile is not re-created either.
2. If the name — or its collision-suffixed form (:func:`~postroom.formats.naming.with_collision_suffix`)
   — already holds the same bytes, the message is ``already_present`` and nothing is touched.
   With the content's hash given this is known before anything is written; without it, only
   once the temporary file of step 3 has been hashed (it is then dropped).
3. The bytes go to a temporary file (``.postroom-<16 hex>.tmp``: hidden on macOS and Linux) in
   the final file's own folder, so the last step stays on one file system; the file gets the
   message time as its modification time and is fsynced.
4. ``os.link(temp, final)`` publishes it: the link fails if the name exists, so an existing file
   is never overwritten, even by a writer racing this one; the temporary name is then removed.
   Where hard links are not supported (FAT, exFAT, some SMB and NAS mounts) the file is renamed
   instead: on Windows ``os.rename`` refuses an existing name by itself; on POSIX it would replace
   one, so the name is checked first under a process-wide lock. Two *processes* could still race
   there, which is why the product runs one connector per tenant (seed 000: "only run one sync
   service per tenant").
5. If a different file holds the name, the suffixed name is used; if that too holds a different
   file (an 8-hex-digit clash, or someone's hand-made file) :class:`NameCollision` is raised.
6. The folder entries are fsynced (not on Windows, where folders cannot be opened for it) — or,
   for a caller writing many files, once per folder afterwards (:func:`sync_folders`).

On any failure the temporary file is removed; one left by a killed process is removed later by
:func:`cleanup_stale_temp_files`. ``OSError`` is translated at this edge into a
:class:`DestinationError` carrying the path and a reason the connector reports when it skips the
delivery (folder missing, no permission, disk full, name too long); errors raised by the caller's
chunk iterator — the source's problems, not the destination's — pass through unchanged.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import stat
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum, StrEnum
from pathlib import Path

from postroom.errors import (
    ContentMismatch,
    DestinationError,
    DiskFull,
    FolderMissing,
    FolderNotWritable,
    NameCollision,
    NameTooLong,
)
from postroom.files import fsync_folder
from postroom.formats.naming import with_collision_suffix

__all__ = [
    "TEMP_PREFIX",
    "TEMP_SUFFIX",
    "ContentMismatch",
    "DestinationError",
    "DiskFull",
    "FolderMissing",
    "FolderNotWritable",
    "NameCollision",
    "NameTooLong",
    "WriteOutcome",
    "WriteResult",
    "check_writable",
    "cleanup_stale_temp_files",
    "sync_folders",
    "write_file_atomically",
]

TEMP_PREFIX = ".postroom-"
TEMP_SUFFIX = ".tmp"
_TEMP_NAME = re.compile(rf"{re.escape(TEMP_PREFIX)}[0-9a-f]{{16}}{re.escape(TEMP_SUFFIX)}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
_CHUNK = 1 << 20
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_WINDOWS = os.name == "nt"
_RENAME_LOCK = threading.Lock()


# ---------------------------------------------------------------- errors


_ERRNO_ERRORS: dict[int, tuple[type[DestinationError], str]] = {
    errno.ENOENT: (FolderMissing, "the folder does not exist"),
    errno.ENOTDIR: (FolderMissing, "a part of the path is not a folder"),
    errno.EACCES: (FolderNotWritable, "no permission to write here"),
    errno.EPERM: (FolderNotWritable, "not permitted here"),
    errno.EROFS: (FolderNotWritable, "the file system is read-only"),
    errno.ENOSPC: (DiskFull, "no space left on the device"),
    errno.EFBIG: (DiskFull, "the file is too large for this file system"),
    errno.ENAMETOOLONG: (NameTooLong, "the name or path is too long for this file system"),
}
if hasattr(errno, "EDQUOT"):
    _ERRNO_ERRORS[errno.EDQUOT] = (DiskFull, "the disk quota is used up")
# Windows errors whose errno says something else (a too-long path becomes ENOENT).
_WINERROR_ERRORS: dict[int, tuple[type[DestinationError], str]] = {
    206: (NameTooLong, "the name or path is too long for this file system"),  # ERROR_FILENAME_EXCED_RANGE
    1295: (DiskFull, "the disk quota is used up"),  # ERROR_DISK_QUOTA_EXCEEDED
}


def _translate(exc: OSError, path: Path | str) -> DestinationError:
    """The :class:`DestinationError` for an ``OSError`` met at ``path``."""
    kind, reason = _WINERROR_ERRORS.get(getattr(exc, "winerror", None) or 0) or _ERRNO_ERRORS.get(
        exc.errno or 0, (DestinationError, "cannot write here")
    )
    detail = exc.strerror or str(exc)
    return kind(path, f"{reason} ({detail})" if detail else reason)


# ---------------------------------------------------------------- results


class WriteOutcome(StrEnum):
    WRITTEN = "written"
    ALREADY_PRESENT = "already_present"


@dataclass(frozen=True)
class WriteResult:
    """Where the message is now: ``name`` is the relative name used (maybe collision-suffixed)."""

    outcome: WriteOutcome
    path: Path
    name: str
    size: int
    sha256: str

    @property
    def written(self) -> bool:
        return self.outcome is WriteOutcome.WRITTEN


class _Found(Enum):
    NOTHING = "nothing"
    SAME = "same"
    OTHER = "other"


# ---------------------------------------------------------------- writing


def write_file_atomically(
    folder: Path | str,
    name: str,
    chunks: Iterable[bytes] | bytes,
    *,
    mtime: datetime | None,
    content_sha256: str | None = None,
    unsynced: set[Path] | None = None,
) -> WriteResult:
    """Write ``chunks`` as ``folder/name`` (a ``/``-separated relative name) as the module says.

    ``mtime`` (timezone-aware) becomes the file's modification time; ``None`` leaves the time of
    writing. With ``content_sha256`` a message already there is found before anything is written,
    and bytes that do not match it raise :class:`ContentMismatch`. Raise a
    :class:`DestinationError` when the message cannot be written.

    With ``unsynced``, step 6 is left to the caller: the folders to fsync are added to the set,
    and the new name is durable only after :func:`sync_folders` of it (one fsync per folder for
    many files).
    """
    parts = _split_name(name)
    if mtime is not None and mtime.utcoffset() is None:
        raise ValueError(f"mtime must be timezone-aware, not {mtime!r}")
    if content_sha256 is not None and not _SHA256.fullmatch(content_sha256):
        raise ValueError(f"content_sha256 must be 64 lowercase hex digits, not {content_sha256!r}")
    root = Path(folder).absolute()
    _check_folder(root)
    if content_sha256 is not None and (found := _find(root, name, content_sha256)) is not None:
        return found
    directory, created = _make_folders(root, parts[:-1])
    temp, size, sha256 = _write_temp(directory, chunks, mtime)
    try:
        if content_sha256 is not None and sha256 != content_sha256:
            raise ContentMismatch(root / name, f"the bytes hash to {sha256}, not {content_sha256}")
        found = None if content_sha256 is not None else _find(root, name, sha256)
        result = found or _publish(root, name, temp, size, sha256)
    finally:
        _remove(temp)  # after a link it is a second name for the file; after a rename it is gone
    if result.written:
        folders = [result.path.parent, *reversed([path.parent for path in created])]
        if unsynced is None:
            sync_folders(folders)
        else:
            unsynced.update(folders)
    return result


def _split_name(name: str) -> list[str]:
    """The folders and file name of ``name``; refuse anything that could leave the folder."""
    parts = name.split("/")
    for part in parts:
        if part in ("", ".", "..") or re.search(r"[\\:\x00]", part):
            raise ValueError(f"{name!r} is not a relative, '/'-separated name inside the folder")
    if _TEMP_NAME.fullmatch(parts[-1]):
        raise ValueError(f"{name!r} looks like a temporary file, which cleanup would remove")
    return parts


def _check_folder(folder: Path) -> None:
    try:
        mode = folder.stat().st_mode
    except OSError as exc:
        error = _translate(exc, folder)
        if isinstance(error, FolderMissing):
            raise FolderMissing(folder, "the location's folder does not exist (it is never created)") from exc
        raise error from exc
    if not stat.S_ISDIR(mode):
        raise FolderMissing(folder, "the location's path is not a folder")


def _make_folders(root: Path, names: list[str]) -> tuple[Path, list[Path]]:
    """Create the sub-folders below ``root`` one level at a time; return the last and those made."""
    current, created = root, []
    for name in names:
        current = current / name
        try:
            current.mkdir()
            created.append(current)
        except FileExistsError:
            if not current.is_dir():
                raise DestinationError(current, "a file is where a folder should be") from None
        except OSError as exc:
            raise _translate(exc, current) from exc
    return current, created


def _write_temp(directory: Path, chunks: Iterable[bytes] | bytes, mtime: datetime | None) -> tuple[Path, int, str]:
    """Write the bytes to a new temporary file in ``directory``; return it, their size and SHA-256.

    Only the file operations are translated: what the chunk iterator raises passes unchanged.
    """
    temp = directory / _temp_name()
    with _translating(directory):
        fd = os.open(temp, _NEW_FILE, 0o666)  # the umask and inherited ACLs decide, as for any file
    digest, size = hashlib.sha256(), 0
    try:
        try:
            for chunk in (chunks,) if isinstance(chunks, bytes | bytearray | memoryview) else chunks:
                digest.update(chunk)
                size += len(chunk)
                with _translating(directory):
                    _write_all(fd, chunk)
            with _translating(directory):
                if mtime is not None:
                    _set_mtime(fd, temp, mtime)
                os.fsync(fd)
        finally:
            with _translating(directory):
                os.close(fd)
    except BaseException:
        _remove(temp)
        raise
    return temp, size, digest.hexdigest()


@contextlib.contextmanager
def _translating(path: Path) -> Iterator[None]:
    """Raise what an ``OSError`` inside the block means as a :class:`DestinationError` at ``path``."""
    try:
        yield
    except OSError as exc:
        raise _translate(exc, path) from exc


def _write_all(fd: int, chunk: bytes | bytearray | memoryview) -> None:
    view = memoryview(chunk)
    while view:
        view = view[os.write(fd, view) :]


def _set_mtime(fd: int, path: Path, mtime: datetime) -> None:
    nanoseconds = (mtime - _EPOCH) // timedelta(microseconds=1) * 1000
    if os.utime in os.supports_fd:
        os.utime(fd, ns=(nanoseconds, nanoseconds))
    else:  # Windows: by name, while the file is still open
        os.utime(path, ns=(nanoseconds, nanoseconds))


def _temp_name() -> str:
    return f"{TEMP_PREFIX}{secrets.token_hex(8)}{TEMP_SUFFIX}"


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _find(root: Path, name: str, sha256: str) -> WriteResult | None:
    """The message if it is already at ``name`` or at its collision-suffixed name."""
    for candidate in (name, with_collision_suffix(name, sha256)):
        path = root / candidate
        found, size = _compare(path, sha256)
        if found is _Found.SAME:
            return WriteResult(WriteOutcome.ALREADY_PRESENT, path, candidate, size, sha256)
    return None


def _compare(path: Path, sha256: str) -> tuple[_Found, int]:
    """Whether ``path`` holds nothing, these bytes, or other ones; and its size."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            return _Found.OTHER, 0
        digest = hashlib.sha256()
        with path.open("rb") as file:
            while block := file.read(_CHUNK):
                digest.update(block)
    except (FileNotFoundError, NotADirectoryError):  # a file where a folder should be: reported when made
        return _Found.NOTHING, 0
    except OSError as exc:
        raise _translate(exc, path) from exc
    return (_Found.SAME if digest.hexdigest() == sha256 else _Found.OTHER), info.st_size


def _publish(root: Path, name: str, temp: Path, size: int, sha256: str) -> WriteResult:
    """Give the temporary file its name, or the suffixed one if another file holds the name."""
    for candidate in (name, with_collision_suffix(name, sha256)):
        path = root / candidate
        for _attempt in range(3):  # a file deleted between the failed link and its check: try again
            if _place(temp, path):
                return WriteResult(WriteOutcome.WRITTEN, path, candidate, size, sha256)
            found, _size = _compare(path, sha256)
            if found is _Found.SAME:
                return WriteResult(WriteOutcome.ALREADY_PRESENT, path, candidate, size, sha256)
            if found is _Found.OTHER:
                break
    raise NameCollision(root / name, "files with other content hold both this name and its collision-suffixed one")


def _place(temp: Path, path: Path) -> bool:
    """Give ``temp``'s file the name ``path`` unless that exists; whether it did."""
    try:
        path.hardlink_to(temp)
    except FileExistsError:
        return False
    except OSError as exc:
        if not _links_unsupported(exc):
            raise _translate(exc, path) from exc
    else:
        return True
    try:
        with _RENAME_LOCK:
            if os.path.lexists(path):
                return False
            temp.rename(path)  # Windows refuses an existing name; POSIX was checked under the lock
    except FileExistsError:
        return False
    except OSError as exc:
        raise _translate(exc, path) from exc
    return True


def _links_unsupported(exc: OSError) -> bool:
    """Whether ``os.link`` failed because the file system has no hard links (EPERM: Linux's answer
    for FAT and exFAT; a real permission problem shows again when the file is renamed)."""
    unsupported = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}
    return exc.errno in unsupported or getattr(exc, "winerror", None) in (1, 50)  # invalid function, not supported


def sync_folders(folders: Iterable[Path]) -> None:
    """Fsync ``folders`` (the folder holding a new file, and the parent of each folder made for it)."""
    if _WINDOWS:  # folders cannot be opened for fsync there; NTFS journals its metadata
        return
    for folder in folders:
        try:
            fsync_folder(folder)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EACCES, errno.EBADF):
                raise _translate(exc, folder) from exc  # some network file systems cannot: not an error


# ---------------------------------------------------------------- checks and housekeeping


def check_writable(folder: Path | str) -> None:
    """Raise the :class:`DestinationError` a write into ``folder`` would meet, if any.

    ``os.access`` answers from the permission bits, which on Windows and on shares with ACLs may
    not tell the truth; a probe file (a temporary name, created and removed) settles it.
    """
    root = Path(folder).absolute()
    _check_folder(root)
    if not os.access(root, os.W_OK | os.X_OK):
        raise FolderNotWritable(root, "no permission to write here")
    probe = root / _temp_name()
    try:
        os.close(os.open(probe, _NEW_FILE, 0o666))
        probe.unlink()
    except OSError as exc:
        _remove(probe)
        raise _translate(exc, root) from exc


def cleanup_stale_temp_files(folder: Path | str, older_than: timedelta = timedelta(hours=1)) -> int:
    """Remove temporary files left below ``folder`` by writers that were killed; return how many.

    Only names this module makes (``.postroom-<16 hex>.tmp``) go, and only those whose status
    last changed ``older_than`` ago or earlier — not their modification time, which is set to the
    (old) message time before a write completes. A missing folder has nothing to clean up.
    """
    cutoff = time.time() - older_than.total_seconds()
    removed = 0
    for directory, _folders, names in os.walk(folder):
        for name in names:
            if not _TEMP_NAME.fullmatch(name):
                continue
            path = Path(directory, name)
            with contextlib.suppress(OSError):
                info = path.lstat()
                if stat.S_ISREG(info.st_mode) and info.st_ctime <= cutoff:
                    path.unlink()
                    removed += 1
    return removed
