"""A sync that finds nothing new is mostly start-up: what it must not import (decision 7)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from postroom.testing.dovecot import Dovecot
from tests.cli.conftest import Cli
from tests.sync.conftest import make_message

PROBE = textwrap.dedent(
    """
    import json, sys
    from postroom.cli.main import run
    sys.argv = ["postroom", "sync", "Local Dovecot", "--json"]
    try:
        run()
    except SystemExit as exit:
        code = exit.code
    heavy = ["pydantic", "rich", "cryptography.x509", "cryptography.hazmat.primitives.serialization",
             "postroom.sources.imap_check", "postroom.services.filing_rules", "postroom.formats.naming"]
    print(json.dumps({"code": code, "loaded": [m for m in heavy if m in sys.modules]}))
    """
)


def test_a_no_change_sync_loads_none_of_what_only_other_commands_need(
    cli: Cli, dovecot: Dovecot, tmp_path: Path
) -> None:
    """typer from 0.29 (pydantic), pydantic-settings, rich without a terminal, re-parsing the
    profile's trusted CA, connection tests and filing each cost start-up time a sync never uses."""
    dovecot.add_user("start-up", "start-up-password")
    dovecot.append("start-up", "start-up-password", "INBOX", make_message("only one"))
    ca = tmp_path / "ca.pem"
    ca.write_text(dovecot.ca_cert_path.read_text())
    cli("init", "--tenant", "acme")
    cli("secret", "create", "Dovecot", "--kind", "basic", "--username", "start-up", "--password-stdin",
        input="start-up-password\n")  # fmt: skip
    cli("profile", "create", "Local Dovecot", "--type", "imap", "--server", dovecot.host,
        "--port", str(dovecot.imaps_port), "--protocol", "IMAP-SSL", "--secret", "Dovecot",
        "--mailbox", "start-up@example.test", "--tls-trusted-ca-file", str(ca))  # fmt: skip
    assert cli("sync", "Local Dovecot", "--json").json()["counts"]["new"] == 1

    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=cli.env, capture_output=True, text=True, timeout=120, check=False
    )
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    summary = json.loads("\n".join(lines[:-1]))
    assert (result["code"], summary["status"], summary["counts"]["new"]) == (0, "succeeded", 0), done.stderr
    assert result["loaded"] == [], f"imported by a no-change sync: {result['loaded']}"
