"""The ``postroom`` command: one typer app, one sub-app per command group.

Every Postroom error ends the command with one clear line on stderr and exit code 1.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from postroom import __version__
from postroom.cli import (
    archive,
    connectors,
    convert,
    db,
    filing_rules,
    filings,
    locations,
    processes,
    profiles,
    secrets,
    server,
    sync,
    tenants,
)
from postroom.cli.common import err_console
from postroom.errors import PostroomError

app = typer.Typer(
    name="postroom",
    help="Postroom: email archive, folder synchronization and filing.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"postroom {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Settings come from POSTROOM_* environment variables and the TOML file named by POSTROOM_CONFIG."""


server.register(app)
app.add_typer(db.app, name="db")
app.add_typer(tenants.tenant_app, name="tenant")
app.add_typer(tenants.user_app, name="user")
app.add_typer(tenants.token_app, name="token")
app.add_typer(secrets.app, name="secret")
app.add_typer(profiles.app, name="profile")
app.add_typer(profiles.schedule_app, name="schedule")
app.add_typer(locations.app, name="location")
app.command("file")(filings.file)
app.add_typer(filings.app, name="filing")
app.add_typer(filing_rules.app, name="rule")
app.add_typer(processes.app, name="process")
app.command("sync")(sync.sync)
app.add_typer(archive.app, name="archive")
app.command("convert")(convert.convert)
app.add_typer(connectors.app, name="connector")


def run() -> None:
    """Console-script entry point."""
    try:
        app()
    except PostroomError as exc:
        # Driver messages (psycopg's "connection failed") can span lines; keep the promised one line.
        message = "  ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        err_console.print(f"error: {message}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(1)
