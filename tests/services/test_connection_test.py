"""Running a profile's connection test: which mailbox, and what the process log keeps."""

from __future__ import annotations

import secrets

import pytest

from postroom.db.models import DirectoryService, Tenant
from postroom.domain.naming import name_key
from postroom.domain.process import ProcessStatus, ProcessType, Severity
from postroom.errors import InvalidInput, NotFound
from postroom.runtime import Runtime
from postroom.services import processes, profiles
from postroom.services import secrets as secret_service
from postroom.services.connection_test import run_connection_test
from postroom.testing.dovecot import Dovecot


def make_profile(runtime: Runtime, tenant: Tenant, server: Dovecot, **fields: object) -> tuple[str, str, str]:
    """A Dovecot user and an IMAP-SSL profile for it: (profile name, user, password)."""
    user, password = f"svc-{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    server.add_user(user, password)
    with runtime.transaction() as session:
        secret = secret_service.create_secret(
            session, runtime.secret_box, tenant.id, f"login {user}", "basic", {"username": user, "password": password}
        )
        values: dict[str, object] = {
            "name": f"profile {user}",
            "type": "imap",
            "mode": "single",
            "mailbox": f"{user}@example.test",
            "server_name": server.host,
            "port": server.imaps_port,
            "protocol": "IMAP-SSL",
            "secret_id": secret.id,
            "timeout": 10,
            "tls_trusted_ca": server.ca_cert_path.read_text(),
            **fields,
        }
        if values["mode"] == "multiple":  # the secret's user reads others' mailboxes: a Dovecot master user
            server.add_master_user(user, password)
            directory = DirectoryService(tenant_id=tenant.id, name="Staff", name_key=name_key("Staff"), type="static")
            session.add(directory)
            session.flush()
            values.pop("mailbox")
            values["directory_service_id"] = directory.id
        profiles.create_profile(session, tenant.id, values)
    return str(values["name"]), user, password


def log_of(runtime: Runtime, tenant: Tenant, request_id: str) -> dict[str, object]:
    with runtime.transaction() as session:
        return processes.process_to_dict(session, processes.get_process(session, tenant.id, request_id), details=True)


def test_a_passing_test_is_a_succeeded_connection_test_process(
    runtime: Runtime, tenant: Tenant, dovecot: Dovecot
) -> None:
    name, user, _ = make_profile(runtime, tenant, dovecot)
    result = run_connection_test(runtime, tenant.id, name)

    assert result.ok, result.as_text()
    assert (result.profile, result.mailbox) == (name, f"{user}@example.test")
    assert result.request_id is not None and f"Request ID: {result.request_id}" in result.as_text()
    logged = log_of(runtime, tenant, result.request_id)
    assert (logged["type"], logged["status"], logged["configuration_name"]) == (
        ProcessType.CONNECTION_TEST.value,
        ProcessStatus.SUCCEEDED.value,
        name,
    )
    messages = logged["messages"]
    assert isinstance(messages, list)
    assert messages[0]["text"] == f"testing the connection of profile {name!r} for mailbox {user}@example.test"
    assert [m["text"].split(":")[0] for m in messages[1:]] == [s.title for s in result.steps]
    assert {m["severity"] for m in messages} == {"info"}


def test_a_failed_step_is_the_one_error_in_the_log(runtime: Runtime, tenant: Tenant, dovecot: Dovecot) -> None:
    name, user, _ = make_profile(runtime, tenant, dovecot)
    dovecot.add_user(user, "changed-on-the-server")
    result = run_connection_test(runtime, tenant.id, name)

    assert not result.ok and result.failed_step is not None and result.failed_step.name == "login"
    assert result.request_id is not None
    logged = log_of(runtime, tenant, result.request_id)
    assert (logged["status"], logged["max_severity"]) == ("failed", Severity.ERROR.label)
    messages = logged["messages"]
    assert isinstance(messages, list)
    errors = [m["text"] for m in messages if m["severity"] == "error"]
    assert errors == [result.failed_step.log_line()]
    assert errors[0].startswith("Login: failed (")
    assert errors[0].endswith(
        f" — the server rejected the login of {user!r} — error: NO [AUTHENTICATIONFAILED] Authentication failed."
        " — hint: check the secret's user name and password"
    )
    assert messages[-1]["text"] == "Folders and counts: skipped — skipped: an earlier step failed"


def test_a_multiple_mailbox_profile_needs_the_mailbox_to_test(
    runtime: Runtime, tenant: Tenant, dovecot: Dovecot
) -> None:
    name, user, _ = make_profile(runtime, tenant, dovecot, mode="multiple")
    with pytest.raises(InvalidInput) as missing:
        run_connection_test(runtime, tenant.id, name)
    assert [e.field for e in missing.value.errors] == ["mailbox"]
    assert "choose the mailbox to test" in str(missing.value)
    with pytest.raises(InvalidInput, match="must be an e-mail address"):
        run_connection_test(runtime, tenant.id, name, mailbox="not an address")
    with runtime.transaction() as session:  # nothing ran, so nothing was logged
        assert processes.list_processes(session, tenant.id, processes.ProcessFilter()) == []

    result = run_connection_test(runtime, tenant.id, name, mailbox=f"{user}@example.test")
    assert result.ok, result.as_text()
    assert result.mailbox == f"{user}@example.test"


def test_a_single_mailbox_profile_tests_its_own_mailbox(runtime: Runtime, tenant: Tenant, dovecot: Dovecot) -> None:
    name, user, _ = make_profile(runtime, tenant, dovecot)
    assert run_connection_test(runtime, tenant.id, name, mailbox=f"{user.upper()}@Example.test").ok
    with pytest.raises(InvalidInput, match="tests its own mailbox"):
        run_connection_test(runtime, tenant.id, name, mailbox="someone-else@example.test")


def test_types_without_a_test_yet_and_unknown_profiles_are_refused(
    runtime: Runtime, tenant: Tenant, dovecot: Dovecot
) -> None:
    with runtime.transaction() as session:
        secret = secret_service.create_secret(
            session, runtime.secret_box, tenant.id, "exchange login", "basic", {"username": "a", "password": "b"}
        )
        profiles.create_profile(
            session,
            tenant.id,
            {
                "name": "Exchange",
                "type": "exchange",
                "mode": "single",
                "mailbox": "anna@example.test",
                "server_name": "exchange.example.test",
                "secret_id": secret.id,
            },
        )
    with pytest.raises(InvalidInput, match="Exchange Server profiles is not available yet"):
        run_connection_test(runtime, tenant.id, "Exchange")
    with pytest.raises(NotFound):
        run_connection_test(runtime, tenant.id, "no such profile")
