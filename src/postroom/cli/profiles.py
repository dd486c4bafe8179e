"""``postroom profile`` (folder-synchronization profiles) and ``postroom schedule``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from postroom.cli.common import (
    JsonOpt,
    TenantOpt,
    console,
    opened,
    pick_tenant,
    print_json,
    print_record,
    print_table,
    read_trusted_ca_file,
    transaction,
)
from postroom.errors import FieldError, InvalidInput
from postroom.services import profiles, schedules
from postroom.services.connection_test import run_connection_test

app = typer.Typer(help="Folder-synchronization profiles.", no_args_is_help=True)
schedule_app = typer.Typer(help="Schedules that run profiles.", no_args_is_help=True)

Opt = typer.Option
COLUMNS = [
    ("name", "Name"),
    ("type_label", "Type"),
    ("mode", "Mode"),
    ("delete_policy_text", "Delete in source"),
    ("schedules", "Schedules"),
    ("id", "ID"),
]


def _delete_policy(when: str | None, after: str | None) -> dict[str, object] | None:
    if when is None and after is None:
        return None
    if when is None:
        raise InvalidInput(FieldError("delete_policy.when", "give --delete-policy together with --delete-after"))
    policy: dict[str, object] = {"when": when}
    if after is not None:
        parts = after.split()
        if len(parts) != 2:
            raise InvalidInput(
                FieldError("delete_policy.amount", 'give --delete-after as a number and a unit, e.g. "3 months"')
            )
        policy["amount"], policy["unit"] = parts
    return policy


def _fields(**given: Any) -> dict[str, object]:
    """Only the options that were given; an empty string clears an optional field when editing."""
    policy = _delete_policy(given.pop("delete_policy"), given.pop("delete_after"))
    fields = {key: value for key, value in given.items() if value is not None}
    if policy is not None:
        fields["delete_policy"] = policy
    return fields


ModeOpt = Annotated[str | None, Opt(help="single or multiple (Outlook.com: single only).")]
MailboxOpt = Annotated[str | None, Opt(help="Single mode: the mailbox's primary e-mail address.")]
SourceMailboxOpt = Annotated[
    str | None, Opt(help="Microsoft 365 / Google: mailbox to read if not the credentials' user.")
]
DirectoryOpt = Annotated[str | None, Opt(help="Multiple mode: directory service name or ID.")]
SynchronizeUsersOpt = Annotated[bool | None, Opt(help="Multiple mode: run the directory sync first.")]
ServerOpt = Annotated[str | None, Opt(help="IMAP/Exchange: host name, without protocol or port.")]
PortOpt = Annotated[str | None, Opt(help="IMAP: 0-65535 (default 993 for IMAP-SSL, 143 for IMAP-TLS).")]
ProtocolOpt = Annotated[str | None, Opt(help="IMAP: IMAP-SSL or IMAP-TLS.")]
SecretOpt = Annotated[str | None, Opt(help="Name or ID of the secret with the credentials.")]
TimeoutOpt = Annotated[str | None, Opt(help="IMAP/Exchange: seconds 0-2147483; empty for the default.")]
TrustedCaFileOpt = Annotated[
    str | None,
    Opt(
        metavar="<path>",
        help="IMAP/Exchange: PEM file of CA certificate(s) to trust for this server besides the system's "
        '(or its self-signed certificate); "" removes them.',
    ),
]
FingerprintOpt = Annotated[
    str | None,
    Opt(
        help="IMAP/Exchange: SHA-256 fingerprint of the server's certificate, to accept only that "
        'certificate (openssl x509 -noout -fingerprint -sha256); "" removes it.'
    ),
]
ApplicationIdOpt = Annotated[str | None, Opt(help="Microsoft 365: application (client) ID, a GUID.")]
DirectoryIdOpt = Annotated[str | None, Opt(help="Microsoft 365: directory (tenant) ID, a GUID.")]
DeletePolicyOpt = Annotated[str | None, Opt(help="never, immediately, archived-older-than or message-older-than.")]
DeleteAfterOpt = Annotated[str | None, Opt(help='With the "older-than" policies: e.g. "3 months".')]


def _profile_fields(
    mode: str | None,
    mailbox: str | None,
    source_mailbox: str | None,
    directory: str | None,
    synchronize_users: bool | None,
    server: str | None,
    port: str | None,
    protocol: str | None,
    secret: str | None,
    timeout: str | None,
    tls_trusted_ca_file: str | None,
    tls_fingerprint: str | None,
    application_id: str | None,
    directory_id: str | None,
    delete_policy: str | None,
    delete_after: str | None,
) -> dict[str, object]:
    return _fields(
        mode=mode,
        mailbox=mailbox,
        source_mailbox=source_mailbox,
        directory_service_id=directory,
        synchronize_users=synchronize_users,
        server_name=server,
        port=port,
        protocol=protocol,
        secret_id=secret,
        timeout=timeout,
        tls_trusted_ca=read_trusted_ca_file(tls_trusted_ca_file),
        tls_fingerprint=tls_fingerprint,
        application_id=application_id,
        directory_id=directory_id,
        delete_policy=delete_policy,
        delete_after=delete_after,
    )


def _print_profile(data: dict[str, Any], as_json: bool, verb: str) -> None:
    print_json(data) if as_json else console.print(f"{verb} profile {data['name']!r} ({data['id']})", highlight=False)


@app.command("create")
def create(
    name: str,
    type: Annotated[str, Opt("--type", help="imap, exchange, microsoft365, google-workspace or outlook-com.")],
    tenant: TenantOpt = None,
    mode: ModeOpt = "single",
    mailbox: MailboxOpt = None,
    source_mailbox: SourceMailboxOpt = None,
    directory: DirectoryOpt = None,
    synchronize_users: SynchronizeUsersOpt = None,
    server: ServerOpt = None,
    port: PortOpt = None,
    protocol: ProtocolOpt = None,
    secret: SecretOpt = None,
    timeout: TimeoutOpt = None,
    tls_trusted_ca_file: TrustedCaFileOpt = None,
    tls_fingerprint: FingerprintOpt = None,
    application_id: ApplicationIdOpt = None,
    directory_id: DirectoryIdOpt = None,
    delete_policy: DeletePolicyOpt = "never",
    delete_after: DeleteAfterOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a folder-synchronization profile."""
    fields = _profile_fields(
        mode,
        mailbox,
        source_mailbox,
        directory,
        synchronize_users,
        server,
        port,
        protocol,
        secret,
        timeout,
        tls_trusted_ca_file,
        tls_fingerprint,
        application_id,
        directory_id,
        delete_policy,
        delete_after,
    )
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        data = profiles.profile_to_dict(
            session, profiles.create_profile(session, t.id, {"name": name, "type": type, **fields})
        )
    _print_profile(data, as_json, "Created")


@app.command("edit")
def edit(
    key: str,
    tenant: TenantOpt = None,
    name: Annotated[str | None, Opt(help="A new name.")] = None,
    type: Annotated[str | None, Opt("--type", help="Cannot change; accepted only if it is the current type.")] = None,
    mode: ModeOpt = None,
    mailbox: MailboxOpt = None,
    source_mailbox: SourceMailboxOpt = None,
    directory: DirectoryOpt = None,
    synchronize_users: SynchronizeUsersOpt = None,
    server: ServerOpt = None,
    port: PortOpt = None,
    protocol: ProtocolOpt = None,
    secret: SecretOpt = None,
    timeout: TimeoutOpt = None,
    tls_trusted_ca_file: TrustedCaFileOpt = None,
    tls_fingerprint: FingerprintOpt = None,
    application_id: ApplicationIdOpt = None,
    directory_id: DirectoryIdOpt = None,
    delete_policy: DeletePolicyOpt = None,
    delete_after: DeleteAfterOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a profile's fields (by name or ID). An empty value ("") clears an optional field."""
    fields = _profile_fields(
        mode,
        mailbox,
        source_mailbox,
        directory,
        synchronize_users,
        server,
        port,
        protocol,
        secret,
        timeout,
        tls_trusted_ca_file,
        tls_fingerprint,
        application_id,
        directory_id,
        delete_policy,
        delete_after,
    )
    fields.update({k: v for k, v in (("name", name), ("type", type)) if v is not None})
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        data = profiles.profile_to_dict(session, profiles.update_profile(session, t.id, key, fields))
    _print_profile(data, as_json, "Updated")


def _list(query: str | None, tenant: str | None, as_json: bool) -> None:
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        rows = [profiles.profile_to_dict(session, p) for p in profiles.search_profiles(session, t.id, query)]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        row["schedules"] = ", ".join(s["name"] for s in row["schedules"])
    print_table(rows, COLUMNS, empty="No profiles match." if query else "No profiles yet.")


@app.command("list")
def list_(tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """List profiles."""
    _list(None, tenant, as_json)


@app.command("search")
def search(query: str, tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """Search profiles: name contains QUERY, or ID equals QUERY (both case-insensitive)."""
    _list(query, tenant, as_json)


@app.command("show")
def show(key: str, tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """Show one profile, by name or ID."""
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        data = profiles.profile_to_dict(session, profiles.get_profile(session, t.id, key))
    print_json(data) if as_json else print_record(data)


@app.command("test")
def connection_test(
    key: str,
    tenant: TenantOpt = None,
    mailbox: Annotated[
        str | None, Opt(help="Multiple mode: the mailbox to test, by its primary e-mail address (required there).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Test a profile's connection step by step (DNS, TCP, TLS, greeting, capabilities, login, folders);
    exit code 1 if a step failed."""
    with opened() as runtime:
        with runtime.transaction() as session:
            tenant_id = pick_tenant(session, runtime, tenant).id
        result = run_connection_test(runtime, tenant_id, key, mailbox=mailbox)
    if as_json:
        print_json(result.to_dict())
    else:  # exactly what the portal's "Copy to clipboard" copies
        console.print(result.as_text(), end="", markup=False, highlight=False)
    if not result.ok:
        raise typer.Exit(1)


@app.command("delete")
def delete(key: str, tenant: TenantOpt = None) -> None:
    """Delete a profile; refused while a schedule uses it."""
    with transaction() as (runtime, session):
        profiles.delete_profile(session, pick_tenant(session, runtime, tenant).id, key)
    console.print(f"Deleted profile {key!r}", highlight=False)


@schedule_app.command("create")
def schedule_create(
    name: str,
    profile: Annotated[str | None, Opt(help="Folder synchronization: name or ID of the profile to run.")] = None,
    directory: Annotated[
        str | None, Opt(help="Directory synchronization: name or ID of the directory service to synchronize.")
    ] = None,
    tenant: TenantOpt = None,
    daily: Annotated[str | None, Opt(help="Run daily at HH:MM (15-minute frames).")] = None,
    every: Annotated[int | None, Opt(help="Run every N minutes (a multiple of 15).")] = None,
    once: Annotated[str | None, Opt(help="Run once at YYYY-MM-DDTHH:MM.")] = None,
    timezone: Annotated[str, Opt(help="IANA time zone of the times, e.g. Europe/London.")] = "UTC",
    disabled: Annotated[bool, Opt("--disabled", help="Create it paused.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a schedule that runs a profile (--profile) or synchronizes a directory service's users
    (--directory), with exactly one of --daily, --every, --once."""
    if (profile is None) == (directory is None):
        raise InvalidInput(FieldError("profile", "give either --profile (folder sync) or --directory (directory sync)"))
    chosen = [(k, v) for k, v in (("daily", daily), ("interval", every), ("once", once)) if v is not None]
    if len(chosen) != 1:
        raise InvalidInput(
            FieldError("recurrence", "give exactly one of --daily HH:MM, --every MINUTES, --once DATETIME")
        )
    kind, value = chosen[0]
    recurrence = {"kind": kind, "every_minutes": value} if kind == "interval" else {"kind": kind, "at": value}
    raw = {
        "name": name,
        "type": "folder-sync" if profile else "directory-sync",
        "profile_id": profile,
        "directory_service_id": directory,
        "enabled": not disabled,
        "recurrence": recurrence,
        "timezone": timezone,
    }
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        data = schedules.schedule_to_dict(session, schedules.create_schedule(session, t.id, raw))
    print_json(data) if as_json else console.print(
        f"Created schedule {data['name']!r}: {data['recurrence_text']}", highlight=False
    )


@schedule_app.command("list")
def schedule_list(
    tenant: TenantOpt = None, search: Annotated[str | None, Opt()] = None, as_json: JsonOpt = False
) -> None:
    """List schedules."""
    with transaction() as (runtime, session):
        t = pick_tenant(session, runtime, tenant)
        rows = [schedules.schedule_to_dict(session, s) for s in schedules.list_schedules(session, t.id, search)]
    columns = [
        ("name", "Name"),
        ("enabled", "Enabled"),
        ("type", "Type"),
        ("recurrence_text", "Recurrence"),
        ("profile_name", "Details"),
        ("timezone", "Time zone"),
        ("next_run_at", "Next run (UTC)"),
        ("last_status", "Last run"),
        ("id", "ID"),
    ]
    for row in rows:
        last = row["last_process"]
        row["last_status"] = f"{last['request_id']} {last['status']}" if last else ""
    print_json(rows) if as_json else print_table(rows, columns, empty="No schedules.")


def _set_enabled(key: str, tenant: str | None, enabled: bool) -> None:
    with transaction() as (runtime, session):
        schedule = schedules.set_enabled(session, pick_tenant(session, runtime, tenant).id, key, enabled)
    console.print(f"Schedule {schedule.name!r} {'enabled' if enabled else 'paused'}", highlight=False)


@schedule_app.command("enable")
def schedule_enable(key: str, tenant: TenantOpt = None) -> None:
    """Enable a schedule."""
    _set_enabled(key, tenant, True)


@schedule_app.command("disable")
def schedule_disable(key: str, tenant: TenantOpt = None) -> None:
    """Pause a schedule (a run in progress carries on)."""
    _set_enabled(key, tenant, False)


@schedule_app.command("run")
def schedule_run(key: str, tenant: TenantOpt = None) -> None:
    """Queue the schedule's profile now; a worker (in `postroom serve`, or `postroom worker`) runs it."""
    from postroom.jobs.queue import queue_for

    with opened() as runtime:
        with runtime.transaction() as session:
            run, process = schedules.run_schedule_now(session, pick_tenant(session, runtime, tenant).id, key)
            request_id = process.request_id
        queue_for(runtime).enqueue(run)
    console.print(f"Queued {request_id} (follow it with `postroom process show {request_id}`)", highlight=False)


@schedule_app.command("delete")
def schedule_delete(key: str, tenant: TenantOpt = None) -> None:
    """Delete a schedule."""
    with transaction() as (runtime, session):
        schedules.delete_schedule(session, pick_tenant(session, runtime, tenant).id, key)
    console.print(f"Deleted schedule {key!r}", highlight=False)
