"""``postroom file`` and ``postroom filing``: archived messages filed to locations."""

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
from postroom.domain.filing import FilingSource
from postroom.services import filings

app = typer.Typer(help="Filings: archived messages filed to locations.", no_args_is_help=True)

Opt = typer.Option
FILED_BY = "local admin"
COLUMNS = [
    ("filed_at", "Filed"),
    ("location", "Location"),
    ("message_id", "Message"),
    ("status", "Status"),
    ("filed_by", "Filed by"),
    ("id", "ID"),
]


def file(
    message_ids: Annotated[list[int], typer.Argument(help="Message IDs from `postroom archive messages`.")],
    to: Annotated[str, Opt("--to", help="The location, by name or ID.")],
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """File archived messages to a location; a message already filed there stays as it is."""
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        result = filings.file_messages(session, t.id, to, message_ids, source=FilingSource.CLI, filed_by=FILED_BY)
        data = {
            "created": [filings.filing_to_dict(session, f) for f in result.created],
            "already": [filings.filing_to_dict(session, f) for f in result.already],
        }
    if as_json:
        print_json(data)
    else:
        console.print(f"filed {len(data['created'])}, already filed {len(data['already'])}", highlight=False)


@app.command("list")
def list_(
    tenant: TenantOpt = None,
    location: Annotated[str | None, Opt(help="Only this location's filings (name or ID).")] = None,
    status: Annotated[
        str | None, Opt(help="Only filings in this status: pending, written, present, skipped, failed.")
    ] = None,
    limit: Annotated[int, Opt(help="At most this many, newest first.")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """List filings, newest first."""
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        found = filings.list_filings(session, t.id, location=location, status=status, limit=limit)
        rows: list[dict[str, Any]] = [filings.filing_to_dict(session, f) for f in found]
    print_json(rows) if as_json else print_table(rows, COLUMNS, empty="No filings.")


@app.command("show")
def show(filing_id: str, tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """Show one filing and its delivery state."""
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        data = filings.filing_to_dict(session, filings.get_filing(session, t.id, filing_id))
    print_json(data) if as_json else print_record(data)


@app.command("delete")
def delete(filing_id: str, tenant: TenantOpt = None) -> None:
    """Take back a pending filing (one already written to the folder stays)."""
    with transaction() as (runtime, session):
        filings.unfile(session, pick_tenant(session, runtime, tenant).id, filing_id)
    console.print(f"Deleted filing {filing_id!r}", highlight=False)
