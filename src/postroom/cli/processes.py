"""``postroom process``: the process log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from postroom.cli.common import JsonOpt, TenantOpt, console, pick_tenant, print_json, print_table, transaction
from postroom.domain.process import ProcessStatus, ProcessType, Severity
from postroom.errors import FieldError, InvalidInput
from postroom.services import processes

app = typer.Typer(help="The process log: every run, its status and messages.", no_args_is_help=True)
COLUMNS = [
    ("request_id", "Request ID"),
    ("type", "Type"),
    ("status", "Status"),
    ("max_severity", "Severity"),
    ("configuration_name", "Configuration"),
    ("started_at", "Started"),
    ("finished_at", "Finished"),
]


def _time(value: str | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(FieldError(field, "must be an ISO 8601 time with zone, e.g. 2026-11-22T10:00:00Z")) from None
    if parsed.tzinfo is None:
        raise InvalidInput(FieldError(field, "needs a time zone, e.g. 2026-11-22T10:00:00Z"))
    return parsed


def _status(value: str | None) -> ProcessStatus | None:
    if value is None:
        return None
    try:
        return ProcessStatus(value.strip().lower())
    except ValueError:
        raise InvalidInput(
            FieldError("status", f"must be one of {', '.join(s.value for s in ProcessStatus)}")
        ) from None


@app.command("list")
def list_(
    tenant: TenantOpt = None,
    type: Annotated[str | None, typer.Option("--type", help="folder-sync, directory-sync, connection-test, …")] = None,
    request_id: Annotated[str | None, typer.Option(help="Exactly this request ID.")] = None,
    min_severity: Annotated[str | None, typer.Option(help="debug, info, warning or error.")] = None,
    status: Annotated[str | None, typer.Option(help="queued, running, succeeded, failed, cancelled, skipped.")] = None,
    since: Annotated[str | None, typer.Option(help="ISO 8601 time with zone.")] = None,
    until: Annotated[str | None, typer.Option(help="ISO 8601 time with zone.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include sub-processes.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many (1-1000).")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """List processes, newest first."""
    flt = processes.ProcessFilter(
        type=ProcessType.parse(type) if type else None,
        request_id=request_id,
        min_severity=Severity.parse(min_severity, "min_severity") if min_severity else None,
        status=_status(status),
        since=_time(since, "since"),
        until=_time(until, "until"),
        include_subprocesses=all_,
        limit=limit,
    )
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        rows = [processes.process_to_dict(session, p) for p in processes.list_processes(session, t.id, flt)]
    print_json(rows) if as_json else print_table(rows, COLUMNS, empty="No processes match.")


def _print_details(data: dict[str, Any], depth: int = 0) -> None:
    pad = "  " * depth
    console.print(
        f"{pad}[bold]{data['request_id']}[/bold] {data['type']} {data['status']} "
        f"(max severity {data['max_severity']}) {data['configuration_name'] or ''}",
        highlight=False,
    )
    console.print(f"{pad}  started {data['started_at'] or '-'}  finished {data['finished_at'] or '-'}", highlight=False)
    for message in data["messages"]:
        console.print(
            f"{pad}  {message['time']} {message['severity']:<7} {message['text']}",
            highlight=False,
            markup=False,
        )
    for child in data["subprocesses"]:
        _print_details(child, depth + 1)


@app.command("show")
def show(key: str, tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """Show a process (by ID or request ID) with its messages and sub-processes."""
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        data = processes.process_to_dict(session, processes.get_process(session, t.id, key), details=True)
    print_json(data) if as_json else _print_details(data)


@app.command("cancel")
def cancel(key: str, tenant: TenantOpt = None) -> None:
    """Ask a running process to stop."""
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        process = processes.request_cancel(session, t.id, key)
    console.print(f"Cancellation requested for {process.request_id}", highlight=False)
