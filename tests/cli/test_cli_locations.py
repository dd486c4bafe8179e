"""``postroom location`` through the real console script."""

from __future__ import annotations

from postroom.db.models import Tenant
from tests.cli.conftest import Cli

SURREY = r"\\FileServer\Projects\Surrey Court\email"


def test_location_lifecycle(cli: Cli, tenant: Tenant) -> None:
    created = cli("location", "create", "Surrey Court", "--sync-path", SURREY, "--json").json()
    assert (created["sync_path"], created["sync_path_normalised"]) == (
        SURREY,
        "//fileserver/projects/Surrey Court/email",
    )
    assert (created["format"], created["naming_template"], created["enabled"]) == ("msg", "{date} {subject}", True)
    other = cli(
        "location", "create", "Harbour", "--sync-path", "smb://fs/projects/Harbour", "--format", "eml",
        "--naming-template", "{year}/{date} {subject}", "--disabled", "--json",
    ).json()  # fmt: skip
    assert (other["format"], other["naming_template"], other["enabled"]) == ("eml", "{year}/{date} {subject}", False)

    assert [x["name"] for x in cli("location", "list", "--json").json()] == ["Harbour", "Surrey Court"]
    assert [x["id"] for x in cli("location", "search", "COURT", "--json").json()] == [created["id"]]
    assert [x["id"] for x in cli("location", "search", other["id"].upper(), "--json").json()] == [other["id"]]
    table = cli("location", "list").stdout
    assert "Surrey Court" in table and "Harbour" in table
    assert (
        "sync_path_normalised: //fileserver/projects/Surrey Court/email"
        in cli("location", "show", "surrey court").stdout
    )

    edited = cli("location", "edit", "harbour", "--name", "Harbour Works", "--enabled", "--json").json()
    assert (edited["id"], edited["name"], edited["enabled"], edited["format"]) == (
        other["id"],
        "Harbour Works",
        True,
        "eml",
    )
    assert "Updated location 'Harbour Works'" in cli("location", "edit", other["id"], "--disabled").stdout

    error = cli.fails("location", "create", "surrey COURT", "--sync-path", "/srv/x")
    assert "already exists" in error
    error = cli.fails("location", "create", "Again", "--sync-path", "//fileserver/projects/surrey court/email/")
    assert "folder of location 'Surrey Court'" in error
    error = cli.fails(
        "location", "create", "Bad", "--sync-path", "projects", "--format", "pdf", "--naming-template", "{x}"
    )
    assert error.startswith("error: sync_path: must be absolute")
    assert "format: must be eml or msg" in error and "naming_template: has an unknown field {x}" in error

    assert "Deleted location" in cli("location", "delete", "Surrey Court").stdout
    assert "not found" in cli.fails("location", "show", "Surrey Court")
    assert [x["name"] for x in cli("location", "list", "--json").json()] == ["Harbour Works"]
