"""``postroom directory``: directory services, which list the mailboxes of multiple-mailbox profiles."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from postroom.cli.common import (
    JsonOpt,
    TenantOpt,
    console,
    err_console,
    opened,
    pick_tenant,
    print_json,
    print_record,
    print_table,
    read_trusted_ca_file,
    transaction,
)
from postroom.domain.process import ProcessStatus
from postroom.errors import FieldError, InvalidInput
from postroom.services import directories

app = typer.Typer(
    help="Directory services: LDAP / Active Directory or a static list of mailboxes.", no_args_is_help=True
)

Opt = typer.Option
COLUMNS = [("name", "Name"), ("type", "Type"), ("server_name", "Server"), ("entry_count", "Entries"), ("id", "ID")]

SecretOpt = Annotated[
    str | None, Opt("--secret", help="LDAP: name or ID of a basic secret; its username is the bind DN.")
]
ServerOpt = Annotated[str | None, Opt(help="LDAP: host name or address, without ldap:// or port.")]
PortOpt = Annotated[int | None, Opt(help="LDAP: port 1-65535 (default 389, or 636 for ldaps).")]
SecurityOpt = Annotated[str | None, Opt(help="LDAP: none, starttls (default) or ldaps.")]
TrustedCaOpt = Annotated[
    str | None,
    Opt("--tls-trusted-ca-file", help="LDAP: PEM file of CA certificates to trust besides the system's."),
]
TimeoutOpt = Annotated[int | None, Opt(help="LDAP: seconds to wait for the server, 0 = no limit (default 30).")]
BaseDnOpt = Annotated[str | None, Opt(help="LDAP: the DN to search below, e.g. dc=example,dc=com.")]
FilterOpt = Annotated[
    str | None, Opt("--filter", help="LDAP: search filter (default (&(objectClass=person)(mail=*))).")
]
MailAttributeOpt = Annotated[str | None, Opt(help="LDAP: attribute holding the address (default mail).")]
DisplayNameOpt = Annotated[str | None, Opt(help="LDAP: attribute holding the display name (default displayName).")]
PageSizeOpt = Annotated[int | None, Opt(help="LDAP: entries per page of the paged search (default 500).")]
CsvOpt = Annotated[
    str | None,
    Opt("--csv", help="Static: CSV file (address,display name per line; header optional; - for stdin)."),
]


def _csv_text(path: str | None) -> str | None:
    if path is None:
        return None
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInput(FieldError("entries", f"cannot read {path}: {exc.strerror}")) from exc
    except UnicodeDecodeError:
        raise InvalidInput(FieldError("entries", f"{path} is not UTF-8 text: save the CSV as UTF-8")) from None


def _fields(**given: Any) -> dict[str, object]:
    """Only the options that were given; an empty string clears an optional field when editing."""
    given["tls_trusted_ca"] = read_trusted_ca_file(given.pop("tls_trusted_ca_file"))
    given["entries"] = _csv_text(given.pop("csv"))
    return {key: value for key, value in given.items() if value is not None}


def _print(data: dict[str, Any], as_json: bool, verb: str) -> None:
    if as_json:
        print_json(data)
        return
    console.print(f"{verb} directory service {data['name']!r} ({data['id']})", highlight=False)


@app.command("create")
def create(
    name: str,
    type: Annotated[str, Opt("--type", help="ldap (LDAP / Active Directory) or static.")],
    tenant: TenantOpt = None,
    secret: SecretOpt = None,
    server_name: ServerOpt = None,
    port: PortOpt = None,
    security: SecurityOpt = None,
    tls_trusted_ca_file: TrustedCaOpt = None,
    timeout: TimeoutOpt = None,
    base_dn: BaseDnOpt = None,
    filter: FilterOpt = None,
    mail_attribute: MailAttributeOpt = None,
    display_name_attribute: DisplayNameOpt = None,
    page_size: PageSizeOpt = None,
    csv: CsvOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a directory service."""
    raw = _fields(
        name=name,
        type=type,
        secret_id=secret,
        server_name=server_name,
        port=port,
        security=security,
        tls_trusted_ca_file=tls_trusted_ca_file,
        timeout=timeout,
        base_dn=base_dn,
        filter=filter,
        mail_attribute=mail_attribute,
        display_name_attribute=display_name_attribute,
        page_size=page_size,
        csv=csv,
    )
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        data = directories.directory_to_dict(session, directories.create_directory(session, t.id, raw))
    _print(data, as_json, "Created")


@app.command("edit")
def edit(
    key: str,
    tenant: TenantOpt = None,
    name: Annotated[str | None, Opt(help="A new name.")] = None,
    secret: SecretOpt = None,
    server_name: ServerOpt = None,
    port: PortOpt = None,
    security: SecurityOpt = None,
    tls_trusted_ca_file: TrustedCaOpt = None,
    timeout: TimeoutOpt = None,
    base_dn: BaseDnOpt = None,
    filter: FilterOpt = None,
    mail_attribute: MailAttributeOpt = None,
    display_name_attribute: DisplayNameOpt = None,
    page_size: PageSizeOpt = None,
    csv: Annotated[str | None, Opt("--csv", help="Static: a CSV file that replaces the whole list.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a directory service's fields (by name or ID); the others stay as they are. Give '' to clear one."""
    changes = _fields(
        name=name,
        secret_id=secret,
        server_name=server_name,
        port=port,
        security=security,
        tls_trusted_ca_file=tls_trusted_ca_file,
        timeout=timeout,
        base_dn=base_dn,
        filter=filter,
        mail_attribute=mail_attribute,
        display_name_attribute=display_name_attribute,
        page_size=page_size,
        csv=csv,
    )
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        data = directories.directory_to_dict(session, directories.update_directory(session, t.id, key, changes))
    _print(data, as_json, "Updated")


def _list(query: str | None, tenant: str | None, as_json: bool) -> None:
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        rows = [directories.directory_to_dict(session, d) for d in directories.search_directories(session, t.id, query)]
    if as_json:
        print_json(rows)
    else:
        print_table(rows, COLUMNS, empty="No directory services match." if query else "No directory services yet.")


@app.command("list")
def list_(tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """List directory services."""
    _list(None, tenant, as_json)


@app.command("search")
def search(query: str, tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """Search directory services: name contains QUERY, or ID equals QUERY (both case-insensitive)."""
    _list(query, tenant, as_json)


@app.command("show")
def show(key: str, tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """Show one directory service, by name or ID."""
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        data = directories.directory_to_dict(session, directories.get_directory(session, t.id, key))
    print_json(data) if as_json else print_record(data)


@app.command("delete")
def delete(key: str, tenant: TenantOpt = None) -> None:
    """Delete a directory service; refused while a profile or schedule uses it."""
    with transaction() as (runtime, session):
        directories.delete_directory(session, pick_tenant(session, runtime, tenant).id, key)
    console.print(f"Deleted directory service {key!r}", highlight=False)


@app.command("mailboxes")
def mailboxes(key: str, tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """Read the directory now and list its mailboxes (normalised, without duplicates)."""
    with opened() as runtime:
        with runtime.transaction() as session:
            tenant_id = pick_tenant(session, runtime, tenant).id
        listing = directories.list_mailboxes(runtime, tenant_id, key)
    if as_json:
        print_json(listing.to_dict())
        return
    rows = [m.to_dict() for m in listing.mailboxes]
    print_table(rows, [("address", "Address"), ("display_name", "Display name")], empty="No mailboxes listed.")
    console.print(
        f"{len(listing.mailboxes)} mailboxes ({listing.read} entries read, {listing.duplicates} duplicates "
        f"dropped, {len(listing.invalid)} left out)",
        highlight=False,
    )
    for line in listing.invalid:
        err_console.print(f"left out: {line}", highlight=False, markup=False, soft_wrap=True)


@app.command("test")
def connection_test(key: str, tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """Test a directory service step by step (connection, TLS, bind, search); exit code 1 if a step failed."""
    with opened() as runtime:
        with runtime.transaction() as session:
            tenant_id = pick_tenant(session, runtime, tenant).id
        result = directories.check_directory(runtime, tenant_id, key)
    if as_json:
        print_json(result.to_dict())
    else:
        console.print(result.as_text(), end="", markup=False, highlight=False)
    if not result.ok:
        raise typer.Exit(1)


@app.command("sync")
def sync(key: str, tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """Synchronize users now: read the directory and create the archive mailboxes of new users
    (a directory-sync process; exit code 1 if it failed)."""
    with opened() as runtime:
        with runtime.transaction() as session:
            tenant_id = pick_tenant(session, runtime, tenant).id
        result = directories.synchronize_users(runtime, tenant_id, key)
    if as_json:
        print_json(result.to_dict())
    elif result.status is ProcessStatus.FAILED:
        err_console.print(
            f"Request ID {result.request_id}: failed: {result.error}", highlight=False, markup=False, soft_wrap=True
        )
    else:
        console.print(
            f"Request ID {result.request_id}: {result.status.value}: {result.mailboxes} mailboxes "
            f"({result.created} new archive mailboxes), {result.read} entries read, "
            f"{result.duplicates} duplicates dropped, {result.invalid} left out",
            highlight=False,
        )
    if result.status is ProcessStatus.FAILED:
        raise typer.Exit(1)
