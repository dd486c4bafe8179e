"""``postroom location``: the project folders messages are filed to."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from postroom.cli.common import (
    JsonOpt,
    TenantOpt,
    console,
    pick_tenant,
    print_json,
    print_record,
    print_table,
    transaction,
)
from postroom.services import locations

app = typer.Typer(help="Locations: project folders that messages are filed to.", no_args_is_help=True)

Opt = typer.Option
COLUMNS = [
    ("name", "Name"),
    ("sync_path", "Sync path"),
    ("format", "Format"),
    ("naming_template", "Naming template"),
    ("enabled", "Enabled"),
    ("id", "ID"),
]

SYNC_PATH_HELP = (
    r"The folder: /srv/projects/… (POSIX), \\server\share\… (UNC), C:\… (a drive), or a URL "
    "smb://, sftp://, webdav://, webdavs://, s3://, file://."
)
SyncPathOpt = Annotated[str | None, Opt(help=SYNC_PATH_HELP)]
FormatOpt = Annotated[str | None, Opt("--format", help="eml or msg (default msg).")]
TemplateOpt = Annotated[str | None, Opt(help="File name template (default '{date} {subject}').")]


def _print(data: dict[str, Any], as_json: bool, verb: str) -> None:
    print_json(data) if as_json else console.print(f"{verb} location {data['name']!r} ({data['id']})", highlight=False)


@app.command("create")
def create(
    name: str,
    sync_path: Annotated[str, Opt(help=SYNC_PATH_HELP)],
    tenant: TenantOpt = None,
    format: FormatOpt = None,
    naming_template: TemplateOpt = None,
    disabled: Annotated[bool, Opt("--disabled", help="Create it disabled: nothing is filed to it.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a location."""
    raw = {
        "name": name,
        "sync_path": sync_path,
        "format": format,
        "naming_template": naming_template,
        "enabled": not disabled,
    }
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        data = locations.location_to_dict(locations.create_location(session, t.id, raw))
    _print(data, as_json, "Created")


@app.command("edit")
def edit(
    key: str,
    tenant: TenantOpt = None,
    name: Annotated[str | None, Opt(help="A new name.")] = None,
    sync_path: SyncPathOpt = None,
    format: FormatOpt = None,
    naming_template: TemplateOpt = None,
    enabled: Annotated[bool | None, Opt("--enabled/--disabled", help="Enable or disable it.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a location's fields (by name or ID); the others stay as they are."""
    changes = {
        "name": name,
        "sync_path": sync_path,
        "format": format,
        "naming_template": naming_template,
        "enabled": enabled,
    }
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        data = locations.location_to_dict(locations.update_location(session, t.id, key, changes))
    _print(data, as_json, "Updated")


def _list(query: str | None, tenant: str | None, as_json: bool) -> None:
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        rows = [locations.location_to_dict(x) for x in locations.search_locations(session, t.id, query)]
    if as_json:
        print_json(rows)
    else:
        print_table(rows, COLUMNS, empty="No locations match." if query else "No locations yet.")


@app.command("list")
def list_(tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """List locations."""
    _list(None, tenant, as_json)


@app.command("search")
def search(query: str, tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """Search locations: name contains QUERY, or ID equals QUERY (both case-insensitive)."""
    _list(query, tenant, as_json)


@app.command("show")
def show(key: str, tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """Show one location, by name or ID."""
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        data = locations.location_to_dict(locations.get_location(session, t.id, key))
    print_json(data) if as_json else print_record(data)


@app.command("delete")
def delete(key: str, tenant: TenantOpt = None) -> None:
    """Delete a location."""
    with transaction() as (runtime, session):
        locations.delete_location(session, pick_tenant(session, runtime, tenant).id, key)
    console.print(f"Deleted location {key!r}", highlight=False)
