"""The dashboard: what runs, what failed in the last 24 hours, the archive, the connectors, and
what needs an administrator's attention. One service for the portal's page and the API's
``GET …/dashboard``; each notification names its ``kind`` and the object it is about, so each
face can link it to its own page."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from postroom.archive import repository as archive
from postroom.db.archive import Message
from postroom.db.models import Tenant
from postroom.db.types import utcnow
from postroom.domain.filing import FilingStatus
from postroom.domain.process import ProcessStatus, Severity
from postroom.services import connectors, locations, processes, profiles, secrets

SECRET_WARNING_DAYS = 30  # a secret that expires within this many days is a notification
UNREACHABLE = ("no_path", "folder_missing")  # the reasons that say no connector reaches a location


def dashboard(session: Session, tenant: Tenant, now: datetime | None = None) -> dict[str, Any]:
    """Everything the dashboard shows (administrators only: the caller checks the role)."""
    now = now or utcnow()
    since = now - timedelta(hours=24)
    running = processes.list_processes(session, tenant.id, processes.ProcessFilter(status=ProcessStatus.RUNNING))
    failed = processes.list_processes(
        session, tenant.id, processes.ProcessFilter(min_severity=Severity.ERROR, since=since, limit=50)
    )
    mailboxes = archive.list_mailboxes(session, tenant.id)
    totals = select(func.count(Message.id), func.coalesce(func.sum(Message.size), 0))
    stored = session.execute(
        totals.add_columns(func.coalesce(func.sum(Message.stored_size), 0)).where(Message.tenant_id == tenant.id)
    ).one()
    active = [c for c in connectors.list_connectors(session, tenant.id) if c.revoked_at is None]
    return {
        "running": [processes.process_to_dict(session, p) for p in running],
        "failed": [processes.process_to_dict(session, p) for p in failed],
        "failed_since": since.isoformat(),
        "mailboxes": len(mailboxes),
        "messages": sum(int(m["messages"]) for m in mailboxes),
        "stored_messages": int(stored[0]),  # each content once per tenant
        "size_bytes": int(stored[1]),  # what those messages are, uncompressed
        "stored_bytes": int(stored[2]),  # what their blobs take on disk, compressed
        "connectors": [connectors.connector_to_dict(session, c) for c in active],
        "backlog": connectors.backlog(session, tenant.id),
        "notifications": notifications(session, tenant, now, has_connector=bool(active)),
    }


def notifications(session: Session, tenant: Tenant, now: datetime, *, has_connector: bool) -> list[dict[str, Any]]:
    """Missing or inconsistent configuration: secrets about to expire, profiles without a
    schedule, locations no connector reaches."""
    found: list[dict[str, Any]] = []
    soon = now + timedelta(days=SECRET_WARNING_DAYS)
    for secret in secrets.list_secrets(session, tenant.id):
        if secret.expires_at is not None and secret.expires_at <= soon:
            verb = "expired" if secret.expires_at <= now else "expires"
            text = f"Secret {secret.name!r} {verb} on {secret.expires_at:%Y-%m-%d}; renew it."
            found.append({"kind": "secret-expires", "id": secret.id, "text": text})
    for profile in profiles.search_profiles(session, tenant.id):
        if not profiles.schedules_using(session, profile):
            text = f"Profile {profile.name!r} has no schedule, so it runs only when started by hand."
            found.append({"kind": "profile-unscheduled", "id": profile.id, "text": text})
    status = {row["id"]: row for row in connectors.location_status(session, tenant.id)}
    for location in locations.search_locations(session, tenant.id):
        if not location.enabled:
            continue
        row = status.get(location.id, {})
        last = str(row.get("last_error") or "")
        if not has_connector:
            text = f"No connector serves location {location.name!r}: its filed messages wait until one runs."
        elif row.get(FilingStatus.SKIPPED.value) and last.split(":")[0] in UNREACHABLE:
            text = f"No connector reaches location {location.name!r}: {last}"
        else:
            continue
        found.append({"kind": "location-unreachable", "id": location.id, "text": text})
    return found
