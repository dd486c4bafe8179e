"""What every command shares: opening the runtime, choosing the tenant, printing results."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from sqlalchemy.orm import Session

from postroom.config import load_settings
from postroom.db.models import Tenant
from postroom.errors import ConfigurationError, FieldError, InvalidInput
from postroom.runtime import Runtime
from postroom.services.access import Actor, tenant_for
from postroom.services.tenants import list_tenants

if TYPE_CHECKING:
    from rich.console import Console


class _OnFirstUse:
    """A rich ``Console`` made when first used: importing rich costs ~20 ms of every command's
    start, and commands that print JSON (what scripts and cron jobs run) never use it."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def real(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)


# soft_wrap: never break a path, URL or password across lines when the output is not a terminal.
console = cast("Console", _OnFirstUse(soft_wrap=True))
err_console = cast("Console", _OnFirstUse(stderr=True))


def real_console(lazy: Console) -> Console:
    """The Console itself, for rich objects that check its type (progress bars, live displays)."""
    return lazy.real() if isinstance(lazy, _OnFirstUse) else lazy


TenantOpt = Annotated[
    str | None,
    typer.Option("--tenant", "-t", help="Tenant name or ID (default: POSTROOM_TENANT, or the only tenant)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")]
ADMIN = Actor.local_admin()


@contextmanager
def opened(*, upgrade: bool = False) -> Iterator[Runtime]:
    runtime = Runtime.open(load_settings(), upgrade=upgrade)
    try:
        yield runtime
    finally:
        runtime.close()


@contextmanager
def transaction(*, upgrade: bool = False) -> Iterator[tuple[Runtime, Session]]:
    with opened(upgrade=upgrade) as runtime, runtime.transaction() as session:
        yield runtime, session


def pick_tenant(session: Session, runtime: Runtime, key: str | None) -> Tenant:
    key = key or runtime.settings.tenant
    if key:
        return tenant_for(session, ADMIN, key)
    tenants = list_tenants(session, ADMIN)
    if len(tenants) == 1:
        return tenants[0]
    if not tenants:
        raise ConfigurationError("there is no tenant yet: create one with `postroom tenant create NAME`")
    names = ", ".join(t.name for t in tenants)
    raise ConfigurationError(f"there are several tenants ({names}): choose one with --tenant or POSTROOM_TENANT")


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], *, empty: str) -> None:
    if not rows:
        console.print(empty)
        return
    from rich.table import Table

    table = Table(*(title for _key, title in columns))
    for row in rows:
        table.add_row(*("" if row.get(key) is None else str(row.get(key)) for key, _title in columns))
    console.print(table)


def print_record(data: dict[str, Any]) -> None:
    for key, value in data.items():
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value
        console.print(f"[bold]{key}[/bold]: {'' if shown is None else shown}", highlight=False)


def read_trusted_ca_file(path: str | None) -> str | None:
    """The PEM text of ``--tls-trusted-ca-file``; ``""`` stays ``""`` so that an edit clears it."""
    if path is None or not path.strip():
        return path
    try:
        content = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(
            FieldError("tls_trusted_ca", f"cannot read {path}: {exc.strerror}; give a PEM file of CA certificates")
        ) from exc
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(
            FieldError(
                "tls_trusted_ca",
                f"{path} is not PEM text (a binary DER certificate?): convert it with "
                f"`openssl x509 -inform der -in {path} -out ca.pem` and give ca.pem",
            )
        ) from None
