"""Kill the sync anywhere and the next run completes the archive: nothing lost, nothing twice.
Nothing is deleted at the source unless its archived copy was verified."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from postroom.archive.blobstore import LocalBlobStore
from postroom.db.archive import ArchiveFolder, FolderEntry, Message
from postroom.runtime import Runtime
from postroom.services.sync import ProcessObserver, prepare_run
from postroom.sources.registry import open_source
from postroom.sync.engine import SyncEngine
from postroom.testing.dovecot import Dovecot, append_message
from tests.sync.conftest import Mailbox, make_message

POSTROOM = str(Path(sys.executable).parent / "postroom")


def fill(mailbox: Mailbox, rng: random.Random, count: int) -> None:
    folders = ["INBOX", "Projects", "Projects/Surrey Court", "Rechnungen/2026", "Archive"]
    for folder in folders[1:]:
        mailbox.create(folder)
    with mailbox.server.connect_imaplib(mailbox.user, mailbox.password) as imap:
        for n in range(count):
            size = rng.choice([2_000, 8_000, 30_000, 120_000]) if n % 50 else 900_000
            body = "".join(rng.choice("abcdefghij \r\n") for _ in range(64)) * (size // 64)
            append_message(imap, folders[n % len(folders)], make_message(f"message {n}", body), (), None)


def env_for(runtime: Runtime, tenant: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTROOM_")}
    settings = runtime.settings
    env.update(
        POSTROOM_DATA_DIR=str(settings.data_dir),
        POSTROOM_DATABASE_URL=settings.resolved_database_url,
        POSTROOM_SECRET_KEY=settings.secret_key or "",
        POSTROOM_TENANT=tenant,
        NO_COLOR="1",
    )
    return env


def assert_archive_is_exactly_the_source(mailbox: Mailbox) -> None:
    source = {k: v for k, v in mailbox.source().items() if v}
    assert mailbox.archive() == source
    with mailbox.runtime.sessions() as session:
        per_folder = Counter(
            session.execute(
                select(ArchiveFolder.path)
                .join(FolderEntry, FolderEntry.folder_id == ArchiveFolder.id)
                .where(FolderEntry.vanished_at.is_(None))
            ).scalars()
        )
        stored = session.scalar(select(func.count(Message.id)).where(Message.tenant_id == mailbox.tenant.id))
    assert dict(per_folder) == {k: len(v) for k, v in source.items()}  # every entry once
    assert stored == len({m for messages in source.values() for m in messages})  # every content once


@pytest.mark.slow
def test_sigkill_at_random_points_loses_and_duplicates_nothing(mailbox: Mailbox) -> None:
    rng = random.Random(20261122)
    fill(mailbox, rng, 1500)
    env = env_for(mailbox.runtime, mailbox.tenant.name)
    command = [POSTROOM, "sync", mailbox.profile_id, "--json"]
    kills = 0
    for _trial in range(6):
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.6, 2.5))  # the command needs ~0.7 s to import before it syncs
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode in (0, -signal.SIGKILL), err.decode()
    assert kills >= 3, "the sync finished too fast to be interrupted; make the corpus bigger"
    finish = subprocess.run(command, env=env, capture_output=True, timeout=300, check=False)
    assert finish.returncode == 0, finish.stderr.decode()
    assert_archive_is_exactly_the_source(mailbox)
    again = subprocess.run(command, env=env, capture_output=True, timeout=120, check=False)
    assert b'"new": 0' in again.stdout


def _engine_run(mailbox: Mailbox, fault: Callable[[str], None] | None = None, blobs: object = None) -> None:
    run = prepare_run(mailbox.runtime, mailbox.tenant.id, mailbox.profile_id)
    observer = ProcessObserver(mailbox.runtime, run.child_id)
    assert run.settings.mailbox
    source = open_source(run.settings, run.secret, run.settings.mailbox)
    try:
        store = blobs or mailbox.runtime.blobs
        SyncEngine(mailbox.runtime.sessions, store, observer, fault=fault).run(source, run.job)  # type: ignore[arg-type]
    finally:
        source.close()


class Crash(Exception):
    pass


@pytest.mark.parametrize("point", ["after-blobs", "after-commit", "after-verify"])
def test_a_crash_before_deleting_deletes_nothing_unarchived(mailbox: Mailbox, point: str) -> None:
    for n in range(5):
        mailbox.append("INBOX", make_message(f"precious {n}"))
    mailbox.edit(delete_policy={"when": "immediately"})

    def crash(at: str) -> None:
        if at == point:
            raise Crash(at)

    with pytest.raises(Crash):
        _engine_run(mailbox, crash)
    assert len(mailbox.source()["INBOX"]) == 5  # nothing deleted at the source
    mailbox.sync()  # the next run archives and only then deletes
    assert mailbox.source()["INBOX"] == []
    assert mailbox.stored_messages() == 5


class RottenBlobs(LocalBlobStore):
    """A blob store whose copies fail verification (a disk that lies)."""

    def verify(self, tenant_id: str, sha256: str) -> bool:
        return False


def test_a_copy_that_fails_verification_is_never_deleted(mailbox: Mailbox, dovecot: Dovecot) -> None:
    mailbox.append("INBOX", make_message("keep at the source"))
    mailbox.edit(delete_policy={"when": "immediately"})
    _engine_run(mailbox, blobs=RottenBlobs(mailbox.runtime.settings.resolved_blob_dir))
    assert len(mailbox.source()["INBOX"]) == 1
    assert mailbox.stored_messages() == 1
