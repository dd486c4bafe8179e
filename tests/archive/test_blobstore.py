"""The local blob store: byte-exact round trips, dedup per tenant, corruption, races and crashes."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postroom.archive import blobstore
from postroom.archive.blobstore import (
    BlobCorrupt,
    BlobMissing,
    BlobStore,
    BlobStoreError,
    LocalBlobStore,
)
from postroom.errors import InvalidInput, NotFound

TENANT = "0c4d4a3e-8a9b-4c71-9d2e-3f6a2b1c0d9e"
OTHER = "tenant_2"


def message(size: int, seed: int = 0) -> bytes:
    """Email-like bytes: headers, a text part and a base64 'attachment' of random bytes."""
    rng = random.Random(seed)
    head = (
        f"Message-ID: <{seed}@example.org>\r\nFrom: Zoë <zoe@example.org>\r\n"
        f"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= {seed}\r\nContent-Type: multipart/mixed\r\n\r\n"
    ).encode()
    text = b"Hello, this is line %d of the message body.\r\n"
    body = b"".join(text % i for i in range(size // 200))
    attachment = rng.randbytes(max(0, size - len(head) - len(body)) * 3 // 4 + 3).hex().encode()
    return (head + body + attachment)[:size]


def temp_files(root: Path) -> list[Path]:
    return sorted(root.rglob(f"{blobstore.TEMP_PREFIX}*"))


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def test_local_store_is_a_blob_store(store: LocalBlobStore) -> None:
    port: BlobStore = store
    assert port.exists(TENANT, "0" * 64) is False


# --- round trips ------------------------------------------------------------------------------


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(data=st.binary(max_size=5000), large_blob=st.sampled_from([blobstore.LARGE_BLOB, 0]))
def test_round_trip_is_byte_exact(tmp_path: Path, data: bytes, large_blob: int) -> None:
    # large_blob=0 sends every blob down the streaming paths (put, verify) as well.
    store = LocalBlobStore(tmp_path / f"blobs-{large_blob}", large_blob=large_blob)
    ref = store.put(TENANT, data)
    assert ref.sha256 == hashlib.sha256(data).hexdigest()
    assert ref.size == len(data)
    assert store.get(TENANT, ref.sha256) == data
    with store.open(TENANT, ref.sha256) as reader:
        assert reader.read() == data
    assert store.verify(TENANT, ref.sha256)
    assert store.exists(TENANT, ref.sha256)


def test_put_stores_one_zstd_frame_with_content_size(store: LocalBlobStore) -> None:
    data = message(40_000)
    ref = store.put(TENANT, data)
    sha = ref.sha256
    path = store.root / TENANT / sha[:2] / sha[2:4] / f"{sha}.zst"
    assert store.path(TENANT, sha) == path
    stored = path.read_bytes()
    assert ref.created
    assert ref.stored_size == len(stored) < len(data)
    assert zstandard.frame_content_size(stored) == len(data)
    assert zstandard.ZstdDecompressor().decompress(stored) == data


@pytest.mark.parametrize("size", [blobstore.LARGE_BLOB + 1, 3_000_000])
def test_large_message_streams_through_put_verify_and_open(store: LocalBlobStore, size: int) -> None:
    data = message(size, seed=size)
    ref = store.put(TENANT, data)
    assert zstandard.frame_content_size(store.path(TENANT, ref.sha256).read_bytes()) == size
    assert store.verify(TENANT, ref.sha256)
    assert store.get(TENANT, ref.sha256) == data
    with store.open(TENANT, ref.sha256) as reader:
        chunks = iter(lambda: reader.read(100_000), b"")
        assert b"".join(chunks) == data


def test_compression_level_is_configurable(tmp_path: Path) -> None:
    data = message(200_000)
    fast = LocalBlobStore(tmp_path / "fast", level=1).put(TENANT, data)
    small = LocalBlobStore(tmp_path / "small", level=19).put(TENANT, data)
    assert fast.sha256 == small.sha256
    assert small.stored_size < fast.stored_size


# --- deduplication and tenants ----------------------------------------------------------------


def test_second_put_of_same_content_leaves_the_blob_untouched(store: LocalBlobStore) -> None:
    data = message(10_000)
    first = store.put(TENANT, data)
    path = store.path(TENANT, first.sha256)
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    before = path.stat()

    second = store.put(TENANT, data)

    assert (second.sha256, second.size, second.stored_size) == (first.sha256, first.size, first.stored_size)
    assert first.created and not second.created
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert store.stats(TENANT).blobs == 1


def test_tenants_never_share_blobs(store: LocalBlobStore) -> None:
    data = message(5_000)
    mine, theirs = store.put(TENANT, data), store.put(OTHER, data)
    assert mine.created and theirs.created
    assert store.path(TENANT, mine.sha256) != store.path(OTHER, theirs.sha256)
    assert store.stats(TENANT).blobs == store.stats(OTHER).blobs == 1

    only_mine = store.put(TENANT, b"private to the first tenant").sha256
    assert not store.exists(OTHER, only_mine)
    assert not store.verify(OTHER, only_mine)
    with pytest.raises(BlobMissing):
        store.get(OTHER, only_mine)


# --- damage -----------------------------------------------------------------------------------


def flip(offset: int) -> Callable[[bytes], bytes]:
    def damage(stored: bytes) -> bytes:
        position = offset % len(stored)
        return stored[:position] + bytes([stored[position] ^ 0x01]) + stored[position + 1 :]

    return damage


DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "magic number": flip(0),
    "content size in header": flip(6),
    "middle": flip(2_000),
    "last byte": flip(-1),
    "truncated": lambda stored: stored[: len(stored) // 2],
    "trailing garbage": lambda stored: stored + b"\0\0\0\0",
    "emptied": lambda stored: b"",
}


@pytest.mark.parametrize("large_blob", [blobstore.LARGE_BLOB, 0], ids=["whole", "streamed"])
@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_damaged_blob_is_detected(tmp_path: Path, damage: Callable[[bytes], bytes], large_blob: int) -> None:
    store = LocalBlobStore(tmp_path / "blobs", large_blob=large_blob)
    sha = store.put(TENANT, message(30_000)).sha256
    path = store.path(TENANT, sha)
    path.write_bytes(damage(path.read_bytes()))

    assert store.exists(TENANT, sha)
    assert store.verify(TENANT, sha) is False
    with pytest.raises(BlobCorrupt) as caught:
        store.get(TENANT, sha)
    assert sha in str(caught.value)
    assert str(path) in str(caught.value)
    if damage is not DAMAGE["trailing garbage"]:  # a streaming reader stops at the frame's end
        with pytest.raises(BlobCorrupt), store.open(TENANT, sha) as reader:
            reader.read()


def test_content_swapped_for_another_blob_is_corrupt(store: LocalBlobStore) -> None:
    a, b = store.put(TENANT, b"message a"), store.put(TENANT, b"message b")
    store.path(TENANT, b.sha256).write_bytes(store.path(TENANT, a.sha256).read_bytes())
    assert not store.verify(TENANT, b.sha256)
    with pytest.raises(BlobCorrupt, match=a.sha256):
        store.get(TENANT, b.sha256)


def test_missing_blob(store: LocalBlobStore) -> None:
    sha = hashlib.sha256(b"never stored").hexdigest()
    assert not store.exists(TENANT, sha)
    assert not store.verify(TENANT, sha)
    with pytest.raises(BlobMissing) as caught:
        store.get(TENANT, sha)
    assert isinstance(caught.value, NotFound)
    assert isinstance(caught.value, BlobStoreError)
    assert sha in str(caught.value)
    with pytest.raises(BlobMissing):
        store.open(TENANT, sha)


# --- validation -------------------------------------------------------------------------------

BAD_TENANTS = ["", ".", "..", "../x", "a/b", "a\\b", "/abs", ".hidden", "-x", "a\0b", "a b", "x" * 65]
BAD_HASHES = ["", "0" * 63, "0" * 65, "A" * 64, "g" * 64, "../" * 21 + "0", "0" * 62 + "/.", 64 * "é"]


@pytest.mark.parametrize("tenant_id", BAD_TENANTS)
def test_tenant_ids_that_could_escape_the_root_are_rejected(store: LocalBlobStore, tenant_id: str) -> None:
    sha = "0" * 64
    for call in (
        lambda: store.put(tenant_id, b"x"),
        lambda: store.get(tenant_id, sha),
        lambda: store.exists(tenant_id, sha),
        lambda: store.verify(tenant_id, sha),
        lambda: store.open(tenant_id, sha),
        lambda: store.stats(tenant_id),
    ):
        with pytest.raises(InvalidInput, match="tenant_id"):
            call()
    assert not store.root.exists()


@pytest.mark.parametrize("sha", BAD_HASHES)
def test_malformed_hashes_are_rejected(store: LocalBlobStore, sha: str) -> None:
    for call in (
        lambda: store.get(TENANT, sha),
        lambda: store.exists(TENANT, sha),
        lambda: store.verify(TENANT, sha),
        lambda: store.open(TENANT, sha),
    ):
        with pytest.raises(InvalidInput, match="sha256"):
            call()


# --- durability bookkeeping -------------------------------------------------------------------


@pytest.fixture
def fsynced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = blobstore._fsync_folder

    def record(path: str) -> None:
        calls.append(path)
        real(path)

    monkeypatch.setattr(blobstore, "_fsync_folder", record)
    return calls


def test_sync_fsyncs_each_changed_folder_once_and_new_parents_once(store: LocalBlobStore, fsynced: list[str]) -> None:
    with store.batch():
        refs = [store.put(TENANT, message(1_000, seed)) for seed in range(3)]
        store.put(TENANT, message(1_000, 0))  # a dedup hit adds nothing
    leaves = {store.path(TENANT, ref.sha256).parent for ref in refs}
    middles = {leaf.parent for leaf in leaves}
    expected = leaves | middles | {store.root / TENANT, store.root, store.root.parent}
    assert sorted(fsynced) == sorted(str(folder) for folder in expected)

    fsynced.clear()
    store.put(TENANT, message(1_000, 0))  # made durable by this store already: nothing to do
    store.sync()
    assert fsynced == []

    store.path(TENANT, refs[1].sha256).unlink()  # gone behind the store's back, then put again
    assert store.put(TENANT, message(1_000, 1)).created
    store.sync()
    assert fsynced == [str(store.path(TENANT, refs[1].sha256).parent)]


def test_dedup_hit_on_a_blob_another_writer_made_is_made_durable_too(store: LocalBlobStore, fsynced: list[str]) -> None:
    other_process = LocalBlobStore(store.root)
    ref = other_process.put(TENANT, b"not synced by its writer yet")
    assert not store.put(TENANT, b"not synced by its writer yet").created
    store.sync()
    folder = store.path(TENANT, ref.sha256).parent
    assert fsynced == [
        str(path) for path in (folder, folder.parent, folder.parent.parent, store.root, store.root.parent)
    ]


def test_batch_that_fails_does_not_sync(store: LocalBlobStore, fsynced: list[str]) -> None:
    with pytest.raises(RuntimeError), store.batch():
        store.put(TENANT, b"x")
        raise RuntimeError("the caller will not commit")
    assert fsynced == []
    store.sync()
    assert fsynced


def test_failed_folder_fsync_raises_and_is_retried(store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.put(TENANT, b"x")

    def broken(path: str) -> None:
        raise OSError(5, "Input/output error")

    with monkeypatch.context() as patch:
        patch.setattr(blobstore, "_fsync_folder", broken)
        with pytest.raises(BlobStoreError, match="Input/output error"):
            store.sync()
    calls: list[str] = []
    monkeypatch.setattr(blobstore, "_fsync_folder", calls.append)
    store.sync()
    assert calls


def test_failed_write_leaves_no_temp_file_and_no_blob(store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(BlobStoreError, match="No space left on device"):
        store.put(TENANT, b"a message")
    monkeypatch.undo()
    assert temp_files(store.root) == []
    assert not store.exists(TENANT, hashlib.sha256(b"a message").hexdigest())


# --- concurrency and crashes ------------------------------------------------------------------

CONTENTS = [message(2_000 + 3_000 * i, seed=i) for i in range(20)]


def test_threads_putting_the_same_content_leave_one_valid_blob_each(store: LocalBlobStore) -> None:
    start = threading.Barrier(8)
    created: list[str] = []
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            start.wait()
            for data in CONTENTS:
                ref = store.put(TENANT, data)
                if ref.created:
                    created.append(ref.sha256)
            store.sync()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    hashes = {hashlib.sha256(data).hexdigest() for data in CONTENTS}
    assert set(created) == hashes
    for data in CONTENTS:
        assert store.get(TENANT, hashlib.sha256(data).hexdigest()) == data
    assert store.stats(TENANT).blobs == len(CONTENTS)
    assert temp_files(store.root) == []


WRITER = textwrap.dedent(
    """
    import random, sys
    from postroom.archive.blobstore import LocalBlobStore
    store = LocalBlobStore(sys.argv[1])
    contents = [random.Random(i).randbytes(1_000 + 97 * i) * 3 for i in range(150)]
    print("ready", flush=True)
    sys.stdin.readline()  # both writers start together, putting the same blobs in the same order
    with store.batch():
        created = sum(store.put("tenant", data).created for data in contents)
    print(created)
    """
)


def test_two_processes_putting_the_same_content_leave_one_valid_blob_each(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(root)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for writer in writers:
        assert writer.stdout is not None
        assert writer.stdout.readline() == "ready\n"
    for writer in writers:
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
    outputs = [writer.communicate(timeout=60)[0] for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0]
    assert sum(int(output) for output in outputs) >= 150

    store = LocalBlobStore(root)
    contents = [random.Random(i).randbytes(1_000 + 97 * i) * 3 for i in range(150)]
    for data in contents:
        sha = hashlib.sha256(data).hexdigest()
        assert store.get("tenant", sha) == data
    assert store.stats("tenant").blobs == 150
    assert temp_files(root) == []


KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from postroom.archive.blobstore import LocalBlobStore

    def die(*args):  # SIGKILL between the fsynced temp file and its rename
        os.kill(os.getpid(), signal.SIGKILL)

    os.replace = die
    LocalBlobStore(sys.argv[1]).put("tenant", b"half-archived message")
    """
)


def test_temp_file_of_a_killed_writer_is_ignored_and_cleaned_up(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(root)], check=False)
    assert killed.returncode == -signal.SIGKILL
    [leftover] = temp_files(root)

    store = LocalBlobStore(root)
    sha = hashlib.sha256(b"half-archived message").hexdigest()
    assert not store.exists("tenant", sha)
    assert not store.verify("tenant", sha)
    with pytest.raises(BlobMissing):
        store.get("tenant", sha)
    assert store.stats("tenant").temp_files == 1

    assert store.put("tenant", b"half-archived message").created
    assert store.get("tenant", sha) == b"half-archived message"
    assert store.cleanup_temp() == 0  # too recent: it could belong to a put in progress
    assert leftover.exists()
    assert store.cleanup_temp(older_than=0) == 1
    assert temp_files(root) == []
    assert store.verify("tenant", sha)


def test_a_sync_of_many_folders_is_one_syncfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from postroom.archive import blobstore
    from postroom.files import has_syncfs

    if not has_syncfs():
        pytest.skip("no syncfs(2) on this system")
    calls: list[str] = []
    folders: list[str] = []
    monkeypatch.setattr(blobstore, "_syncfs", lambda path: calls.append(path))
    monkeypatch.setattr(blobstore, "_fsync_folder", lambda path: folders.append(path))
    store = LocalBlobStore(tmp_path / "blobs")
    store.put("t1", b"one message")
    store.sync()
    assert (calls, len(folders)) == ([], 5)  # a few folders: fsynced one by one
    for n in range(40):
        store.put("t1", f"message {n}".encode())
    folders.clear()
    store.sync()
    assert calls == [str(tmp_path / "blobs")] and folders == []


def test_syncfs_really_runs(tmp_path: Path) -> None:
    from postroom.archive import blobstore
    from postroom.files import has_syncfs

    if not has_syncfs():
        pytest.skip("no syncfs(2) on this system")
    blobstore._syncfs(str(tmp_path))  # raises OSError when the kernel refuses
    with pytest.raises(FileNotFoundError):
        blobstore._syncfs(str(tmp_path / "missing"))
