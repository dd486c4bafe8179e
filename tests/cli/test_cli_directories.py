"""``postroom directory`` through the real console script, reading a real slapd."""

from __future__ import annotations

from pathlib import Path

from postroom.db.models import Tenant
from postroom.testing.slapd import Slapd
from tests.cli.conftest import Cli
from tests.directory.servers import USERS, slapd

__all__ = ["slapd"]


def add_ldap(cli: Cli, server: Slapd, tmp_path: Path, password: str | None = None) -> dict[str, object]:
    cli(
        "secret", "create", "LDAP bind", "--kind", "basic", "--username", server.bind_dn, "--password-stdin",
        input=(password or server.bind_password) + "\n",
    )  # fmt: skip
    ca = tmp_path / "ca.pem"
    ca.write_text(server.ca_pem)
    return cli(  # type: ignore[no-any-return]
        "directory", "create", "Head office", "--type", "ldap", "--server-name", server.host,
        "--port", str(server.port), "--security", "starttls", "--tls-trusted-ca-file", str(ca),
        "--base-dn", server.base_dn, "--secret", "LDAP bind", "--page-size", "3", "--timeout", "10", "--json",
    ).json()  # fmt: skip


def test_static_lifecycle(cli: Cli, tenant: Tenant, tmp_path: Path) -> None:
    csv = tmp_path / "board.csv"
    csv.write_text("E-mail;Name\nanna@Example.com;Anna Smith\nbob@example.com;\n", encoding="utf-8-sig")
    created = cli("directory", "create", "Board", "--type", "static", "--csv", str(csv), "--json").json()
    assert (created["entry_count"], created["entries"][0]["address"]) == (2, "anna@example.com")
    assert (
        "Created directory service 'Contractors'"
        in cli("directory", "create", "Contractors", "--type", "static").stdout
    )

    assert [d["name"] for d in cli("directory", "list", "--json").json()] == ["Board", "Contractors"]
    assert [d["name"] for d in cli("directory", "search", "TRACT", "--json").json()] == ["Contractors"]
    assert "Board" in cli("directory", "list").stdout
    assert "type_label: Static list" in cli("directory", "show", created["id"].upper()).stdout

    edited = cli("directory", "edit", "contractors", "--csv", "-", "--json", input="carol@example.com,Carol\n").json()
    assert edited["entries"] == [{"address": "carol@example.com", "display_name": "Carol"}]
    listed = cli("directory", "mailboxes", "Board")
    assert "anna@example.com" in listed.stdout and "2 mailboxes (2 entries read" in listed.stdout
    assert cli("directory", "mailboxes", "Board", "--json").json()["count"] == 2
    synced = cli("directory", "sync", "Board")
    assert "succeeded: 2 mailboxes (2 new archive mailboxes)" in synced.stdout
    assert cli("directory", "test", "Board").stdout.startswith("Connection test passed")

    error = cli.fails("directory", "create", "Bad", "--type", "static", "--csv", str(tmp_path / "missing.csv"))
    assert error.startswith("error: entries: cannot read") and "No such file" in error
    csv.write_text("a@example.com\nnope\n")
    assert cli.fails("directory", "edit", "Board", "--csv", str(csv)) == (
        "error: entries: line 2: 'nope' is not an e-mail address like user@example.com"
    )
    assert "Deleted directory service 'Board'" in cli("directory", "delete", "Board").stdout
    assert "not found" in cli.fails("directory", "show", "Board")


def test_ldap_directory(cli: Cli, tenant: Tenant, slapd: Slapd, tmp_path: Path) -> None:
    created = add_ldap(cli, slapd, tmp_path)
    assert (created["security"], created["port"], created["bind_dn"]) == ("starttls", slapd.port, slapd.bind_dn)
    listed = cli("directory", "mailboxes", "Head office")
    assert f"{USERS + 1} mailboxes ({USERS + 3} entries read, 1 duplicates dropped, 1 left out)" in listed.stdout
    assert "not-an-address" in listed.stderr
    tested = cli("directory", "test", "head office")
    assert "✓ TLS (StartTLS)" in tested.stdout and "✓ Search" in tested.stdout
    synced = cli("directory", "sync", "Head office", "--json").json()
    assert (synced["status"], synced["created"], synced["mailboxes"]) == ("succeeded", USERS + 1, USERS + 1)
    processes = cli("process", "list", "--type", "directory-sync", "--json").json()
    assert [p["request_id"] for p in processes] == [synced["request_id"]]

    edited = cli("directory", "edit", "Head office", "--filter", "(&(mail=*)(!(employeeType=disabled)))", "--json")
    assert edited.json()["filter"] == "(&(mail=*)(!(employeeType=disabled)))"
    assert "disabled@example.test" not in cli("directory", "mailboxes", "Head office").stdout
    error = cli.fails("directory", "edit", "Head office", "--filter", "mail=*", "--port", "0")
    assert "port: must be a whole number between 1 and 65535" in error and "filter: must be an LDAP" in error


def test_ldap_failures_exit_1_with_the_servers_words(cli: Cli, tenant: Tenant, slapd: Slapd, tmp_path: Path) -> None:
    add_ldap(cli, slapd, tmp_path, password="wrong")
    tested = cli.run("directory", "test", "Head office")
    assert tested.code == 1 and "✗ Bind" in tested.stdout and "invalidCredentials (49)" in tested.stdout
    error = cli.fails("directory", "mailboxes", "Head office")
    assert error.startswith("error: bind: the server refused the bind") and "invalidCredentials (49)" in error
    synced = cli.run("directory", "sync", "Head office")
    assert synced.code == 1 and "failed: bind:" in synced.stderr
