"""``postroom sync``: run a folder-synchronization profile now, with progress."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from postroom.cli.common import JsonOpt, TenantOpt, console, opened, pick_tenant, print_json, real_console
from postroom.domain.process import ProcessStatus
from postroom.services.sync import ProgressCallback, execute_run, prepare_run
from postroom.sync.engine import MailboxReport


def sync(
    profile: Annotated[str, typer.Argument(help="Name or ID of the profile.")],
    tenant: TenantOpt = None,
    dry_run_delete: Annotated[
        bool,
        typer.Option("--dry-run-delete", help="Archive as usual, but only list what the delete policy would delete."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Synchronize a profile's mailbox into the archive now (exit code 1 if the run failed)."""
    with opened() as runtime:
        with runtime.transaction() as session:
            tenant_id = pick_tenant(session, runtime, tenant).id
        prepared = prepare_run(runtime, tenant_id, profile, dry_run_delete=dry_run_delete)
        if not as_json:
            console.print(f"Request ID {prepared.request_id}", highlight=False)
        started = time.monotonic()
        with _progress_bars(shown=not as_json) as on_progress:
            result = execute_run(runtime, prepared, on_progress)
    elapsed = time.monotonic() - started
    summary: dict[str, Any] = {
        "request_id": result.request_id,
        "status": result.status.value,
        "seconds": round(elapsed, 2),
    }
    if len(result.mailboxes) == 1:  # a single mailbox: its counts at the top, as scripts read them
        address, report = next(iter(result.mailboxes.items()))
        summary["mailbox"] = address
        summary.update(_mailbox_summary(report))
    else:
        totals: dict[str, int] = {}
        for report in result.mailboxes.values():
            for name, value in vars(report.total()).items():
                totals[name] = totals.get(name, 0) + value
        summary["counts"] = totals
        summary["mailboxes"] = {address: _mailbox_summary(report) for address, report in result.mailboxes.items()}
    summary["failed_mailboxes"] = result.failed_mailboxes
    if as_json:
        print_json(summary)
    else:
        for address, report in result.mailboxes.items():
            total = report.total()
            rate = total.new / elapsed if elapsed else 0
            console.print(f"{address}: {total.summary()} in {elapsed:.1f} s ({rate:.0f} messages/s)", highlight=False)
            for line in report.would_delete:
                console.print(f"  would delete {line}", highlight=False, markup=False)
        console.print(f"{result.status.value} — details: postroom process show {result.request_id}", highlight=False)
    if result.status is ProcessStatus.FAILED:
        raise typer.Exit(1)


@contextlib.contextmanager
def _progress_bars(*, shown: bool) -> Iterator[ProgressCallback | None]:
    """A progress bar per folder; with --json none, and rich.progress is not even imported (start-up
    time is most of a sync that finds nothing new)."""
    if not shown:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    tasks: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[mb]:.1f} MB"),
        TimeElapsedColumn(),
        console=real_console(console),
        transient=False,
    ) as progress:

        def on_progress(folder: str, done: int, total: int, nbytes: int) -> None:
            if folder not in tasks:
                tasks[folder] = progress.add_task(folder, total=total, mb=0.0)
            progress.update(tasks[folder], completed=done, total=total, mb=nbytes / 1e6)

        yield on_progress


def _mailbox_summary(report: MailboxReport) -> dict[str, Any]:
    return {
        "counts": vars(report.total()),
        "folders": {path: vars(counts) for path, counts in report.folders.items()},
        "renamed": report.renamed,
        "deleted_folders": report.deleted_folders,
        "would_delete": report.would_delete,
    }
