"""``postroom init`` and ``postroom serve``."""

from __future__ import annotations

import signal
from typing import Annotated

import typer
from sqlalchemy import select

from postroom.cli.common import ADMIN, console, transaction
from postroom.db.models import Tenant
from postroom.runtime import Runtime
from postroom.services.tenants import clean_tenant_name, create_tenant
from postroom.services.users import FirstAdmin, ensure_first_admin


def _first_admin(runtime: Runtime) -> FirstAdmin | None:
    with runtime.transaction() as session:
        return ensure_first_admin(session, runtime.settings.admin_email, runtime.settings.admin_password)


def _announce(first: FirstAdmin | None) -> None:
    if first is None:
        return
    console.print(f"Created the first administrator: [bold]{first.user.email}[/bold]", highlight=False)
    if first.generated_password:
        console.print(
            f"Password (shown only now, write it down): [bold]{first.generated_password}[/bold]",
            highlight=False,
        )


def init(
    tenant: Annotated[
        str, typer.Option("--tenant", help="Create this tenant too, unless it exists (empty: none).")
    ] = "default",
) -> None:
    """Prepare the data directory, database and secret key, and create the first administrator."""
    with transaction(upgrade=True) as (runtime, session):
        settings = runtime.settings
        if tenant:
            name = clean_tenant_name(tenant)
            if session.scalar(select(Tenant).where(Tenant.name == name)) is None:
                create_tenant(session, ADMIN, name)
                console.print(f"Created tenant [bold]{name}[/bold]", highlight=False)
    _announce(_first_admin(runtime))
    key_source = "POSTROOM_SECRET_KEY" if settings.secret_key else str(settings.secret_key_file)
    console.print(f"Data directory: {settings.data_dir}", highlight=False)
    console.print(f"Database: {runtime.engine.url.render_as_string(hide_password=True)}", highlight=False)
    console.print(f"Secret key: {key_source}", highlight=False)


def _exit_quietly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default POSTROOM_HOST, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default POSTROOM_PORT, 8025).")] = None,
) -> None:
    """Upgrade the database if needed; serve the REST API, run due schedules and queued runs."""
    import uvicorn

    from postroom.cli.common import opened
    from postroom.jobs.background import Background
    from postroom.web.app import create_app

    with opened(upgrade=True) as runtime:
        _announce(_first_admin(runtime))
        settings = runtime.settings
        host = host or settings.host
        port = settings.port if port is None else port
        shown = f"[{host}]" if ":" in host else host
        console.print(f"Postroom is at http://{shown}:{port}/  (API docs: http://{shown}:{port}/api/docs)")
        console.print(
            f"Sign in as {settings.admin_email}; get an API token with `postroom token create --user "
            f"{settings.admin_email} --name cli` or POST /api/v1/auth/token.",
            highlight=False,
        )
        background = Background(runtime)  # the scheduler and POSTROOM_WORKERS worker threads
        background.start()
        # uvicorn handles SIGTERM itself, then raises it again once it has stopped: end as SystemExit
        # then, so the workers below get their grace period instead of dying with the process.
        signal.signal(signal.SIGTERM, _exit_quietly)
        try:
            uvicorn.run(create_app(runtime), host=host, port=port, log_level=settings.log_level)
        finally:  # uvicorn returns on SIGTERM / SIGINT
            background.stop()


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("serve")(serve)
