"""``postroom profile test`` through the real entry point, against a real Dovecot."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from postroom.db.models import DirectoryService
from postroom.domain.connection_test import StepStatus
from postroom.domain.naming import name_key
from postroom.runtime import Runtime
from postroom.services.access import Actor, tenant_for
from postroom.testing.dovecot import Dovecot
from tests.cli.conftest import Cli

OK, FAILED, SKIPPED = (status.symbol for status in (StepStatus.OK, StepStatus.FAILED, StepStatus.SKIPPED))


def _setup(cli: Cli, dovecot: Dovecot, tmp_path: Path) -> tuple[str, str]:
    """A tenant, a secret for a fresh Dovecot user and a single-mailbox IMAP-SSL profile: (user, password)."""
    user, password = f"cli-test-{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    dovecot.add_user(user, password)
    ca = tmp_path / "ca.pem"
    ca.write_text(dovecot.ca_cert_path.read_text())
    cli("init", "--tenant", "acme")
    cli("secret", "create", "Dovecot", "--kind", "basic", "--username", user, "--password-stdin", input=password)
    common = ["--server", dovecot.host, "--secret", "Dovecot", "--tls-trusted-ca-file", str(ca), "--timeout", "10"]
    cli(
        "profile", "create", "Local Dovecot", "--type", "imap", "--port", str(dovecot.imaps_port),
        "--protocol", "IMAP-SSL", "--mailbox", f"{user}@example.test", *common,
    )  # fmt: skip
    cli(
        "profile", "create", "Plain port", "--type", "imap", "--port", str(dovecot.imap_port),
        "--protocol", "IMAP-SSL", "--mailbox", f"{user}@example.test", *common,
    )  # fmt: skip
    return user, password


def test_profile_test_prints_each_step_and_fails_with_exit_code_1(cli: Cli, dovecot: Dovecot, tmp_path: Path) -> None:
    user, _ = _setup(cli, dovecot, tmp_path)

    passed = cli("profile", "test", "Local Dovecot")
    lines = passed.stdout.splitlines()
    assert lines[0] == f"Connection test passed: IMAP-SSL {dovecot.host}:{dovecot.imaps_port} as {user}"
    assert "Profile:    Local Dovecot" in lines
    assert f"Mailbox:    {user}@example.test" in lines
    steps = [line for line in lines if line[:1] in (OK, FAILED, SKIPPED)]
    assert [line.split("  ")[0] for line in steps] == [
        f"{OK} DNS",
        f"{OK} TCP connection",
        f"{OK} TLS",
        f"{OK} Greeting",
        f"{OK} Capabilities",
        f"{OK} Login",
        f"{OK} Folders and counts",
    ]
    assert "INBOX: 0 messages" in passed.stdout

    wrong_port = cli.run("profile", "test", "plain port")
    assert wrong_port.code == 1 and wrong_port.stderr == ""
    assert wrong_port.stdout.startswith("Connection test failed at TLS: TLS handshake with")
    assert f"{FAILED} TLS " in wrong_port.stdout
    assert "did you mean 993 for IMAP-SSL?" in wrong_port.stdout
    assert f"{SKIPPED} Login" in wrong_port.stdout

    dovecot.add_user(user, "changed-on-the-server")
    refused = cli.run("profile", "test", "Local Dovecot")
    assert refused.code == 1 and refused.stderr == ""
    out = refused.stdout.splitlines()
    assert out[0] == f"Connection test failed at Login: the server rejected the login of {user!r}"
    at = next(i for i, line in enumerate(out) if line.startswith(f"{FAILED} Login"))
    assert out[at + 1].split(None, 1) == ["error:", "NO [AUTHENTICATIONFAILED] Authentication failed."]
    assert out[at + 2].split(None, 1) == ["hint:", "check the secret's user name and password"]
    assert out[at + 3].startswith(f"{SKIPPED} Folders and counts")
    request_id = next(line.split()[-1] for line in out if line.startswith("Request ID:"))

    as_json = cli.run("profile", "test", "local dovecot", "--json")
    assert as_json.code == 1
    data = as_json.json()
    assert (data["ok"], data["failed_step"]) == (False, "login")
    assert [s["status"] for s in data["steps"]] == ["ok"] * 5 + ["failed", "skipped"]
    assert data["steps"][5]["error"] == "NO [AUTHENTICATIONFAILED] Authentication failed."

    logged = cli("process", "show", request_id, "--json").json()
    assert (logged["type"], logged["status"], logged["max_severity"]) == ("connection-test", "failed", "error")
    assert any("[AUTHENTICATIONFAILED]" in m["text"] and m["severity"] == "error" for m in logged["messages"])
    tests = cli("process", "list", "--type", "connection-test", "--json").json()
    assert sorted(p["status"] for p in tests) == ["failed", "failed", "failed", "succeeded"]


def test_a_multiple_mailbox_profile_needs_mailbox(cli: Cli, dovecot: Dovecot, runtime: Runtime, tmp_path: Path) -> None:
    """In multiple-mailbox mode the secret is an administrator's (a Dovecot master user), who logs
    in acting as the mailbox chosen for the test."""
    user, _password = _setup(cli, dovecot, tmp_path)
    master, master_password = f"archiver-{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    dovecot.add_master_user(master, master_password)
    cli(
        "secret",
        "create",
        "Archiver",
        "--kind",
        "basic",
        "--username",
        master,
        "--password-stdin",
        input=master_password,
    )
    with runtime.transaction() as session:
        tenant = tenant_for(session, Actor.local_admin(), "acme")
        session.add(DirectoryService(tenant_id=tenant.id, name="Staff", name_key=name_key("Staff"), type="static"))
    cli("profile", "edit", "Local Dovecot", "--mode", "multiple", "--directory", "Staff", "--secret", "Archiver")

    error = cli.fails("profile", "test", "Local Dovecot")
    assert error == (
        "error: mailbox: this profile synchronizes multiple mailboxes: choose the mailbox to test "
        "(its primary e-mail address)"
    )
    assert "must be an e-mail address" in cli.fails("profile", "test", "Local Dovecot", "--mailbox", "anna")
    passed = cli("profile", "test", "Local Dovecot", "--mailbox", f"{user}@example.test", "--json").json()
    assert (passed["ok"], passed["mailbox"]) == (True, f"{user}@example.test"), passed
    login = next(step for step in passed["steps"] if step["name"] == "login")
    assert login["summary"] == f"logged in as {master}, acting as {user}@example.test"
    unknown = cli.run("profile", "test", "Local Dovecot", "--mailbox", "nobody@example.test", "--json")
    assert unknown.code == 1 and json.loads(unknown.stdout)["failed_step"] == "login"
    assert "not found" in cli.fails("profile", "test", "No such profile")
