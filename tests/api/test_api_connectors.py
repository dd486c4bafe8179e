"""Connectors for administrators through the REST API of a real running server."""

from __future__ import annotations

import httpx

from postroom.domain.connector import DEFAULT_LICENSE_NAME, parse_license
from postroom.runtime import Runtime
from postroom.services.access import Role
from tests.api.conftest import Caller, make_caller

BASE = "/api/v1/tenants/alpha/connectors"
ROOT = {"server": r"\\FS\Projects", "local": "/mnt/projects"}


def test_connector_lifecycle(alice: Caller) -> None:
    created = alice.post(BASE, json={"name": "NAS", "path_roots": [ROOT], "server_url": "https://p.example.com/"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["file_name"] == DEFAULT_LICENSE_NAME
    license = parse_license(body["license"])
    connector = body["connector"]
    assert (license.server_url, license.tenant, license.connector_id, license.name) == (
        "https://p.example.com",
        "alpha",
        connector["id"],
        "NAS",
    )
    assert connector["path_roots"] == [ROOT] and connector["lease"] is None
    assert connector["backlog"] == {"pending": 0, "retry_due": 0, "retry_waiting": 0}
    assert license.secret not in str(alice.get(BASE).json())

    assert [c["name"] for c in alice.get(BASE).json()] == ["NAS"]
    shown = alice.get(f"{BASE}/nas").json()
    assert shown["id"] == connector["id"] and shown["locations"] == []
    assert alice.get(f"{BASE}/{connector['key']}").json()["id"] == connector["id"]

    patched = alice.patch(f"{BASE}/{connector['id']}", json={"name": "NAS 2", "path_roots": []})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["name"], patched.json()["path_roots"]) == ("NAS 2", [])
    revoked = alice.post(f"{BASE}/nas%202/revoke")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    hello = httpx.get(
        f"{alice.client.base_url}/api/connector/v1/hello", headers={"Authorization": f"Bearer {license.secret}"}
    )
    assert hello.status_code == 401 and hello.json()["error"] == "LicenseRevoked"


def test_bad_fields_answer_422_naming_each(alice: Caller) -> None:
    bad = alice.post(
        BASE,
        json={"name": " ", "path_roots": [{"server": "relative", "local": "/ok"}, {"server": "/ok", "local": "x:y"}]},
    )
    assert bad.status_code == 422
    fields = {d["field"] for d in bad.json()["detail"]}
    assert fields == {"name", "path_roots[0].server", "path_roots[1].local"}
    roots = alice.post(BASE, json={"name": "x", "path_roots": [{"server": "relative", "local": "/ok"}]})
    assert roots.status_code == 422 and roots.json()["detail"][0]["field"] == "path_roots[0].server"
    url = alice.post(BASE, json={"name": "x", "server_url": "ftp://nope"})
    assert url.status_code == 422 and url.json()["detail"][0]["field"] == "server_url"
    assert alice.post(BASE, json={"name": "NAS"}).status_code == 201
    assert alice.post(BASE, json={"name": "nas"}).status_code == 409


def test_another_tenants_admin_cannot_see_connectors(
    alice: Caller, bob: Caller, runtime: Runtime, http: httpx.Client
) -> None:
    connector = alice.post(BASE, json={"name": "NAS"}).json()["connector"]
    assert bob.get(BASE).status_code == 404
    for verb, url, kwargs in (
        ("get", f"{BASE}/{connector['id']}", {}),
        ("patch", f"{BASE}/{connector['id']}", {"json": {"name": "x"}}),
        ("post", f"{BASE}/{connector['id']}/revoke", {}),
    ):
        assert getattr(bob, verb)(url, **kwargs).status_code == 404, verb
    assert bob.get(f"/api/v1/tenants/beta/connectors/{connector['id']}").status_code == 404
    assert bob.get("/api/v1/tenants/beta/connectors").json() == []
    staff = make_caller(runtime, http, "staff@example.com", "alpha", Role.USER)
    assert staff.get(BASE).status_code == 403
    assert staff.post(BASE, json={"name": "x"}).status_code == 403


def test_without_a_public_url_the_license_names_the_url_the_request_came_to(alice: Caller, server_url: str) -> None:
    created = alice.post(BASE, json={"name": "Office"})
    assert created.status_code == 201, created.text
    assert parse_license(created.json()["license"]).server_url == server_url
