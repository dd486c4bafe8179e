"""``postroom file`` and ``postroom filing`` through the real console script."""

from __future__ import annotations

from postroom.db.models import Tenant
from postroom.runtime import Runtime
from postroom.testing.archive import archive_messages
from tests.cli.conftest import Cli


def test_filing_lifecycle(cli: Cli, runtime: Runtime, tenant: Tenant) -> None:
    ids = [str(i) for i in archive_messages(runtime, tenant.id, "Drawings", "Invoice")]
    cli("location", "create", "Surrey Court", "--sync-path", "/srv/projects/Surrey Court")
    assert cli("file", ids[0], ids[0], "--to", "surrey court").stdout.strip() == "filed 1, already filed 0"
    assert cli("file", *ids, "--to", "Surrey Court").stdout.strip() == "filed 1, already filed 1"
    again = cli("file", ids[1], "--to", "Surrey Court", "--json").json()
    assert again["created"] == [] and again["already"][0]["message_id"] == int(ids[1])

    listed = cli("filing", "list", "--location", "Surrey Court", "--status", "pending", "--json").json()
    assert sorted(str(f["message_id"]) for f in listed) == sorted(ids)
    assert {(f["source"], f["filed_by"]) for f in listed} == {("cli", "local admin")}
    assert "Surrey Court" in cli("filing", "list", "--limit", "1").stdout
    assert cli("filing", "list", "--status", "written").stdout.strip() == "No filings."
    assert "status: pending" in cli("filing", "show", listed[0]["id"]).stdout
    assert cli("filing", "show", listed[0]["id"], "--json").json()["id"] == listed[0]["id"]

    assert "Deleted filing" in cli("filing", "delete", listed[0]["id"]).stdout
    assert "not found" in cli.fails("filing", "show", listed[0]["id"])
    assert "message '999999' not found" in cli.fails("file", ids[0], "999999", "--to", "Surrey Court")
    assert len(cli("filing", "list", "--json").json()) == 1  # nothing filed by the failed command
    cli("location", "edit", "Surrey Court", "--disabled")
    assert "location: location 'Surrey Court' is disabled" in cli.fails("file", ids[0], "--to", "Surrey Court")
    assert "status: must be one of" in cli.fails("filing", "list", "--status", "done")
