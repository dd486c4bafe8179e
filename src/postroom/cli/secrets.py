"""``postroom secret``: credentials, stored encrypted and never printed."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
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
from postroom.domain.secret import SecretKind
from postroom.errors import FieldError, InvalidInput
from postroom.security.keyring import generate_key
from postroom.services import secrets

app = typer.Typer(help="Secrets: credentials that profiles refer to (encrypted at rest).", no_args_is_help=True)

KindOpt = Annotated[str, typer.Option("--kind", help="basic, certificate, oauth or google-service-account.")]
UsernameOpt = Annotated[str | None, typer.Option(help="basic: the user name.")]
FileOpt = Annotated[
    Path | None,
    typer.Option(
        "--file",
        help="certificate: a PEM (certificate + key) or PFX/P12 file; oauth: a JSON token set; "
        "google-service-account: the key JSON file.",
    ),
]
PasswordStdinOpt = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password (basic) or the key/PFX password (certificate) from standard input.",
    ),
]
COLUMNS = [
    ("name", "Name"),
    ("kind", "Kind"),
    ("summary", "Summary"),
    ("expires_at", "Expires"),
    ("id", "ID"),
]


def _password(password_stdin: bool, *, required: bool) -> str | None:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if required and sys.stdin.isatty():
        return str(typer.prompt("Password", hide_input=True))
    return None


def _read(path: Path, field: str = "file") -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(FieldError(field, f"cannot read {path}: {exc.strerror}")) from exc


def _json_file(path: Path) -> Any:
    try:
        return json.loads(_read(path))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(FieldError("file", f"{path} is not valid JSON: {exc}")) from exc


def gather_values(kind: str, username: str | None, file: Path | None, password_stdin: bool) -> dict[str, object]:
    """Turn command-line options into the values of a secret of ``kind``."""
    try:
        the_kind = SecretKind(kind.strip().lower())
    except ValueError:
        names = ", ".join(k.value for k in SecretKind)
        raise InvalidInput(FieldError("kind", f"must be one of: {names}")) from None
    if the_kind is SecretKind.BASIC:
        return {"username": username or "", "password": _password(password_stdin, required=True) or ""}
    if file is None:
        raise InvalidInput(FieldError("file", f"--file is required for a secret of kind {the_kind.value}"))
    if the_kind is SecretKind.CERTIFICATE:
        content = _read(file)
        values: dict[str, object] = (
            {"pem": content.decode("utf-8", "replace")}
            if b"-----BEGIN" in content
            else {"pfx": base64.b64encode(content).decode("ascii")}
        )
        password = _password(password_stdin, required=False)
        if password:
            values["password"] = password
        return values
    data = _json_file(file)
    if the_kind is SecretKind.GOOGLE_SERVICE_ACCOUNT:
        return {"json": data}
    if not isinstance(data, dict):
        raise InvalidInput(FieldError("file", f"{file} must hold a JSON object of token fields"))
    return data


@app.command("create")
def create(
    name: str,
    kind: KindOpt,
    tenant: TenantOpt = None,
    username: UsernameOpt = None,
    file: FileOpt = None,
    password_stdin: PasswordStdinOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Store a new secret."""
    values = gather_values(kind, username, file, password_stdin)
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        data = secrets.secret_to_dict(secrets.create_secret(session, runtime.secret_box, t.id, name, kind, values))
    print_json(data) if as_json else console.print(f"Stored secret {data['name']!r} ({data['id']})", highlight=False)


@app.command("list")
def list_(
    tenant: TenantOpt = None,
    search: Annotated[str | None, typer.Option(help="Name contains / ID equals.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List secrets (never their values)."""
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        rows = [secrets.secret_to_dict(s) for s in secrets.list_secrets(session, t.id, search)]
    print_json(rows) if as_json else print_table(rows, COLUMNS, empty="No secrets.")


@app.command("show")
def show(key: str, tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """Show a secret's summary, by name or ID."""
    with transaction() as (runtime, session):
        data = secrets.secret_to_dict(secrets.get_secret(session, pick_tenant(session, runtime, tenant).id, key))
    print_json(data) if as_json else print_record(data)


@app.command("update")
def update(
    key: str,
    tenant: TenantOpt = None,
    rename: Annotated[str | None, typer.Option(help="A new name.")] = None,
    username: UsernameOpt = None,
    file: FileOpt = None,
    password_stdin: PasswordStdinOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Rename a secret and/or replace its values (give all values of its kind again)."""
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        secret = secrets.get_secret(session, t.id, key)
        new_values = username is not None or file is not None or password_stdin
        values = gather_values(secret.kind, username, file, password_stdin) if new_values else None
        secret = secrets.update_secret(session, runtime.secret_box, t.id, key, name=rename, values=values)
        data = secrets.secret_to_dict(secret)
    print_json(data) if as_json else console.print(f"Updated secret {data['name']!r}", highlight=False)


@app.command("delete")
def delete(key: str, tenant: TenantOpt = None) -> None:
    """Delete a secret that no profile or directory service uses."""
    with transaction() as (runtime, session):
        secrets.delete_secret(session, pick_tenant(session, runtime, tenant).id, key)
    console.print(f"Deleted secret {key!r}", highlight=False)


@app.command("generate-key")
def generate_key_command() -> None:
    """Print a new encryption key for POSTROOM_SECRET_KEY (multi-machine setups)."""
    typer.echo(generate_key())
