"""Issue 7's cluster test, with real processes: the suite's database (PostgreSQL in its PostgreSQL
run), Redis, one ``postroom serve`` that only schedules and two ``postroom worker`` processes; a
real OpenLDAP directory of 20 people and a real Dovecot with their 20 mailboxes. One run of a
multiple-mailbox profile hands its mailboxes to both workers and archives all of them; when one
worker is killed with SIGKILL mid-run, its mailboxes are taken up again once the run's lock
expires, and every message of every mailbox is archived exactly once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from postroom.db.archive import ArchiveFolder, ArchiveMailbox, FolderEntry, Message
from postroom.db.models import ProfileRun, Tenant
from postroom.runtime import Runtime
from postroom.services import processes
from postroom.testing.dovecot import Dovecot
from postroom.testing.processes import wait_for
from postroom.testing.slapd import Slapd, user_address
from postroom.testing.staff import FOLDERS, load_mailboxes, staff_profile, user_of
from tests.e2e.conftest import Cluster, run_status

PEOPLE = 20
PER_MAILBOX = 30


@pytest.fixture(scope="module")
def staff_ldap() -> Iterator[Slapd]:
    with Slapd(users=PEOPLE) as server:
        yield server


@pytest.fixture(scope="module")
def staff_dovecot() -> Iterator[Dovecot]:
    """A Dovecot of its own: its users are named as the directory names them (user01 …)."""
    with Dovecot() as server:
        load_mailboxes(server, PEOPLE, PER_MAILBOX, seed=20261123)
        yield server


def _server_side(dovecot: Dovecot, n: int) -> dict[str, Counter[bytes]]:
    user = user_of(n)
    out: dict[str, Counter[bytes]] = {}
    with dovecot.connect_imaplib(user, "pw-" + user) as imap:
        for folder in FOLDERS:
            imap.select(folder, readonly=True)
            _typ, data = imap.uid("SEARCH", "ALL")
            for uid in data[0].split():
                _typ, fetched = imap.uid("FETCH", uid, "(BODY.PEEK[])")
                out.setdefault(folder, Counter())[fetched[0][1]] += 1
    return out


def _archived(runtime: Runtime, tenant: Tenant, n: int) -> dict[str, Counter[bytes]]:
    out: dict[str, Counter[bytes]] = {}
    with runtime.sessions() as session:
        rows = session.execute(
            select(ArchiveFolder.path, Message.sha256)
            .join(ArchiveMailbox, ArchiveMailbox.id == ArchiveFolder.mailbox_id)
            .join(FolderEntry, FolderEntry.folder_id == ArchiveFolder.id)
            .join(Message, Message.id == FolderEntry.message_id)
            .where(ArchiveMailbox.tenant_id == tenant.id, ArchiveMailbox.address == user_address(n))
            .where(FolderEntry.vanished_at.is_(None))
        ).all()
    for path, sha in rows:
        out.setdefault(path, Counter())[runtime.blobs.get(tenant.id, sha)] += 1
    return out


def _stored(runtime: Runtime, tenant: Tenant) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count(Message.id)).where(Message.tenant_id == tenant.id)) or 0


@pytest.mark.slow
def test_a_cluster_archives_every_listed_mailbox_once_though_a_worker_is_killed(
    cluster: Cluster, runtime: Runtime, tenant: Tenant, staff_ldap: Slapd, staff_dovecot: Dovecot
) -> None:
    staff_profile(runtime, tenant, staff_ldap, staff_dovecot, synchronize_users=True)
    total = PEOPLE * PER_MAILBOX
    with cluster.worker("worker-1") as first, cluster.worker("worker-2") as second:
        request_id = cluster.cli("schedule", "run", "nightly").stdout.split()[1]
        wait_for(lambda: _stored(runtime, tenant) >= 60, "the first messages", every=0.01, detail=cluster.logs)
        # the run was fanned out: one task per mailbox, the lock held by the run and renewed by its tasks
        wait_for(lambda: _lock_holder(runtime).startswith("run:"), "the run to hand out its mailboxes")
        wait_for(
            lambda: "mailbox" in first.log() or "mailbox" in second.log(),
            "a worker to finish a mailbox",
            every=0.01,
            detail=cluster.logs,
        )
        victim, survivor = first, second
        victim.kill()  # SIGKILL mid-run: its mailboxes stay "running" until the run's lock expires
        assert _stored(runtime, tenant) < total, "the run finished before the kill; give the mailboxes more mail"
        wait_for(
            lambda: run_status(runtime, tenant.id, request_id) in {"succeeded", "failed"},
            "the other worker to take the run over and finish it",
            timeout=240,
            detail=cluster.logs,
        )
        assert survivor.running
    assert "mailbox" in survivor.log()  # the other worker took mailboxes of the same run
    assert run_status(runtime, tenant.id, request_id) == "succeeded", cluster.logs()
    for n in range(1, PEOPLE + 1):
        assert _archived(runtime, tenant, n) == _server_side(staff_dovecot, n), user_address(n)
    assert _stored(runtime, tenant) == total  # every message's content stored once
    with runtime.sessions() as session:
        process = processes.get_process(session, tenant.id, request_id)
        details = processes.process_to_dict(session, process, details=True)
    kinds = Counter((child["type"], child["status"]) for child in details["subprocesses"])
    # the killed attempt's unfinished mailboxes are closed as failed; the attempt that finished did all 20
    assert kinds[("mailbox-sync", "succeeded")] >= PEOPLE
    assert set(kinds) <= {("mailbox-sync", "succeeded"), ("mailbox-sync", "failed"), ("directory-sync", "succeeded")}
    assert kinds[("directory-sync", "succeeded")] >= 1


def _lock_holder(runtime: Runtime) -> str:
    with runtime.sessions() as session:
        return session.scalar(select(ProfileRun.holder).where(ProfileRun.holder.is_not(None))) or ""
