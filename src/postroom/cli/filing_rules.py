"""``postroom rule``: filing rules that file matching archived mail to a location."""

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
from postroom.services import filing_rules

app = typer.Typer(help="Filing rules: file matching archived mail to a location.", no_args_is_help=True)

Opt = typer.Option
COLUMNS = [
    ("name", "Name"),
    ("location", "Location"),
    ("conditions", "Conditions"),
    ("enabled", "Enabled"),
    ("id", "ID"),
]


def _row(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "conditions": ", ".join(f"{k}={v}" for k, v in data["conditions"].items())}


@app.command("create")
def create(
    name: str,
    to: Annotated[str, Opt("--to", help="The location it files to, by name or ID.")],
    tenant: TenantOpt = None,
    folder: Annotated[str | None, Opt(help="Archive folder path (ignoring case); end with /* for its subtree.")] = None,
    sender: Annotated[str | None, Opt(help="From address, or @domain.")] = None,
    recipient: Annotated[str | None, Opt(help="A To or Cc address, or @domain.")] = None,
    subject: Annotated[str | None, Opt(help="A regular expression found in the subject (ignoring case).")] = None,
    project_code: Annotated[
        str | None, Opt(help=r"A regular expression with one group, found in the subject: \b(P-\d{3,5})\b.")
    ] = None,
    disabled: Annotated[bool, Opt("--disabled", help="Create it disabled: it files nothing.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a filing rule; every condition given must match."""
    conditions = {
        "folder": folder,
        "sender": sender,
        "recipient": recipient,
        "subject": subject,
        "project_code": project_code,
    }
    raw = {
        "name": name,
        "location": to,
        "enabled": not disabled,
        "conditions": {k: v for k, v in conditions.items() if v is not None},
    }
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        rule = filing_rules.create_rule(session, t.id, raw)
        data = filing_rules.rule_to_dict(session, rule)
    if as_json:
        print_json(data)
    else:
        console.print(f"Created filing rule {data['name']!r} ({data['id']})", highlight=False)


@app.command("list")
def list_(tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """List filing rules."""
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        rows = [filing_rules.rule_to_dict(session, r) for r in filing_rules.list_rules(session, t.id)]
    print_json(rows) if as_json else print_table([_row(r) for r in rows], COLUMNS, empty="No filing rules yet.")


@app.command("show")
def show(key: str, tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """Show one filing rule, by name or ID."""
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        data = filing_rules.rule_to_dict(session, filing_rules.get_rule(session, t.id, key))
    print_json(data) if as_json else print_record(_row(data))


@app.command("delete")
def delete(key: str, tenant: TenantOpt = None) -> None:
    """Delete a filing rule (what it filed stays filed)."""
    with transaction() as (runtime, session):
        filing_rules.delete_rule(session, pick_tenant(session, runtime, tenant).id, key)
    console.print(f"Deleted filing rule {key!r}", highlight=False)


@app.command("apply")
def apply(
    key: Annotated[str | None, typer.Argument(help="One rule, by name or ID (default: every enabled rule).")] = None,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Apply filing rules to all archived mail of the tenant; messages already filed stay as they are."""
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        data = filing_rules.apply_rules(session, t.id, rule_key=key).to_dict()
    if as_json:
        print_json(data)
    else:
        console.print(f"filing rules: {data['filed']} messages filed ({data['messages']} looked at)", highlight=False)
