"""``postroom db``: the database schema."""

from __future__ import annotations

import typer
from sqlalchemy.exc import OperationalError

from postroom.cli.common import opened
from postroom.db import migrate
from postroom.errors import ConfigurationError

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Bring the database schema up to date (safe to run any time)."""
    with opened(upgrade=True) as runtime:
        typer.echo(f"database schema at revision {migrate.current_revision(runtime.engine)} (latest)")


@app.command("current")
def current() -> None:
    """Show the schema revision of the database and the latest one this version knows."""
    from postroom.config import load_settings
    from postroom.db.engine import make_engine

    engine = make_engine(load_settings().resolved_database_url)
    try:
        have, head = migrate.current_revision(engine), migrate.head_revision(engine)
    except OperationalError as exc:
        raise ConfigurationError(
            f"cannot use the database at {engine.url.render_as_string(hide_password=True)}: {exc.orig}"
        ) from exc
    finally:
        engine.dispose()
    state = "up to date" if have == head else "run `postroom db upgrade`"
    typer.echo(f"current: {have or 'empty'}  latest: {head}  ({state})")
