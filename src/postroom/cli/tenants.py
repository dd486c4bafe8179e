"""``postroom tenant``, ``postroom user`` and ``postroom token``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from postroom.cli.common import (
    ADMIN,
    JsonOpt,
    TenantOpt,
    console,
    pick_tenant,
    print_json,
    print_table,
    transaction,
)
from postroom.security.passwords import generate_password
from postroom.services import tenants, users

tenant_app = typer.Typer(help="Tenants: the organisations this installation serves.", no_args_is_help=True)
user_app = typer.Typer(help="Users and their role in a tenant.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for the REST API.", no_args_is_help=True)

TENANT_COLUMNS = [("name", "Name"), ("display_name", "Display name"), ("id", "ID"), ("created_at", "Created")]


@tenant_app.command("create")
def tenant_create(
    name: Annotated[str, typer.Argument(help="Short name used in URLs: a-z, 0-9 and '-'.")],
    display_name: Annotated[str | None, typer.Option(help="Name shown to people.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a tenant."""
    with transaction() as (_runtime, session):
        data = tenants.tenant_to_dict(tenants.create_tenant(session, ADMIN, name, display_name))
    print_json(data) if as_json else console.print(f"Created tenant {data['name']} ({data['id']})", highlight=False)


@tenant_app.command("list")
def tenant_list(as_json: JsonOpt = False) -> None:
    """List tenants."""
    with transaction() as (_runtime, session):
        rows = [tenants.tenant_to_dict(t) for t in tenants.list_tenants(session, ADMIN)]
    print_json(rows) if as_json else print_table(rows, TENANT_COLUMNS, empty="No tenants yet.")


def _read_password(password_stdin: bool) -> tuple[str, bool]:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    return generate_password(), True


@user_app.command("create")
def user_create(
    email: str,
    tenant: TenantOpt = None,
    role: Annotated[str, typer.Option(help="admin (manages the tenant) or user.")] = "user",
    display_name: Annotated[str, typer.Option(help="Name shown to people.")] = "",
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from standard input (else one is generated)."),
    ] = False,
    superadmin: Annotated[bool, typer.Option(help="Administrator of every tenant.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a user with a role in a tenant."""
    password, generated = _read_password(password_stdin)
    with transaction() as (runtime, session):
        the_tenant = pick_tenant(session, runtime, tenant)
        user = users.create_user(session, email, password, display_name=display_name, superadmin=superadmin)
        users.set_membership(session, user, the_tenant, users.parse_role(role))
        session.refresh(user)
        data = users.user_to_dict(session, user)
    if as_json:
        print_json({**data, "password": password} if generated else data)
        return
    console.print(f"Created user {data['email']} ({role} in {the_tenant.name})", highlight=False)
    if generated:
        console.print(f"Password (shown only now): {password}", highlight=False)


@user_app.command("list")
def user_list(tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """List the users of a tenant."""
    with transaction() as (runtime, session):
        rows = [
            users.user_to_dict(session, u) for u in users.list_users(session, pick_tenant(session, runtime, tenant))
        ]
    columns = [
        ("email", "E-mail"),
        ("display_name", "Name"),
        ("roles", "Roles"),
        ("superadmin", "Superadmin"),
    ]
    print_json(rows) if as_json else print_table(rows, columns, empty="No users in this tenant.")


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Option(help="E-mail of the user the token acts as.")],
    name: Annotated[str, typer.Option(help="What the token is for, e.g. 'backup script'.")],
    expires_in_days: Annotated[int | None, typer.Option(help="Days until it stops working (default: never).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API token. Its value is shown once; only a hash is stored."""
    with transaction() as (_runtime, session):
        token, plaintext = users.create_token(
            session, users.get_user(session, user), name, expires_in_days=expires_in_days
        )
        data = {**users.token_to_dict(token), "token": plaintext}
    if as_json:
        print_json(data)
    else:
        console.print(f"API token {data['name']!r} (id {data['id']}), shown only now:", highlight=False)
        typer.echo(plaintext)


@token_app.command("list")
def token_list(user: Annotated[str, typer.Option(help="E-mail of the user.")], as_json: JsonOpt = False) -> None:
    """List a user's API tokens (never their values)."""
    with transaction() as (_runtime, session):
        rows = [users.token_to_dict(t) for t in users.list_tokens(session, users.get_user(session, user))]
    columns = [
        ("id", "ID"),
        ("name", "Name"),
        ("created_at", "Created"),
        ("last_used_at", "Last used"),
        ("expires_at", "Expires"),
        ("revoked", "Revoked"),
    ]
    print_json(rows) if as_json else print_table(rows, columns, empty="No API tokens.")


@token_app.command("revoke")
def token_revoke(token_id: str) -> None:
    """Revoke an API token by its ID."""
    with transaction() as (_runtime, session):
        token = users.revoke_token(session, ADMIN, token_id)
    console.print(f"Revoked API token {token.name!r} ({token.id})", highlight=False)
