"""The dashboard service: what the portal's first page and GET …/dashboard show."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from postroom.db.models import Filing, Tenant
from postroom.db.types import utcnow
from postroom.runtime import Runtime
from postroom.services import connectors, dashboard, filings, locations
from postroom.services import secrets as secret_service
from postroom.testing.archive import archive_messages


def test_notifications_name_what_needs_attention(runtime: Runtime, tenant: Tenant) -> None:
    ids = archive_messages(runtime, tenant.id, "Drawings")
    with runtime.transaction() as session:
        secret = secret_service.create_secret(
            session, runtime.secret_box, tenant.id, "Old token", "oauth", {"access_token": "x"}
        )
        secret.expires_at = utcnow() + timedelta(days=3)
        location = locations.create_location(session, tenant.id, {"name": "Surrey", "sync_path": "/srv/p/surrey"})
        filings.file_messages(session, tenant.id, "Surrey", ids, source="api", filed_by="t")
    with runtime.transaction() as session:
        kinds = {(n["kind"], n["id"]) for n in dashboard.dashboard(session, tenant)["notifications"]}
    assert ("secret-expires", secret.id) in kinds
    assert ("location-unreachable", location.id) in kinds  # no connector at all
    with runtime.transaction() as session:
        connectors.create_connector(session, tenant, "NAS", [], "t", "http://x")
    with runtime.transaction() as session:
        notes = dashboard.dashboard(session, tenant)["notifications"]
    assert not [n for n in notes if n["kind"] == "location-unreachable"]  # a connector may reach it now
    with runtime.transaction() as session:  # … but it reported that it cannot
        session.execute(update(Filing).values(status="skipped", reason="no_path: no path root maps /srv/p/surrey"))
    with runtime.transaction() as session:
        facts = dashboard.dashboard(session, tenant)
    unreachable = [n for n in facts["notifications"] if n["kind"] == "location-unreachable"]
    assert [n["text"] for n in unreachable] == [
        "No connector reaches location 'Surrey': no_path: no path root maps /srv/p/surrey"
    ]
    assert [c["name"] for c in facts["connectors"]] == ["NAS"]
    assert facts["stored_messages"] == 1 and facts["size_bytes"] > 0 and facts["stored_bytes"] > 0
