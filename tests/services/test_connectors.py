"""Connector licenses, path roots and status against the database."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy.orm import Session

from postroom.config import Settings
from postroom.db.models import Connector, Tenant
from postroom.domain.connector import parse_license
from postroom.errors import InvalidInput, LicenseRevoked, NameTaken, NotAuthenticated, NotFound
from postroom.runtime import Runtime
from postroom.services import connectors, deliveries, filings, locations
from postroom.services.access import Actor
from postroom.services.tenants import create_tenant
from postroom.testing.archive import archive_messages

URL = "https://postroom.example.com"


def _create(
    session: Session, tenant: Tenant, name: str = "fileserver", roots: list[dict[str, str]] | None = None
) -> tuple[Connector, str]:
    return connectors.create_connector(session, tenant, name, roots or [], "anna@example.com", URL)


def test_license_text_is_a_valid_license_and_authenticates(session: Session, tenant: Tenant) -> None:
    connector, text = _create(session, tenant, roots=[{"server": r"\\FS\Projects", "local": "/mnt/projects"}])
    license = parse_license(text)
    assert (license.server_url, license.tenant, license.connector_id, license.name) == (
        URL,
        "acme",
        connector.id,
        "fileserver",
    )
    assert license.secret.startswith(f"prc_{connector.key}_")
    assert license.secret not in repr(connector.__dict__)  # only the hash is stored
    assert connectors.authenticate(session, license.secret).id == connector.id
    assert connector.path_roots == [{"server": r"\\FS\Projects", "local": "/mnt/projects"}]


def test_names_are_unique_per_tenant_and_found_by_id_key_or_name(session: Session, tenant: Tenant) -> None:
    connector, _text = _create(session, tenant)
    with pytest.raises(NameTaken):
        _create(session, tenant, "FILESERVER")
    other = create_tenant(session, Actor.local_admin(), "globex")
    _create(session, other, "fileserver")
    for key in ("FileServer", connector.id.upper(), connector.key):
        assert connectors.get_connector(session, tenant.id, key).id == connector.id
    with pytest.raises(NotFound):
        connectors.get_connector(session, other.id, connector.id)
    renamed = connectors.update_connector(session, tenant.id, "fileserver", name="Fileserver 2")
    assert renamed.name == "Fileserver 2"


def test_path_roots_are_checked_naming_each_bad_field(session: Session, tenant: Tenant) -> None:
    with pytest.raises(InvalidInput) as caught:
        _create(
            session,
            tenant,
            roots=[
                {"server": "projects", "local": "/mnt/p"},
                {"server": "/srv/a", "local": r"C:\a|b"},
                {"server": "/srv/ok", "local": "/mnt/ok"},
                {"server": "/srv/ok/", "local": "/mnt/other"},
            ],
        )
    fields = [e.field for e in caught.value.errors]
    assert fields == ["path_roots[0].server", "path_roots[1].local", "path_roots[3].server"]
    assert "must be absolute" in str(caught.value)
    assert connectors.parse_root(r"\\fs\projects=/mnt/projects") == connectors.RootText(
        r"\\fs\projects", "/mnt/projects"
    )
    with pytest.raises(InvalidInput, match="SERVER=LOCAL"):
        connectors.parse_root("/srv/projects")


def test_server_url_comes_from_the_argument_the_setting_or_host_and_port(settings: Settings) -> None:
    assert connectors.license_server_url(settings, "https://x.example.com/") == "https://x.example.com"
    assert connectors.license_server_url(dataclasses.replace(settings, public_url="https://p.example")) == (
        "https://p.example"
    )
    plain = dataclasses.replace(settings, public_url=None, host="10.0.0.5", port=8025)
    assert connectors.license_server_url(plain) == "http://10.0.0.5:8025"
    with pytest.raises(InvalidInput, match="server_url"):
        connectors.license_server_url(settings, "ftp://x")


def test_revoked_unknown_and_malformed_secrets(session: Session, tenant: Tenant) -> None:
    connector, text = _create(session, tenant)
    secret = parse_license(text).secret
    with pytest.raises(NotAuthenticated, match="malformed connector credential") as malformed:
        connectors.authenticate(session, "prc_nothex_abc")
    assert not isinstance(malformed.value, LicenseRevoked)
    wrong = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    with pytest.raises(LicenseRevoked, match="not known to this server"):
        connectors.authenticate(session, wrong)
    connectors.revoke_connector(session, tenant.id, "fileserver")
    with pytest.raises(LicenseRevoked, match=r"revoked on \d{4}-\d\d-\d\d .*postroom connector license create"):
        connectors.authenticate(session, secret)
    assert connector.revoked_at is not None


def test_status_counts_deliveries_per_location(runtime: Runtime, tenant: Tenant) -> None:
    ids = archive_messages(runtime, tenant.id, "One", "Two", "Three")
    with runtime.transaction() as session:
        locations.create_location(session, tenant.id, {"name": "Surrey", "sync_path": "/srv/surrey"})
        locations.create_location(session, tenant.id, {"name": "Empty", "sync_path": "/srv/empty"})
        filings.file_messages(session, tenant.id, "Surrey", ids, source="api", filed_by="anna")
        connector, _text = _create(session, tenant)
        token = deliveries.acquire_lease(
            session, connector, instance_id="i1", host="nas", version="1", lease_seconds=60
        ).fencing_token
        claimed = deliveries.claim(session, connector, token, limit=2, lease_seconds=60)
        deliveries.record_results(
            session,
            connector,
            token,
            [
                {"delivery_id": claimed[0]["id"], "attempt": 1, "outcome": "written", "path": "/srv/surrey/a.msg"},
                {
                    "delivery_id": claimed[1]["id"],
                    "attempt": 1,
                    "outcome": "skipped",
                    "reason": "permission_denied",
                    "error": "EACCES",
                },
            ],
            retry_seconds=60,
        )
        data = connectors.connector_to_dict(session, connector, locations=True)
    assert (data["host"], data["version"], data["instance_id"]) == ("nas", "1", "i1")
    assert data["lease"]["fencing_token"] == token
    assert data["backlog"] == {"pending": 1, "retry_due": 0, "retry_waiting": 1}
    surrey, empty = sorted(data["locations"], key=lambda x: x["name"], reverse=True)
    assert (surrey["pending"], surrey["written"], surrey["skipped"], surrey["failed"]) == (1, 1, 1, 0)
    assert surrey["last_error"] == "permission_denied: EACCES" and surrey["last_error_at"]
    assert (empty["pending"], empty["last_error"]) == (0, None)
