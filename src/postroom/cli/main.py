"""The ``postroom`` command: one typer app, one sub-app per command group.

Every Postroom error ends the command with one clear line on stderr and exit code 1.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from postroom import __version__
from postroom.cli.lazy import LazyGroup


class Commands(LazyGroup):
    """Every command of ``postroom``, imported when it runs (or is listed by ``--help``)."""

    lazy = {
        "init": ("postroom.cli.server", "init"),
        "serve": ("postroom.cli.server", "serve"),
        "worker": ("postroom.cli.worker", "worker"),
        "db": ("postroom.cli.db", "app"),
        "tenant": ("postroom.cli.tenants", "tenant_app"),
        "user": ("postroom.cli.tenants", "user_app"),
        "token": ("postroom.cli.tenants", "token_app"),
        "secret": ("postroom.cli.secrets", "app"),
        "profile": ("postroom.cli.profiles", "app"),
        "schedule": ("postroom.cli.profiles", "schedule_app"),
        "directory": ("postroom.cli.directories", "app"),
        "location": ("postroom.cli.locations", "app"),
        "file": ("postroom.cli.filings", "file"),
        "filing": ("postroom.cli.filings", "app"),
        "rule": ("postroom.cli.filing_rules", "app"),
        "process": ("postroom.cli.processes", "app"),
        "sync": ("postroom.cli.sync", "sync"),
        "archive": ("postroom.cli.archive", "app"),
        "convert": ("postroom.cli.convert", "convert"),
        "connector": ("postroom.cli.connectors", "app"),
    }


app = typer.Typer(
    cls=Commands,
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


def run() -> None:
    """Console-script entry point."""
    from postroom.errors import PostroomError

    try:
        app()
    except PostroomError as exc:
        from postroom.cli.common import err_console

        # Driver messages (psycopg's "connection failed") can span lines; keep the promised one line.
        message = "  ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        err_console.print(f"error: {message}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(1)
