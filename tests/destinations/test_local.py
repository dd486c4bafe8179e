"""Writing filed messages into a location's folder: atomic, never overwriting, repeatable, and every
failure reported as a reason the connector can skip a delivery with."""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from postroom.destinations import local
from postroom.destinations.local import (
    ContentMismatch,
    DestinationError,
    DiskFull,
    FolderMissing,
    FolderNotWritable,
    NameCollision,
    NameTooLong,
    WriteOutcome,
    WriteResult,
    check_writable,
    cleanup_stale_temp_files,
    write_file_atomically,
)
from postroom.errors import PostroomError
from postroom.formats.naming import with_collision_suffix

WHEN = datetime(2026, 11, 22, 10, 15, 30, tzinfo=UTC)
NAME = "20261122T101530Z Quarterly report.eml"
MESSAGE = b"Subject: Quarterly report\r\n\r\nHello\r\n"
OTHER = b"Subject: Quarterly report\r\n\r\nA different message with the same subject and date\r\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def temp_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob(f"{local.TEMP_PREFIX}*"))


def files(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


# --- writing --------------------------------------------------------------------------------------


@pytest.mark.parametrize("give_hash", [False, True])
def test_a_message_is_written_with_the_message_time(tmp_path: Path, give_hash: bool) -> None:
    result = write_file_atomically(
        tmp_path, NAME, [MESSAGE[:10], MESSAGE[10:]], mtime=WHEN, content_sha256=sha(MESSAGE) if give_hash else None
    )
    assert result == WriteResult(WriteOutcome.WRITTEN, tmp_path / NAME, NAME, len(MESSAGE), sha(MESSAGE))
    assert result.written
    assert files(tmp_path) == {NAME: MESSAGE}
    assert (tmp_path / NAME).stat().st_mtime_ns == 1795342530 * 10**9
    assert (tmp_path / NAME).stat().st_nlink == 1


def test_the_message_time_is_taken_in_any_zone_to_the_microsecond(tmp_path: Path) -> None:
    when = datetime(2026, 11, 22, 11, 15, 30, 123456, tzinfo=timezone(timedelta(hours=1)))
    write_file_atomically(tmp_path, NAME, MESSAGE, mtime=when)
    assert (tmp_path / NAME).stat().st_mtime_ns == 1795342530_123456000


def test_without_a_message_time_the_file_keeps_the_time_of_writing(tmp_path: Path) -> None:
    before = datetime.now(UTC).timestamp() - 2
    write_file_atomically(tmp_path, NAME, MESSAGE, mtime=None)
    assert (tmp_path / NAME).stat().st_mtime >= before


def test_a_naive_message_time_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        write_file_atomically(tmp_path, NAME, MESSAGE, mtime=datetime(2026, 11, 22, 10, 15, 30))
    assert files(tmp_path) == {}


def test_an_empty_message_and_a_large_streamed_one(tmp_path: Path) -> None:
    assert write_file_atomically(tmp_path, "empty.eml", [], mtime=WHEN).size == 0
    blocks = [bytes([i]) * (1 << 20) for i in range(5)]
    result = write_file_atomically(tmp_path, "large.eml", iter(blocks), mtime=WHEN)
    assert result.size == 5 << 20
    assert result.sha256 == sha(b"".join(blocks))
    assert (tmp_path / "large.eml").read_bytes() == b"".join(blocks)


def test_sub_folders_in_the_name_are_created(tmp_path: Path) -> None:
    result = write_file_atomically(tmp_path, f"2026/11/{NAME}", MESSAGE, mtime=WHEN)
    assert result.path == tmp_path / "2026" / "11" / NAME
    assert files(tmp_path) == {f"2026/11/{NAME}": MESSAGE}
    write_file_atomically(tmp_path, "2026/12/next.eml", OTHER, mtime=WHEN)  # an existing one is used
    assert set(files(tmp_path)) == {f"2026/11/{NAME}", "2026/12/next.eml"}


def test_the_location_folder_itself_is_never_created(tmp_path: Path) -> None:
    missing = tmp_path / "P-123 Emails"
    with pytest.raises(FolderMissing) as caught:
        write_file_atomically(missing, f"2026/{NAME}", MESSAGE, mtime=WHEN)
    assert caught.value.path == str(missing)
    assert str(caught.value) == f"the location's folder does not exist (it is never created): {missing}"
    assert not missing.exists()


def test_a_location_path_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(FolderMissing, match="not a folder"):
        write_file_atomically(tmp_path / "file", NAME, MESSAGE, mtime=WHEN)
    with pytest.raises(FolderMissing, match="does not exist"):
        write_file_atomically(tmp_path / "file" / "below", NAME, MESSAGE, mtime=WHEN)


def test_a_file_where_a_sub_folder_should_be(tmp_path: Path) -> None:
    (tmp_path / "2026").write_bytes(b"someone's file")
    for given in (None, sha(MESSAGE)):
        with pytest.raises(DestinationError, match="a file is where a folder should be"):
            write_file_atomically(tmp_path, f"2026/{NAME}", MESSAGE, mtime=WHEN, content_sha256=given)
    assert files(tmp_path) == {"2026": b"someone's file"}


@pytest.mark.parametrize(
    "name",
    [
        *("", "/abs.eml", "a//b.eml", "../up.eml", "a/../b.eml", "./a.eml", "a/", "a\\b.eml", "C:x.eml"),
        *("nul\x00.eml", ".postroom-0123456789abcdef.tmp"),
    ],
)
def test_names_that_could_leave_the_folder_are_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / "inside").mkdir()
    with pytest.raises(ValueError, match=r"not a relative, '/'-separated name|looks like a temporary file"):
        write_file_atomically(tmp_path / "inside", name, MESSAGE, mtime=WHEN)
    assert files(tmp_path) == {}


# --- writing again, and collisions ----------------------------------------------------------------


@pytest.mark.parametrize("give_hash", [False, True])
def test_the_same_message_twice_is_already_present_and_untouched(tmp_path: Path, give_hash: bool) -> None:
    first = write_file_atomically(tmp_path, NAME, MESSAGE, mtime=WHEN)
    before = (tmp_path / NAME).stat()
    again = write_file_atomically(
        tmp_path, NAME, MESSAGE, mtime=WHEN + timedelta(days=1), content_sha256=sha(MESSAGE) if give_hash else None
    )
    assert again == WriteResult(WriteOutcome.ALREADY_PRESENT, first.path, NAME, len(MESSAGE), sha(MESSAGE))
    assert not again.written
    after = (tmp_path / NAME).stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_ctime_ns) == (
        before.st_ino,
        before.st_mtime_ns,
        before.st_ctime_ns,
    )
    assert temp_files(tmp_path) == []


def test_a_known_message_is_found_before_anything_is_written(tmp_path: Path) -> None:
    write_file_atomically(tmp_path, NAME, MESSAGE, mtime=WHEN)

    def must_not_be_read() -> Iterator[bytes]:
        raise AssertionError("the bytes were read although the hash said the file is there")
        yield b""

    again = write_file_atomically(tmp_path, NAME, must_not_be_read(), mtime=WHEN, content_sha256=sha(MESSAGE))
    assert again.outcome is WriteOutcome.ALREADY_PRESENT


def test_a_different_message_with_the_same_name_gets_the_suffixed_name(tmp_path: Path) -> None:
    write_file_atomically(tmp_path, NAME, MESSAGE, mtime=WHEN)
    second = write_file_atomically(tmp_path, NAME, OTHER, mtime=WHEN)
    suffixed = with_collision_suffix(NAME, sha(OTHER))
    assert suffixed == f"20261122T101530Z Quarterly report [{sha(OTHER)[:8]}].eml"
    assert (second.outcome, second.name, second.path) == (WriteOutcome.WRITTEN, suffixed, tmp_path / suffixed)
    assert files(tmp_path) == {NAME: MESSAGE, suffixed: OTHER}

    for given in (None, sha(OTHER)):  # and writing it again finds it there
        again = write_file_atomically(tmp_path, NAME, OTHER, mtime=WHEN, content_sha256=given)
        assert (again.outcome, again.name) == (WriteOutcome.ALREADY_PRESENT, suffixed)
    assert files(tmp_path) == {NAME: MESSAGE, suffixed: OTHER}


def test_a_message_at_its_suffixed_name_is_not_written_twice_when_the_name_is_freed(tmp_path: Path) -> None:
    write_file_atomically(tmp_path, NAME, MESSAGE, mtime=WHEN)
    suffixed = write_file_atomically(tmp_path, NAME, OTHER, mtime=WHEN).name
    (tmp_path / NAME).unlink()  # someone deleted the first message
    again = write_file_atomically(tmp_path, NAME, OTHER, mtime=WHEN)
    assert (again.outcome, again.name) == (WriteOutcome.ALREADY_PRESENT, suffixed)
    assert files(tmp_path) == {suffixed: OTHER}


def test_an_existing_different_file_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / NAME).write_bytes(b"a user's own file")
    (tmp_path / with_collision_suffix(NAME, sha(MESSAGE))).write_bytes(b"and another one")
    with pytest.raises(NameCollision) as caught:
        write_file_atomically(tmp_path, NAME, MESSAGE, mtime=WHEN)
    assert caught.value.path == str(tmp_path / NAME)
    assert files(tmp_path) == {
        NAME: b"a user's own file",
        with_collision_suffix(NAME, sha(MESSAGE)): b"and another one",
    }


def test_a_folder_with_the_name_counts_as_a_different_file(tmp_path: Path) -> None:
    (tmp_path / NAME).mkdir()
    result = write_file_atomically(tmp_path, NAME, MESSAGE, mtime=WHEN)
    assert result.name == with_collision_suffix(NAME, sha(MESSAGE))


def test_bytes_that_do_not_match_their_hash_are_not_written(tmp_path: Path) -> None:
    with pytest.raises(ContentMismatch, match=f"the bytes hash to {sha(OTHER)}, not {sha(MESSAGE)}"):
        write_file_atomically(tmp_path, NAME, OTHER, mtime=WHEN, content_sha256=sha(MESSAGE))
    assert files(tmp_path) == {}
    with pytest.raises(ValueError, match="64 lowercase hex"):
        write_file_atomically(tmp_path, NAME, MESSAGE, mtime=WHEN, content_sha256="ab12")


# --- failures -------------------------------------------------------------------------------------


def test_a_chunk_iterator_that_fails_mid_write_leaves_nothing(tmp_path: Path) -> None:
    def chunks() -> Iterator[bytes]:
        yield MESSAGE
        assert temp_files(tmp_path), "the bytes go to a temporary file first"
        raise ConnectionResetError("the download broke off")

    with pytest.raises(ConnectionResetError, match="broke off"):  # the source's error, unchanged
        write_file_atomically(tmp_path, f"2026/{NAME}", chunks(), mtime=WHEN)
    assert temp_files(tmp_path) == []
    assert files(tmp_path) == {}


def test_a_full_disk_is_reported_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)  # where network file systems often report it
    with pytest.raises(DiskFull) as caught:
        write_file_atomically(tmp_path, NAME, MESSAGE, mtime=WHEN)
    monkeypatch.undo()
    assert str(caught.value) == f"no space left on the device (No space left on device): {tmp_path}"
    assert isinstance(caught.value.__cause__, OSError)
    assert temp_files(tmp_path) == []
    assert files(tmp_path) == {}


def test_a_name_too_long_for_the_file_system(tmp_path: Path) -> None:
    with pytest.raises(NameTooLong) as caught:
        write_file_atomically(tmp_path, "x" * 300 + ".eml", MESSAGE, mtime=WHEN)
    assert isinstance(caught.value, NameTooLong)  # the connector skips it like a name naming.py refused
    assert isinstance(caught.value, DestinationError)
    assert "too long" in str(caught.value)
    assert temp_files(tmp_path) == []
    assert files(tmp_path) == {}
    with pytest.raises(NameTooLong):
        write_file_atomically(tmp_path, "x" * 300 + ".eml", MESSAGE, mtime=WHEN, content_sha256=sha(MESSAGE))


@pytest.mark.parametrize(
    ("code", "kind", "reason"),
    [
        (errno.ENOENT, FolderMissing, "the folder does not exist"),
        (errno.ENOTDIR, FolderMissing, "a part of the path is not a folder"),
        (errno.EACCES, FolderNotWritable, "no permission to write here"),
        (errno.EPERM, FolderNotWritable, "not permitted here"),
        (errno.EROFS, FolderNotWritable, "the file system is read-only"),
        (errno.ENOSPC, DiskFull, "no space left on the device"),
        (errno.EDQUOT, DiskFull, "the disk quota is used up"),
        (errno.EFBIG, DiskFull, "the file is too large for this file system"),
        (errno.ENAMETOOLONG, NameTooLong, "the name or path is too long for this file system"),
        (errno.EIO, DestinationError, "cannot write here"),
    ],
)
def test_os_errors_become_reasons(code: int, kind: type[DestinationError], reason: str) -> None:
    error = local._translate(OSError(code, os.strerror(code)), "/share/P-123")
    assert type(error) is kind
    assert isinstance(error, PostroomError)
    assert (error.path, error.reason) == ("/share/P-123", f"{reason} ({os.strerror(code)})")
    prefix = "name too long: " if kind is NameTooLong else ""
    assert str(error) == f"{prefix}{reason} ({os.strerror(code)}): /share/P-123"


def test_windows_errors_whose_errno_misleads() -> None:
    too_long = OSError(errno.ENOENT, "The filename or extension is too long")
    too_long.winerror = 206  # type: ignore[attr-defined]
    assert type(local._translate(too_long, "C:\\x")) is NameTooLong


def _unprivileged(run: str, folder: Path) -> str:
    """Run ``run`` (code using ``folder``) in a child process as the user ``nobody``; its output."""
    script = textwrap.dedent(
        """
        import os, sys
        os.setgroups([]); os.setgid(65534); os.setuid(65534)
        from pathlib import Path
        from postroom.destinations.local import check_writable, write_file_atomically, DestinationError
        folder = Path(sys.argv[1])
        try:
            {run}
        except DestinationError as exc:
            print(type(exc).__name__, exc.reason)
        """
    ).format(run=run)
    # imported before dropping privileges: the interpreter may live where nobody cannot read
    code = "import postroom.destinations.local, pathlib\n" + script
    done = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o500)
        yield folder
        folder.chmod(0o700)
    else:  # a folder root owns, which the unprivileged child can enter but not write in
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            folder.chmod(0o755)
            yield folder


def test_a_folder_without_write_permission(read_only_folder: Path) -> None:
    if os.geteuid() == 0:
        out = _unprivileged("write_file_atomically(folder, 'x/m.eml', b'm', mtime=None)", read_only_folder)
        assert out.startswith("FolderNotWritable no permission to write here")
        out = _unprivileged("check_writable(folder)", read_only_folder)
        assert out == "FolderNotWritable no permission to write here"
    else:
        with pytest.raises(FolderNotWritable, match="no permission to write here"):
            write_file_atomically(read_only_folder, "x/m.eml", b"m", mtime=None)
        with pytest.raises(FolderNotWritable, match="no permission to write here"):
            check_writable(read_only_folder)
    assert list(read_only_folder.iterdir()) == []


def test_check_writable(tmp_path: Path) -> None:
    check_writable(tmp_path)
    assert list(tmp_path.iterdir()) == []  # the probe is gone
    with pytest.raises(FolderMissing):
        check_writable(tmp_path / "missing")


def test_check_writable_when_the_probe_cannot_be_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open

    def refuse(path: str, flags: int, mode: int = 0o777) -> int:
        if local.TEMP_PREFIX in str(path):
            raise OSError(errno.EACCES, "Access is denied")  # what an SMB share's ACL answers
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(FolderNotWritable, match="Access is denied"):
        check_writable(tmp_path)


# --- without hard links ---------------------------------------------------------------------------


@pytest.fixture
def no_hard_links(monkeypatch: pytest.MonkeyPatch) -> None:
    def unsupported(self: Path, target: Path) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")  # Linux's answer on FAT and exFAT

    monkeypatch.setattr(Path, "hardlink_to", unsupported)


@pytest.mark.usefixtures("no_hard_links")
def test_without_hard_links_the_file_is_renamed_and_nothing_overwritten(tmp_path: Path) -> None:
    first = write_file_atomically(tmp_path, NAME, MESSAGE, mtime=WHEN)
    assert first.written
    assert (tmp_path / NAME).stat().st_mtime_ns == 1795342530 * 10**9
    assert write_file_atomically(tmp_path, NAME, MESSAGE, mtime=WHEN).outcome is WriteOutcome.ALREADY_PRESENT
    second = write_file_atomically(tmp_path, NAME, OTHER, mtime=WHEN)
    assert files(tmp_path) == {NAME: MESSAGE, second.name: OTHER}
    assert temp_files(tmp_path) == []


@pytest.mark.usefixtures("no_hard_links")
def test_without_hard_links_a_real_permission_problem_still_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(self: Path, target: Path) -> Path:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(Path, "rename", refused)
    with pytest.raises(FolderNotWritable):
        write_file_atomically(tmp_path, NAME, MESSAGE, mtime=WHEN)
    assert temp_files(tmp_path) == []


# --- concurrency ----------------------------------------------------------------------------------


def _race(folder: Path, contents: list[bytes]) -> list[WriteResult]:
    """Write each of ``contents`` under NAME from its own thread, all starting together."""
    start = threading.Barrier(len(contents))
    results: list[WriteResult] = []
    errors: list[BaseException] = []

    def writer(data: bytes) -> None:
        try:
            start.wait()
            results.append(write_file_atomically(folder, NAME, [data[:7], data[7:]], mtime=WHEN))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(data,)) for data in contents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


@pytest.mark.parametrize("hard_links", [True, False])
def test_two_writers_of_different_messages_both_succeed_under_distinct_names(
    tmp_path: Path, hard_links: bool, request: pytest.FixtureRequest
) -> None:
    if not hard_links:
        request.getfixturevalue("no_hard_links")
    for round_ in range(25):
        folder = tmp_path / str(round_)
        folder.mkdir()
        results = _race(folder, [MESSAGE, OTHER])
        assert all(result.written for result in results)
        names = {result.name for result in results}
        assert len(names) == 2
        assert NAME in names
        assert files(folder) == {result.name: MESSAGE if result.sha256 == sha(MESSAGE) else OTHER for result in results}
        assert temp_files(folder) == []


@pytest.mark.parametrize("hard_links", [True, False])
def test_two_writers_of_the_same_message_write_it_once(
    tmp_path: Path, hard_links: bool, request: pytest.FixtureRequest
) -> None:
    if not hard_links:
        request.getfixturevalue("no_hard_links")
    for round_ in range(25):
        folder = tmp_path / str(round_)
        folder.mkdir()
        results = _race(folder, [MESSAGE, MESSAGE])
        assert sorted(result.outcome for result in results) == [WriteOutcome.ALREADY_PRESENT, WriteOutcome.WRITTEN]
        assert {result.name for result in results} == {NAME}
        assert files(folder) == {NAME: MESSAGE}
        assert temp_files(folder) == []


# --- crashes and housekeeping ---------------------------------------------------------------------

KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import UTC, datetime
    from pathlib import Path
    from postroom.destinations.local import write_file_atomically

    def die(*args):  # SIGKILL between the fsynced temporary file and its link
        os.kill(os.getpid(), signal.SIGKILL)

    Path.hardlink_to = die
    write_file_atomically(sys.argv[1], "2026/half-filed.eml", b"a message", mtime=datetime(2001, 1, 1, tzinfo=UTC))
    """
)


def test_the_temp_file_of_a_killed_writer_is_cleaned_up_later(tmp_path: Path) -> None:
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(tmp_path)], check=False)
    assert killed.returncode == -signal.SIGKILL
    [leftover] = temp_files(tmp_path)
    assert leftover.parent == tmp_path / "2026"
    assert leftover.stat().st_mtime < datetime(2002, 1, 1, tzinfo=UTC).timestamp()  # the message's time...
    assert not (tmp_path / "2026" / "half-filed.eml").exists()

    assert cleanup_stale_temp_files(tmp_path) == 0  # ...but it changed just now: it may be a write in progress
    (tmp_path / "2026" / "user file.tmp").write_bytes(b"")
    (tmp_path / ".postroom-notours.tmp").write_bytes(b"")
    assert cleanup_stale_temp_files(tmp_path, older_than=timedelta(0)) == 1
    assert temp_files(tmp_path) == [tmp_path / ".postroom-notours.tmp"]
    assert (tmp_path / "2026" / "user file.tmp").exists()

    assert write_file_atomically(tmp_path, "2026/half-filed.eml", b"a message", mtime=WHEN).written


def test_cleanup_of_a_missing_folder_finds_nothing(tmp_path: Path) -> None:
    assert cleanup_stale_temp_files(tmp_path / "missing", timedelta(0)) == 0


def test_a_caller_writing_many_files_fsyncs_each_folder_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[Path] = []
    monkeypatch.setattr(local, "fsync_folder", lambda folder: synced.append(Path(folder)))
    unsynced: set[Path] = set()
    for n in range(3):
        write_file_atomically(tmp_path, f"2026/11/m{n}.eml", b"x%d" % n, mtime=None, unsynced=unsynced)
    again = write_file_atomically(tmp_path, "2026/11/m0.eml", b"x0", mtime=None, unsynced=unsynced)
    assert again.outcome is WriteOutcome.ALREADY_PRESENT
    assert synced == []  # left to the caller …
    assert unsynced == {tmp_path, tmp_path / "2026", tmp_path / "2026" / "11"}  # … with every folder touched
    local.sync_folders(sorted(unsynced))
    assert sorted(synced) == sorted(unsynced)
    write_file_atomically(tmp_path, "2026/11/m9.eml", b"x9", mtime=None)
    assert synced[-1] == tmp_path / "2026" / "11"  # without the set, at once
