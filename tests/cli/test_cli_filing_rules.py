"""``postroom rule`` through the real console script."""

from __future__ import annotations

from postroom.db.models import Tenant
from postroom.runtime import Runtime
from postroom.testing.archive import archive_messages
from tests.cli.conftest import Cli


def test_rule_lifecycle(cli: Cli, runtime: Runtime, tenant: Tenant) -> None:
    ids = archive_messages(runtime, tenant.id, "Drawings P-1234", "Invoice")
    cli("location", "create", "Surrey Court", "--sync-path", "/srv/projects/Surrey Court")
    created = cli(
        "rule",
        "create",
        "Codes",
        "--to",
        "surrey court",
        "--project-code",
        r"\b(P-\d{3,5})\b",
        "--sender",
        "@example.com",
    )
    assert "Created filing rule 'Codes'" in created.stdout
    shown = cli("rule", "show", "codes", "--json").json()
    assert shown["location"] == "Surrey Court" and shown["conditions"]["sender"] == "@example.com"
    assert "project_code=" in cli("rule", "list").stdout
    assert cli("rule", "apply").stdout.strip() == "filing rules: 1 messages filed (2 looked at)"
    assert cli("rule", "apply", "Codes", "--json").json()["filed"] == 0  # twice is once
    filed = cli("filing", "list", "--json").json()
    assert [(f["message_id"], f["source"], f["filed_by"]) for f in filed] == [(ids[0], "rule", "rule Codes")]

    assert "conditions.subject: is not a valid regular expression" in cli.fails(
        "rule", "create", "Bad", "--to", "Surrey Court", "--subject", "(unclosed"
    )
    cli("rule", "create", "Off", "--to", "Surrey Court", "--subject", "invoice", "--disabled")
    assert "is disabled" in cli.fails("rule", "apply", "Off")
    assert "Deleted filing rule" in cli("rule", "delete", "Codes").stdout
    assert "not found" in cli.fails("rule", "show", "Codes")
    assert [r["name"] for r in cli("rule", "list", "--json").json()] == ["Off"]
