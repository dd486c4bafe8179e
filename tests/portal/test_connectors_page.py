"""The connectors page over ``services.connectors``: create a license (shown and downloadable once, a
valid license the connector accepts), status (last seen, host, version, lease, backlog, per
location), edit the name and path roots, revoke after a confirmation."""

from __future__ import annotations

import base64
import re
from html import unescape

import httpx

from postroom.db.models import Filing
from postroom.domain.connector import License, parse_license
from postroom.domain.filing import FilingSource, FilingStatus
from postroom.runtime import Runtime
from postroom.services import connectors, filings, locations
from tests.portal.archived import archive_raw, plain_mail, tenant_id
from tests.portal.conftest import Browser


def create(browser: Browser, name: str = "File server", roots: str = "") -> tuple[httpx.Response, License]:
    response = browser.post("/tenants/alpha/connectors/new", {"name": name, "path_roots": roots})
    assert response.status_code == 201, response.text
    text = re.search(r'<textarea id="license-text"[^>]*>([^<]*)</textarea>', response.text)
    assert text
    shown = parse_license(unescape(text[1]))
    href = re.search(r'href="data:application/octet-stream;base64,([^"]+)" download="Sync-license.lic"', response.text)
    assert href
    downloaded = parse_license(base64.b64decode(href[1]), "Sync-license.lic")
    assert downloaded == shown
    return response, downloaded


def test_create_a_license_the_connector_accepts(
    browser: Browser, people: None, runtime: Runtime, server_url: str
) -> None:
    browser.sign_in("alice@example.com")
    new = browser.client.get("/tenants/alpha/connectors/new").text
    assert f"<code>{server_url}</code>" in new  # no POSTROOM_PUBLIC_URL: the URL the portal was reached at
    response, license = create(browser, roots="\\\\fs\\projects=/mnt/projects\n\n/srv/a = /data/a")
    assert "it is shown only this once" in response.text
    assert response.headers["cache-control"] == "no-store"
    assert (license.server_url, license.tenant, license.name) == (server_url, "alpha", "File server")
    with runtime.transaction() as session:
        connector = connectors.authenticate(session, license.secret)  # the secret is the stored one
        assert connector.id == license.connector_id
        assert license.secret not in str(connectors.connector_to_dict(session, connector))  # only its hash is kept
        assert connector.path_roots == [
            {"server": "\\\\fs\\projects", "local": "/mnt/projects"},
            {"server": "/srv/a", "local": "/data/a"},
        ]
        assert connector.created_by == "alice@example.com"
    details = browser.client.get(f"/tenants/alpha/connectors/{license.connector_id}").text
    assert license.secret not in details  # never shown again
    # the connector takes the lease with it, and the list shows what it said
    hello = httpx.post(
        f"{server_url}/api/connector/v1/lease",
        json={"instance_id": "inst-1", "host": "fs01.example.com", "version": "9.9.9"},
        headers={"Authorization": f"Bearer {license.secret}"},
    )
    assert hello.status_code == 200, hello.text
    listing = browser.client.get("/tenants/alpha/connectors").text
    assert "fs01.example.com" in listing and "9.9.9" in listing
    assert re.search(r'data-label="Status">active<', listing)
    assert "held on fs01.example.com until" in listing


def test_errors_keep_the_input(browser: Browser, people: None, runtime: Runtime) -> None:
    browser.sign_in("alice@example.com")
    response = browser.post("/tenants/alpha/connectors/new", {"name": "", "path_roots": "no equals sign\nrelative=x"})
    assert response.status_code == 422
    assert re.search(r'id="f-name-error">[^<]+', response.text)
    roots = re.search(r'id="f-path_roots-error">([^<]+)', response.text)
    assert roots and "line 1" in roots[1] and "SERVER=LOCAL" in unescape(roots[1])
    assert "no equals sign\nrelative=x</textarea>" in response.text
    create(browser)
    taken = browser.post("/tenants/alpha/connectors/new", {"name": "FILE SERVER", "path_roots": ""})
    assert taken.status_code == 422 and re.search(r'id="f-name-error">[^<]*already', taken.text)
    with runtime.transaction() as session:
        assert len(connectors.list_connectors(session, tenant_id(runtime))) == 1


def test_status_per_location_edit_and_revoke(browser: Browser, people: None, runtime: Runtime) -> None:
    alpha = tenant_id(runtime)
    ids = [archive_raw(runtime, alpha, plain_mail(f"Report {day}", day=day)) for day in (1, 2)]
    with runtime.transaction() as session:
        place = locations.create_location(session, alpha, {"name": "Surrey Court", "sync_path": "/srv/surrey"})
        result = filings.file_messages(session, alpha, place.id, ids, source=FilingSource.API, filed_by="t")
        failed = session.get(Filing, result.created[0].id)
        assert failed is not None
        failed.status, failed.reason = FilingStatus.FAILED.value, "content-mismatch: a different file has the name"
    browser.sign_in("alice@example.com")
    _response, license = create(browser)
    key = license.connector_id
    listing = browser.client.get("/tenants/alpha/connectors").text
    assert "never connected" in listing
    assert re.search(r"<strong>1</strong> pending", listing)
    details = browser.client.get(f"/tenants/alpha/connectors/{key}").text
    assert re.search(r'data-label="Location">Surrey Court</td>\s*<td data-label="Pending">1</td>', details)
    assert re.search(r'data-label="Failed">1</td>', details)
    assert "content-mismatch: a different file has the name" in details

    saved = browser.post(
        f"/tenants/alpha/connectors/{key}",
        {"name": "FS 2", "path_roots": "/srv=/mnt/srv"},
        csrf_from=f"/tenants/alpha/connectors/{key}",
    )
    assert saved.status_code == 303
    with runtime.transaction() as session:
        connector = connectors.get_connector(session, alpha, key)
        assert (connector.name, connector.path_roots) == ("FS 2", [{"server": "/srv", "local": "/mnt/srv"}])
    bad = browser.post(f"/tenants/alpha/connectors/{key}", {"name": "FS 2", "path_roots": "/srv=relative"})
    assert bad.status_code == 422 and 'id="f-path_roots-error"' in bad.text

    confirm = browser.client.get(f"/tenants/alpha/connectors/{key}/revoke").text
    assert "Revoke connector “FS 2”?" in confirm and "cannot be undone" in confirm
    revoked = browser.post(f"/tenants/alpha/connectors/{key}/revoke", {})
    assert revoked.status_code == 303
    assert re.search(r'data-label="Status">revoked ', browser.client.get("/tenants/alpha/connectors").text)
    with runtime.transaction() as session:
        assert connectors.get_connector(session, alpha, key).revoked_at is not None
    refused = httpx.get(
        f"{license.server_url}/api/connector/v1/hello", headers={"Authorization": f"Bearer {license.secret}"}
    )
    assert refused.status_code == 401 and "revoked" in refused.text
