"""Multiple-mailbox profiles (seed 002, issue 7): the directory lists the mailboxes, an
administrator's credential reads each (a Dovecot master user acting as the mailbox), each mailbox
is a sub-process of the run, and one failing mailbox does not stop the others."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from postroom.db.archive import ArchiveMailbox
from postroom.db.models import Process, Tenant
from postroom.domain.process import ProcessStatus, ProcessType
from postroom.runtime import Runtime
from postroom.services import directories, processes, profiles
from postroom.services import secrets as secret_service
from postroom.services.sync import run_profile
from postroom.testing.dovecot import Dovecot
from tests.sync.conftest import make_message


@dataclass
class Staff:
    profile_id: str
    users: dict[str, str]  # Dovecot user → password


def _staff(
    runtime: Runtime, tenant: Tenant, dovecot: Dovecot, count: int, *, extra: str = "", **profile: object
) -> Staff:
    users = {f"staff-{secrets.token_hex(3)}": secrets.token_urlsafe(10) for _ in range(count)}
    for user, password in users.items():
        dovecot.add_user(user, password)
        dovecot.append(user, password, "INBOX", make_message(f"hello {user}"))
    master, master_password = f"archiver-{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    dovecot.add_master_user(master, master_password)
    listed = "\n".join(f"{user}@example.test,{user.title()}" for user in users) + extra
    with runtime.transaction() as session:
        secret = secret_service.create_secret(
            session, runtime.secret_box, tenant.id, f"master {master}", "basic",
            {"username": master, "password": master_password},
        )  # fmt: skip
        directory = directories.create_directory(
            session, tenant.id, {"name": f"staff {master}", "type": "static", "entries": listed}
        )
        created = profiles.create_profile(
            session,
            tenant.id,
            {
                "name": f"everyone {master}",
                "type": "imap",
                "mode": "multiple",
                "directory_service_id": directory.id,
                "server_name": dovecot.host,
                "port": dovecot.imaps_port,
                "protocol": "IMAP-SSL",
                "secret_id": secret.id,
                "timeout": 10,
                "tls_trusted_ca": dovecot.ca_cert_path.read_text(),
                **profile,
            },
        )
    return Staff(created.id, users)


def _children(runtime: Runtime, request_id: str, tenant: Tenant) -> list[Process]:
    with runtime.sessions() as session:
        parent = processes.get_process(session, tenant.id, request_id)
        return list(session.scalars(select(Process).where(Process.parent_id == parent.id).order_by(Process.created_at)))


def test_every_mailbox_the_directory_lists_is_archived_each_as_a_sub_process(
    runtime: Runtime, tenant: Tenant, dovecot: Dovecot
) -> None:
    staff = _staff(runtime, tenant, dovecot, 5)
    result = run_profile(runtime, tenant.id, staff.profile_id)
    assert result.status is ProcessStatus.SUCCEEDED, result
    assert sorted(result.mailboxes) == sorted(f"{user}@example.test" for user in staff.users)
    assert all(report.total().new == 1 for report in result.mailboxes.values())
    children = _children(runtime, result.request_id, tenant)
    assert [c.type for c in children] == [ProcessType.MAILBOX_SYNC.value] * 5
    assert {c.status for c in children} == {ProcessStatus.SUCCEEDED.value}
    again = run_profile(runtime, tenant.id, staff.profile_id)  # incremental per mailbox: nothing new
    assert again.status is ProcessStatus.SUCCEEDED
    assert {report.total().summary() for report in again.mailboxes.values()} == {"no changes"}


def test_a_mailbox_the_server_does_not_have_fails_alone(runtime: Runtime, tenant: Tenant, dovecot: Dovecot) -> None:
    staff = _staff(runtime, tenant, dovecot, 2, extra="\nghost-nobody@example.test,Ghost")
    result = run_profile(runtime, tenant.id, staff.profile_id)
    assert result.status is ProcessStatus.FAILED
    assert result.failed_mailboxes == ["ghost-nobody@example.test"]
    assert len(result.mailboxes) == 2  # the others were archived all the same
    statuses = sorted(c.status for c in _children(runtime, result.request_id, tenant))
    assert statuses == ["failed", "succeeded", "succeeded"]
    with runtime.sessions() as session:
        process = processes.get_process(session, tenant.id, result.request_id)
        shown = processes.process_to_dict(session, process, details=True)
    assert any("1 of 3 mailboxes failed: ghost-nobody@example.test" in m["text"] for m in shown["messages"])


def test_synchronize_users_runs_the_directory_sync_first_as_its_own_process(
    runtime: Runtime, tenant: Tenant, dovecot: Dovecot
) -> None:
    staff = _staff(runtime, tenant, dovecot, 2, synchronize_users=True)
    result = run_profile(runtime, tenant.id, staff.profile_id)
    assert result.status is ProcessStatus.SUCCEEDED
    children = _children(runtime, result.request_id, tenant)
    assert [c.type for c in children] == [ProcessType.DIRECTORY_SYNC.value] + [ProcessType.MAILBOX_SYNC.value] * 2
    with runtime.sessions() as session:
        names = set(session.scalars(select(ArchiveMailbox.display_name).where(ArchiveMailbox.tenant_id == tenant.id)))
    assert {user.title() for user in staff.users} <= names  # made by the directory sync, with display names


def test_a_directory_that_cannot_be_read_fails_the_run_with_its_words(
    runtime: Runtime, tenant: Tenant, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    staff = _staff(runtime, tenant, dovecot, 1)
    from postroom.errors import SourceError

    def unreachable(*_args: object) -> object:
        raise SourceError("connect", "cannot reach ldap.example.com:636", "[Errno 111] Connection refused")

    monkeypatch.setattr(directories, "list_mailboxes", unreachable)
    result = run_profile(runtime, tenant.id, staff.profile_id)
    assert result.status is ProcessStatus.FAILED and result.mailboxes == {}
    assert "cannot reach ldap.example.com:636" in str(result.error)


def test_no_more_mailboxes_of_one_server_at_once_than_allowed(
    runtime: Runtime,
    tenant: Tenant,
    dovecot: Dovecot,
    monkeypatch: pytest.MonkeyPatch,
    override_settings: Callable[..., None],
) -> None:
    """POSTROOM_MAILBOXES_PER_SERVER bounds a process's mailboxes per mail server, whatever the
    run's own parallelism (here 4)."""
    from postroom.services import sync as sync_service

    staff = _staff(runtime, tenant, dovecot, 4)
    override_settings(mailboxes_per_server=1)
    monkeypatch.setattr(sync_service, "_SERVER_SLOTS", {})  # the slots are made from the settings at first use
    at_once, most = 0, 0
    lock = threading.Lock()
    real_open = sync_service.open_source

    def counting_open(*args: object) -> object:
        nonlocal at_once, most
        with lock:
            at_once += 1
            most = max(most, at_once)
        try:
            time.sleep(0.2)  # long enough for the other threads to try too
            return real_open(*args)  # type: ignore[arg-type]
        finally:
            with lock:
                at_once -= 1

    monkeypatch.setattr(sync_service, "open_source", counting_open)
    result = run_profile(runtime, tenant.id, staff.profile_id)
    assert result.status is ProcessStatus.SUCCEEDED and len(result.mailboxes) == 4
    assert most == 1
