"""The ``postroom`` command through its real console script, on the suite's database backend.

Each test is a scenario of several commands, because every command is a new process.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes

from postroom.db.models import Tenant, User
from postroom.domain.process import ProcessType, Severity
from postroom.runtime import Runtime
from postroom.security.keyring import generate_key
from postroom.services import processes, profiles, users
from postroom.testing.certificates import issue_certificate
from tests.cli.conftest import POSTROOM, Cli, cli_env

PASSWORD_LINE = re.compile(r"^Password \(shown only now, write it down\): (\S+)$", re.MULTILINE)


def _users(runtime: Runtime) -> list[str]:
    with runtime.transaction() as session:
        return [u.email for u in users.list_users(session)]


def _password_works(runtime: Runtime, email: str, password: str) -> bool:
    with runtime.transaction() as session:
        return isinstance(users.authenticate_password(session, email, password), User)


def _mail_login(cli: Cli) -> dict[str, Any]:
    """A basic secret whose password comes on standard input, as a script would give it."""
    args = ("secret", "create", "Mail login", "--kind", "basic", "--username", "anna", "--password-stdin")
    created: dict[str, Any] = cli(*args, "--json", input="S3cret-value!\n").json()
    return created


# --- init ----------------------------------------------------------------------------------------


def test_init_prints_the_first_password_once_and_creates_the_default_tenant(cli: Cli, runtime: Runtime) -> None:
    first = cli("init")
    [password] = PASSWORD_LINE.findall(first.stdout)
    assert first.stdout.count(password) == 1
    assert "Created the first administrator: admin@localhost" in first.stdout
    assert f"Secret key: {cli.data_dir / 'secret.key'}" in first.stdout
    assert _password_works(runtime, "admin@localhost", password)

    key_file = cli.data_dir / "secret.key"
    assert key_file.stat().st_mode & 0o777 == 0o600

    again = cli("init")
    assert "Password" not in again.stdout and password not in again.stdout
    assert "Created" not in again.stdout, again.stdout
    assert _users(runtime) == ["admin@localhost"]

    assert [t["name"] for t in cli("tenant", "list", "--json").json()] == ["default"]


def test_init_with_admin_password_from_the_environment_prints_no_password(cli: Cli, runtime: Runtime) -> None:
    chosen = "correct-horse-battery-9"
    key = generate_key()  # the key a multi-machine setup would share
    out = cli(
        "init",
        env={
            "POSTROOM_ADMIN_PASSWORD": chosen,
            "POSTROOM_ADMIN_EMAIL": "root@example.com",
            "POSTROOM_SECRET_KEY": key,
        },
    ).stdout
    assert "Created the first administrator: root@example.com" in out
    assert "Password" not in out and chosen not in out
    assert "Secret key: POSTROOM_SECRET_KEY" in out and key not in out
    assert not (cli.data_dir / "secret.key").exists()
    assert _users(runtime) == ["root@example.com"]
    assert _password_works(runtime, "root@example.com", chosen)


# --- tenants -------------------------------------------------------------------------------------


def test_tenants_and_choosing_one(cli: Cli) -> None:
    acme = cli("tenant", "create", "Acme", "--display-name", "Acme Ltd", "--json").json()
    assert (acme["name"], acme["display_name"]) == ("acme", "Acme Ltd")

    error = cli.fails("tenant", "create", "no spaces allowed")
    assert error.startswith("error: name: must be 1-63 characters")

    cli("tenant", "create", "beta")
    assert [t["name"] for t in cli("tenant", "list", "--json").json()] == ["acme", "beta"]

    error = cli.fails("profile", "list")
    assert "several tenants (acme, beta)" in error
    assert "--tenant" in error and "POSTROOM_TENANT" in error
    assert cli("profile", "list", "--tenant", "acme", "--json").json() == []
    assert cli("profile", "list", "--json", env={"POSTROOM_TENANT": "beta"}).json() == []


# --- secrets -------------------------------------------------------------------------------------


def test_secrets_are_stored_from_options_stdin_and_files_and_never_shown(
    cli: Cli, tenant: Tenant, tmp_path: Path
) -> None:
    basic = _mail_login(cli)
    assert (basic["kind"], basic["summary"]) == ("basic", {"username": "anna"})

    client = issue_certificate("postroom-pem")
    cert = client.cert
    pem = tmp_path / "client.pem"
    pem.write_text(client.cert_pem() + client.key_pem())
    from_pem = cli("secret", "create", "Client PEM", "--kind", "certificate", "--file", str(pem), "--json").json()
    assert from_pem["summary"]["subject"] == "CN=postroom-pem"
    assert from_pem["summary"]["thumbprint"] == cert.fingerprint(hashes.SHA1()).hex().upper()
    assert from_pem["expires_at"] == cert.not_valid_after_utc.isoformat()

    pfx = tmp_path / "client.pfx"
    pfx.write_bytes(issue_certificate("postroom-pfx").pkcs12("pfx-export-pw"))
    from_pfx = cli(
        "secret", "create", "Client PFX", "--kind", "certificate", "--file", str(pfx), "--password-stdin",
        "--json", input="pfx-export-pw\n",
    ).json()  # fmt: skip
    assert from_pfx["summary"]["subject"] == "CN=postroom-pfx"

    error = cli.fails("secret", "create", "Missing", "--kind", "certificate", "--file", str(tmp_path / "nope.pem"))
    assert error.startswith("error: file: cannot read")

    listed = cli("secret", "list", "--json")
    assert [s["name"] for s in listed.json()] == ["Client PEM", "Client PFX", "Mail login"]
    for secret_value in ("S3cret-value!", "pfx-export-pw", "PRIVATE KEY", '"password"', '"pfx"', '"pem"'):
        assert secret_value not in listed.stdout


# --- profiles and schedules ----------------------------------------------------------------------

IMAP_OPTIONS = (
    "--type", "imap", "--server", "mail.example.com", "--protocol", "IMAP-SSL",
    "--secret", "mail login", "--mailbox", "anna@example.com",
)  # fmt: skip


def test_profile_lifecycle(cli: Cli, runtime: Runtime, tenant: Tenant) -> None:
    secret = _mail_login(cli)
    main = cli("profile", "create", "Main IMAP", *IMAP_OPTIONS, "--timeout", "30", "--json").json()
    assert (main["port"], main["timeout"], main["secret_id"]) == (993, 30, secret["id"])
    with runtime.transaction() as session:
        other = profiles.create_profile(
            session,
            tenant.id,
            {"name": "Archive", "type": "imap", "mode": "single", "server_name": "mail.example.com",
             "protocol": "IMAP-TLS", "secret_id": secret["id"], "mailbox": "archive@example.com"},
        )  # fmt: skip
        other_id = other.id

    assert [p["name"] for p in cli("profile", "list", "--json").json()] == ["Archive", "Main IMAP"]
    assert [p["id"] for p in cli("profile", "search", "mAIN", "--json").json()] == [main["id"]]
    assert [p["id"] for p in cli("profile", "search", other_id.upper(), "--json").json()] == [other_id]

    shown = cli("profile", "show", "main imap", "--json").json()
    assert (shown["id"], shown["secret_name"], shown["deletable"]) == (main["id"], "Mail login", True)

    edited = cli("profile", "edit", "Main IMAP", "--name", "Primary IMAP", "--timeout", "", "--json").json()
    assert (edited["id"], edited["name"], edited["timeout"]) == (main["id"], "Primary IMAP", None)

    error = cli.fails("profile", "edit", "primary imap", "--type", "exchange")
    assert error.startswith("error: type: cannot be changed")

    error = cli.fails(
        "profile", "create", "Broken", "--type", "imap", "--port", "99999", "--protocol", "POP3",
        "--mailbox", "not-an-address", "--timeout", "-1",
    )  # fmt: skip
    for field in ("port", "protocol", "mailbox", "timeout", "server_name", "secret_id"):
        assert f"{field}: " in error

    schedule = cli(
        "schedule", "create", "Nightly", "--profile", "primary imap", "--daily", "02:30",
        "--timezone", "Europe/London", "--json",
    ).json()  # fmt: skip
    assert (schedule["timezone"], schedule["recurrence_text"]) == ("Europe/London", "daily at 02:30")

    error = cli.fails("profile", "delete", "Primary IMAP")
    assert "'Nightly'" in error and "delete the schedule first" in error
    error = cli.fails("secret", "delete", "Mail login")
    assert "used by" in error and "Primary IMAP" in error

    cli("schedule", "delete", "nightly")
    cli("profile", "delete", "Primary IMAP")
    with runtime.transaction() as session:
        assert [p.name for p in profiles.search_profiles(session, tenant.id)] == ["Archive"]


# --- the process log -----------------------------------------------------------------------------


def test_process_list_filters_and_details(cli: Cli, runtime: Runtime, tenant: Tenant) -> None:
    with runtime.transaction() as session:
        sync = processes.start_process(session, tenant.id, ProcessType.FOLDER_SYNC)
        processes.log(session, sync, Severity.INFO, "2 mailboxes to synchronize")
        mailbox = processes.start_process(session, tenant.id, ProcessType.MAILBOX_SYNC, parent=sync)
        processes.log(session, mailbox, Severity.ERROR, "login failed for anna@example.com")
        processes.finish_process(session, mailbox)
        processes.finish_process(session, sync)
        directory = processes.start_process(session, tenant.id, ProcessType.DIRECTORY_SYNC)
        processes.log(session, directory, Severity.WARNING, "3 users without a mailbox")
        processes.finish_process(session, directory)
        sync_id, mailbox_id, directory_id = sync.request_id, mailbox.request_id, directory.request_id

    def request_ids(*options: str) -> set[str]:
        return {p["request_id"] for p in cli("process", "list", *options, "--json").json()}

    assert request_ids() == {sync_id, directory_id}
    assert request_ids("--min-severity", "error") == {sync_id}
    assert request_ids("--type", "directory-sync") == {directory_id}
    assert request_ids("--request-id", mailbox_id.lower()) == {mailbox_id}

    details = cli("process", "show", sync_id.lower(), "--json").json()
    assert (details["status"], details["max_severity"]) == ("failed", "error")
    assert [(m["severity"], m["text"]) for m in details["messages"]] == [("info", "2 mailboxes to synchronize")]
    [child] = details["subprocesses"]
    assert (child["request_id"], child["type"], child["status"]) == (mailbox_id, "mailbox-sync", "failed")
    assert [m["text"] for m in child["messages"]] == ["login failed for anna@example.com"]

    error = cli.fails("process", "list", "--min-severity", "loud")
    assert error.startswith("error: min_severity: must be one of")


# --- the database --------------------------------------------------------------------------------


def test_db_upgrade_and_current(cli: Cli) -> None:
    assert cli("db", "upgrade").stdout.startswith("database schema at revision ")
    assert "(up to date)" in cli("db", "current").stdout


def test_a_database_never_migrated_or_unreachable_gives_one_line(tmp_path: Path) -> None:
    # Always SQLite: a fresh file is a database nobody has migrated.
    fresh = Cli(cli_env(tmp_path / "data", f"sqlite:///{tmp_path / 'fresh.db'}"), tmp_path / "data")
    error = fresh.fails("tenant", "list")
    assert "run `postroom db upgrade`" in error
    assert "run `postroom db upgrade`" in fresh("db", "current").stdout

    unusable = Cli(cli_env(tmp_path / "data", f"sqlite:///{tmp_path}"), tmp_path / "data")  # a folder
    assert unusable.fails("db", "current").startswith("error: cannot use the database at sqlite:///")

    # psycopg explains a refused connection over two lines; the CLI still prints one.
    nobody = Cli(cli_env(tmp_path / "data", "postgresql+psycopg://nobody@127.0.0.1:1/none"), tmp_path / "data")
    error = nobody.fails("tenant", "list")  # fails() checks that it is one line
    assert error.startswith("error: cannot use the database at postgresql+psycopg://nobody@127.0.0.1:1/none")


# --- postroom serve ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_answers_health_and_password_login(cli: Cli, tmp_path: Path) -> None:
    password = "correct-horse-battery-9"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log_file = tmp_path / "serve.log"
    with log_file.open("w") as log:
        server = subprocess.Popen(
            [str(POSTROOM), "serve", "--port", str(port)],
            env={**cli.env, "POSTROOM_ADMIN_PASSWORD": password},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            with httpx.Client(base_url=base, timeout=5) as http:
                deadline = time.monotonic() + 60
                while True:
                    assert server.poll() is None, log_file.read_text()
                    try:
                        if http.get("/api/v1/health").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert time.monotonic() < deadline, log_file.read_text()
                    time.sleep(0.1)

                answer = http.post("/api/v1/auth/token", json={"email": "admin@localhost", "password": password})
                assert answer.status_code == 201, answer.text
                bearer = {"Authorization": f"Bearer {answer.json()['token']}"}
                assert http.get("/api/v1/me", headers=bearer).json()["superadmin"] is True

                token = cli("token", "create", "--user", "admin@localhost", "--name", "x", "--json").json()
                me = http.get("/api/v1/me", headers={"Authorization": f"Bearer {token['token']}"})
                assert me.json()["email"] == "admin@localhost"
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
                raise
    output = log_file.read_text()
    assert "Created the first administrator: admin@localhost" in output
    assert "Password" not in output and password not in output
    assert f"Postroom is at http://127.0.0.1:{port}/" in output
