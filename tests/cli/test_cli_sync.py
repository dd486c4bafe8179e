"""postroom sync and postroom archive through the real entry point, against a real Dovecot."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import extract_msg

from postroom.testing.dovecot import Dovecot
from tests.cli.conftest import Cli
from tests.sync.conftest import make_message


def test_sync_then_browse_and_export(cli: Cli, dovecot: Dovecot, tmp_path: Path) -> None:
    dovecot.add_user("cli-sync", "cli-sync-password")
    message = make_message("Grüße from the CLI")
    dovecot.append("cli-sync", "cli-sync-password", "INBOX", message)
    ca = tmp_path / "ca.pem"
    ca.write_text(dovecot.ca_cert_path.read_text())
    cli("init", "--tenant", "acme")
    cli(
        "secret",
        "create",
        "Dovecot",
        "--kind",
        "basic",
        "--username",
        "cli-sync",
        "--password-stdin",
        input="cli-sync-password\n",
    )
    cli(
        "profile",
        "create",
        "Local Dovecot",
        "--type",
        "imap",
        "--server",
        dovecot.host,
        "--port",
        str(dovecot.imaps_port),
        "--protocol",
        "IMAP-SSL",
        "--secret",
        "Dovecot",
        "--mailbox",
        "cli-sync@example.test",
        "--tls-trusted-ca-file",
        str(ca),
    )

    first = cli("sync", "Local Dovecot")
    assert "Request ID R-" in first.stdout
    assert "cli-sync@example.test: 1 new" in first.stdout
    assert "succeeded" in first.stdout
    again = cli("sync", "local dovecot", "--json").json()
    assert (again["status"], again["counts"]["new"]) == ("succeeded", 0)

    boxes = cli("archive", "mailboxes", "--json").json()
    assert [(b["address"], b["messages"]) for b in boxes] == [("cli-sync@example.test", 1)]
    folders = cli("archive", "folders", "cli-sync@example.test", "--json").json()
    assert [f["path"] for f in folders] == ["INBOX"]
    listed = cli("archive", "messages", "cli-sync@example.test", "INBOX", "--json").json()
    assert listed[0]["subject"] == "Grüße from the CLI"
    shown = cli("archive", "show", str(listed[0]["id"]), "--json").json()
    assert shown["folders"][0]["folder"] == "INBOX"
    out = tmp_path / "exported.eml"
    cli("archive", "export", str(listed[0]["id"]), "--output", str(out))
    assert out.read_bytes() == message
    assert_exports_as_msg(cli, listed[0]["id"], tmp_path)
    assert "not found" in cli.fails("archive", "folders", "nobody@example.test")

    dovecot.add_user("cli-sync", "changed-password")
    failed = cli.run("sync", "Local Dovecot")
    assert failed.code == 1
    assert "failed" in failed.stdout


def assert_exports_as_msg(cli: Cli, message_id: int, tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    cli("archive", "export", str(message_id), "--format", "msg", "--output", str(folder))
    [written] = folder.iterdir()
    assert written.name == "20261122T101530Z Grüße from the CLI.msg"  # ISO 8601 basic, UTC
    assert written.stat().st_mtime == datetime(2026, 11, 22, 10, 15, 30, tzinfo=UTC).timestamp()
    with extract_msg.openMsg(str(written)) as opened:
        assert opened.subject == "Grüße from the CLI"
    again = cli.run("archive", "export", str(message_id), "--format", "msg", "--output", str(folder))
    assert again.code == 0 and "already there" in again.stderr
    assert [p.name for p in folder.iterdir()] == [written.name]  # the same content is not written twice
    named = tmp_path / "named.msg"
    cli("archive", "export", str(message_id), "-f", "msg", "-o", str(named))
    assert named.read_bytes() == written.read_bytes()  # deterministic
    assert "--overwrite" in cli.fails("archive", "export", str(message_id), "-f", "msg", "-o", str(named))
