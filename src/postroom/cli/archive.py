"""``postroom archive``: look into the archive — mailboxes, folders, messages, original bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from postroom.archive import repository as repo
from postroom.cli.common import (
    JsonOpt,
    TenantOpt,
    opened,
    pick_tenant,
    print_json,
    print_record,
    print_table,
    transaction,
)
from postroom.cli.convert import write_output
from postroom.services.exports import ExportFormat, export_message

app = typer.Typer(help="Browse the archive: mailboxes, folders and messages.", no_args_is_help=True)


@app.command("mailboxes")
def mailboxes(tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """List the archive's mailboxes."""
    with transaction() as (runtime, session):
        rows = repo.list_mailboxes(session, pick_tenant(session, runtime, tenant).id)
    columns = [("address", "Mailbox"), ("messages", "Messages"), ("id", "ID")]
    print_json(rows) if as_json else print_table(rows, columns, empty="The archive is empty.")


@app.command("folders")
def folders(
    mailbox: Annotated[str, typer.Argument(help="Mailbox address or ID.")],
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List a mailbox's folder tree."""
    with transaction() as (runtime, session):
        box = repo.get_mailbox(session, pick_tenant(session, runtime, tenant).id, mailbox)
        rows = repo.list_folders(session, box)
    columns = [
        ("path", "Folder"),
        ("messages", "Messages"),
        ("special_use", "Use"),
        ("deleted_at_source", "Deleted at source"),
        ("id", "ID"),
    ]
    print_json(rows) if as_json else print_table(rows, columns, empty="No folders.")


@app.command("messages")
def messages(
    mailbox: Annotated[str, typer.Argument(help="Mailbox address or ID.")],
    folder: Annotated[str, typer.Argument(help="Folder path (e.g. INBOX or Projects/Surrey Court) or ID.")],
    tenant: TenantOpt = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """List the messages in a folder."""
    with transaction() as (runtime, session):
        box = repo.get_mailbox(session, pick_tenant(session, runtime, tenant).id, mailbox)
        rows = repo.list_messages(session, repo.get_folder(session, box, folder), limit=limit)
    columns = [("date", "Date"), ("from", "From"), ("subject", "Subject"), ("size", "Size"), ("id", "ID")]
    print_json(rows) if as_json else print_table(rows, columns, empty="No messages.")


@app.command("show")
def show(message_id: int, tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """Show one message's metadata."""
    with transaction() as (runtime, session):
        message = repo.get_message(session, pick_tenant(session, runtime, tenant).id, message_id)
        data = repo.message_to_dict(session, message)
    print_json(data) if as_json else print_record(data)


@app.command("export")
def export(
    message_id: int,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="File to write, or a folder to write into under the default name (default: stdout)."
        ),
    ] = None,
    format: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="eml: the original bytes; msg: Outlook .msg.")
    ] = ExportFormat.EML,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
    tenant: TenantOpt = None,
) -> None:
    """Write one message as .eml (its original bytes, exactly as archived) or as Outlook .msg."""
    with opened() as runtime:
        with runtime.sessions() as session:
            tenant_id = pick_tenant(session, runtime, tenant).id
        exported = export_message(runtime, tenant_id, message_id, format)
    write_output(exported, output, overwrite=overwrite)
