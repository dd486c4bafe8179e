"""``postroom connector`` (licenses and status) through the real console script."""

from __future__ import annotations

import stat

from postroom.db.models import Tenant
from postroom.domain.connector import DEFAULT_LICENSE_NAME, parse_license
from tests.cli.conftest import Cli

ROOT = r"\\FS\Projects=/mnt/projects"


def test_license_create_writes_a_private_license_file(cli: Cli, tenant: Tenant) -> None:
    folder = cli.data_dir.parent
    done = cli("connector", "license", "create", "--name", "NAS", "--root", ROOT, "--server-url", "https://p.example")
    path = folder / DEFAULT_LICENSE_NAME
    assert str(path) in done.stdout and "secret" in done.stdout
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    license = parse_license(path.read_bytes())
    assert (license.server_url, license.tenant, license.name) == ("https://p.example", "acme", "NAS")

    error = cli.fails("connector", "license", "create", "--name", "Other")
    assert "exists" in error and "--overwrite" in error
    assert [c["name"] for c in cli("connector", "list", "--json").json()] == ["NAS"]  # nothing was created

    other = folder / "other.lic"
    data = cli("connector", "license", "create", "--name", "Other", "-o", str(other), "--json").json()
    assert data["file"] == str(other) and parse_license(other.read_text()).connector_id == data["connector"]["id"]
    cli("connector", "license", "create", "--name", "Third", "-o", str(other), "--overwrite")
    assert parse_license(other.read_text()).name == "Third"
    assert stat.S_IMODE(other.stat().st_mode) == 0o600


def test_list_show_edit_and_revoke(cli: Cli, tenant: Tenant) -> None:
    cli("connector", "license", "create", "--name", "NAS", "--root", ROOT, "-o", str(cli.data_dir.parent / "a.lic"))
    shown = cli("connector", "show", "nas", "--json").json()
    assert shown["path_roots"] == [{"server": r"\\FS\Projects", "local": "/mnt/projects"}]
    assert shown["locations"] == [] and shown["lease"] is None
    cli("location", "create", "Surrey", "--sync-path", "/srv/surrey")
    table = cli("connector", "show", shown["key"]).stdout
    assert "Surrey" in table and "Pending" in table and "name: NAS" in table
    assert "NAS" in cli("connector", "list").stdout

    edited = cli("connector", "edit", "NAS", "--name", "NAS 2", "--root", "/srv=/mnt/srv", "--json").json()
    assert (edited["name"], edited["path_roots"]) == ("NAS 2", [{"server": "/srv", "local": "/mnt/srv"}])
    assert cli("connector", "edit", shown["id"], "--clear-roots", "--json").json()["path_roots"] == []
    assert "Revoked the license of connector 'NAS 2'" in cli("connector", "revoke", "nas 2").stdout
    assert cli("connector", "show", "NAS 2", "--json").json()["revoked_at"]
    assert "not found" in cli.fails("connector", "show", "nothing")


def test_bad_roots_give_clear_errors(cli: Cli, tenant: Tenant) -> None:
    error = cli.fails("connector", "license", "create", "--name", "NAS", "--root", "/srv/projects")
    assert "SERVER=LOCAL" in error
    error = cli.fails("connector", "license", "create", "--name", "NAS", "--root", "projects=/mnt/p")
    assert "path_roots[0].server: must be absolute" in error
    assert not (cli.data_dir.parent / DEFAULT_LICENSE_NAME).exists()
