"""``postroom connector …``: licenses and status on the server; ``run`` and ``doctor`` on the connector."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from postroom.cli import connector_agent
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
from postroom.domain.connector import DEFAULT_LICENSE_NAME
from postroom.errors import ConfigurationError, FieldError, InvalidInput
from postroom.services import connectors

app = typer.Typer(
    help="The sync connector: licenses and status (server), run and doctor (connector).", no_args_is_help=True
)
license_app = typer.Typer(
    help="Connector licenses: create one per connector, revoke it when retired.", no_args_is_help=True
)
app.add_typer(license_app, name="license")
app.command("run")(connector_agent.run)
app.command("doctor")(connector_agent.doctor)

Opt = typer.Option
ROOT_HELP = (
    r"A path root SERVER=LOCAL: the sync path prefix as locations name it, and the folder this connector "
    r"reaches it at, e.g. '\\fs\projects=/mnt/projects'. Repeat for several."
)
RootOpt = Annotated[list[str] | None, Opt("--root", help=ROOT_HELP)]
COLUMNS = [
    ("name", "Name"),
    ("host", "Host"),
    ("version", "Version"),
    ("last_seen_at", "Last seen"),
    ("lease", "Lease"),
    ("backlog", "Backlog"),
    ("revoked_at", "Revoked"),
    ("key", "Key"),
]
LOCATION_COLUMNS = [
    ("name", "Location"),
    ("pending", "Pending"),
    ("written", "Written"),
    ("present", "Present"),
    ("skipped", "Skipped"),
    ("failed", "Failed"),
    ("last_error", "Last error"),
    ("last_error_at", "When"),
]


def _roots(texts: list[str]) -> list[connectors.RootText]:
    problems: list[FieldError] = []
    roots = []
    for i, text in enumerate(texts):
        try:
            roots.append(connectors.parse_root(text, f"--root {i + 1}"))
        except InvalidInput as exc:
            problems.extend(exc.errors)
    if problems:
        raise InvalidInput(problems)
    return roots


def _license_path(output: Path | None) -> Path:
    target = output if output is not None else Path.cwd()
    return target / DEFAULT_LICENSE_NAME if target.is_dir() else target


def _write_private(path: Path, text: str, overwrite: bool) -> None:
    """Write ``text`` readable by its owner only (0600), refusing to replace a file unless asked."""
    if path.exists() and not overwrite:
        raise ConfigurationError(f"{path} exists: choose another file with -o, or replace it with --overwrite")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (0 if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        raise ConfigurationError(f"cannot write the license to {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        os.fchmod(fd, 0o600)  # an existing file keeps its mode otherwise
        file.write(text)


@license_app.command("create")
def license_create(
    name: Annotated[str, Opt("--name", help="The connector's name, e.g. the machine it runs on.")],
    root: RootOpt = None,
    server_url: Annotated[
        str | None, Opt(help="The URL the connector reaches this server at (default POSTROOM_PUBLIC_URL).")
    ] = None,
    output: Annotated[
        Path | None,
        Opt("--output", "-o", help=f"The file, or a folder to write {DEFAULT_LICENSE_NAME} in (default: here)."),
    ] = None,
    overwrite: Annotated[bool, Opt("--overwrite", help="Replace the file if it exists.")] = False,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a connector and write its license file (it holds a secret: keep it private)."""
    roots = _roots(root or [])
    path = _license_path(output)
    if path.exists() and not overwrite:
        raise ConfigurationError(f"{path} exists: choose another file with -o, or replace it with --overwrite")
    with transaction() as (runtime, session):
        url = connectors.license_server_url(runtime.settings, server_url)
        t = pick_tenant(session, runtime, tenant)
        connector, text = connectors.create_connector(session, t, name, roots, "local administrator (CLI)", url)
        data = connectors.connector_to_dict(session, connector)
        _write_private(path, text, overwrite)  # inside the transaction: no connector without its file
    if as_json:
        print_json({"connector": data, "file": str(path)})
        return
    console.print(f"Created connector {data['name']!r} ({data['id']}) with license key {data['key']}", highlight=False)
    console.print(
        f"Wrote its license to {path} (mode 0600). It holds the connector's secret: copy it to the "
        "connector's machine privately, and delete other copies.",
        highlight=False,
    )


def _row(data: dict[str, Any]) -> dict[str, Any]:
    lease = data["lease"]
    backlog = data["backlog"]
    return {
        **data,
        "lease": f"token {lease['fencing_token']} until {lease['expires_at']}" if lease else "",
        "backlog": f"{backlog['pending']} pending, {backlog['retry_due']} due, {backlog['retry_waiting']} waiting",
    }


@app.command("list")
def list_(tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """List connectors with their status."""
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        rows = [connectors.connector_to_dict(session, c) for c in connectors.list_connectors(session, t.id)]
    if as_json:
        print_json(rows)
    else:
        print_table([_row(r) for r in rows], COLUMNS, empty="No connectors yet: postroom connector license create.")


@app.command("show")
def show(key: str, tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """Show a connector (by name, ID or key): its status and how each location's deliveries stand."""
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        data = connectors.connector_to_dict(session, connectors.get_connector(session, t.id, key), locations=True)
    if as_json:
        print_json(data)
        return
    location_rows = data.pop("locations")
    print_record(_row(data))
    print_table(location_rows, LOCATION_COLUMNS, empty="No locations yet.")


@app.command("revoke")
def revoke(key: str, tenant: TenantOpt = None) -> None:
    """Revoke a connector's license: it stops at its next request, and its lease ends now."""
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        connector = connectors.revoke_connector(session, t.id, key)
        name, revoked = connector.name, connector.revoked_at
    console.print(f"Revoked the license of connector {name!r} (since {revoked:%Y-%m-%d %H:%M} UTC)", highlight=False)


@app.command("edit")
def edit(
    key: str,
    tenant: TenantOpt = None,
    name: Annotated[str | None, Opt(help="A new name.")] = None,
    root: RootOpt = None,
    clear_roots: Annotated[bool, Opt("--clear-roots", help="Remove every path root.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Rename a connector or replace its path roots (--root replaces them all)."""
    if root and clear_roots:
        raise InvalidInput(FieldError("--clear-roots", "give either --root or --clear-roots, not both"))
    roots = [] if clear_roots else (_roots(root) if root else None)
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        connector = connectors.update_connector(session, t.id, key, name=name, path_roots=roots)
        data = connectors.connector_to_dict(session, connector)
    if as_json:
        print_json(data)
    else:
        console.print(f"Updated connector {data['name']!r} ({data['id']})", highlight=False)
