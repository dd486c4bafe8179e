"""The connector protocol (``/api/connector/v1/``) against a real running server."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from postroom.db.models import Tenant
from postroom.domain.connector import parse_license
from postroom.runtime import Runtime
from postroom.services import connectors, filings, locations
from postroom.services.access import Actor, tenant_for
from postroom.testing.archive import archive_messages
from tests.api.conftest import Caller

V1 = "/api/connector/v1"


@dataclass
class Agent:
    """A connector as the server sees it: its license secret, and the fencing token once it has one."""

    client: httpx.Client
    secret: str
    token: int | None = None

    def call(self, verb: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.secret}"}
        if self.token is not None:
            headers["Postroom-Fencing-Token"] = str(self.token)
        return self.client.request(verb, f"{V1}{path}", headers=headers, **kw)

    def lease(self, instance: str, host: str) -> httpx.Response:
        answer = self.call("POST", "/lease", json={"instance_id": instance, "host": host, "version": "0.1.0"})
        if answer.status_code == 200:
            self.token = answer.json()["fencing_token"]
        return answer


def _agent(runtime: Runtime, http: httpx.Client, tenant: str, name: str) -> Agent:
    with runtime.transaction() as session:
        t = tenant_for(session, Actor.local_admin(), tenant)
        roots = [{"server": "/srv/projects", "local": "/mnt/p"}]
        _connector, text = connectors.create_connector(session, t, name, roots, "tests", "http://x")
    return Agent(http, parse_license(text).secret)


@pytest.fixture
def filed(runtime: Runtime, alice: Caller) -> list[int]:
    """Two messages of tenant alpha filed to location Surrey."""
    with runtime.transaction() as session:
        tenant_id = tenant_for(session, Actor.local_admin(), "alpha").id
    ids = archive_messages(runtime, tenant_id, "Drawings", "Invoice")
    with runtime.transaction() as session:
        locations.create_location(session, tenant_id, {"name": "Surrey", "sync_path": "/srv/projects/surrey"})
        filings.file_messages(session, tenant_id, "Surrey", ids, source="api", filed_by="alice")
    return ids


def test_claim_fetch_and_report_a_delivery(runtime: Runtime, http: httpx.Client, filed: list[int]) -> None:
    nas = _agent(runtime, http, "alpha", "NAS")
    hello = nas.call("GET", "/hello")
    assert hello.status_code == 200, hello.text
    assert hello.json()["connector"]["name"] == "NAS" and hello.json()["connector"]["tenant"] == "alpha"
    assert hello.json()["lease"] is None and hello.json()["lease_seconds"] == 60
    config = nas.call("GET", "/config").json()
    assert [x["name"] for x in config["locations"]] == ["Surrey"]
    assert config["path_roots"] == [{"server": "/srv/projects", "local": "/mnt/p"}]

    granted = nas.lease("inst-1", "nas.lan")
    assert granted.status_code == 200, granted.text
    assert set(granted.json()) == {"fencing_token", "expires_at", "lease_seconds"}
    assert nas.call("GET", "/hello").json()["lease"]["host"] == "nas.lan"
    assert nas.call("POST", "/heartbeat", json={"backlog_local": 0}).status_code == 200

    claimed = nas.call("POST", "/deliveries/claim", json={"limit": 10})
    assert claimed.status_code == 200, claimed.text
    by_subject = {d["message"]["facts"]["subject"]: d for d in claimed.json()["deliveries"]}
    first, second = by_subject["Drawings"], by_subject["Invoice"]  # filed at once: either may come first
    assert (first["attempt"], second["attempt"]) == (1, 1)

    message = nas.call("GET", f"/deliveries/{first['id']}/message")
    assert message.status_code == 200, message.text
    assert message.headers["content-type"] == "message/rfc822"
    sha = first["message"]["sha256"]
    assert message.headers["postroom-content-sha256"] == sha == hashlib.sha256(message.content).hexdigest()
    assert int(message.headers["content-length"]) == len(message.content) == first["message"]["size"]
    with runtime.transaction() as session:
        tenant = session.query(Tenant).filter_by(name="alpha").one()
        assert message.content == runtime.blobs.get(tenant.id, sha)

    results = {
        "results": [
            {"delivery_id": first["id"], "attempt": 1, "outcome": "written", "path": "/mnt/p/surrey/a.eml",
             "size": len(message.content), "sha256": sha},
            {"delivery_id": second["id"], "attempt": 1, "outcome": "skipped", "reason": "permission_denied",
             "error": "EACCES"},
        ]
    }  # fmt: skip
    answer = nas.call("POST", "/deliveries/results", json=results)
    assert answer.status_code == 200, answer.text
    assert [r["status"] for r in answer.json()["results"]] == ["applied", "applied"]
    again = nas.call("POST", "/deliveries/results", json=results).json()["results"]
    assert [r["status"] for r in again] == ["unchanged", "unchanged"]
    answered = nas.call("GET", f"/deliveries/{first['id']}/message")
    assert answered.status_code == 409

    assert nas.call("DELETE", "/lease").status_code == 204
    assert nas.call("GET", "/hello").json()["lease"] is None


def test_a_second_connector_is_refused_naming_the_holder(runtime: Runtime, http: httpx.Client, alice: Caller) -> None:
    nas, backup = _agent(runtime, http, "alpha", "NAS"), _agent(runtime, http, "alpha", "Backup")
    assert nas.lease("inst-1", "nas.lan").status_code == 200
    holder_id = nas.call("GET", "/hello").json()["connector"]["id"]
    refused = backup.lease("inst-2", "backup.lan")
    assert refused.status_code == 409
    body = refused.json()
    assert body["error"] == "LeaseHeld"
    assert "'NAS'" in body["message"] and holder_id in body["message"] and "'nas.lan'" in body["message"]


def test_stale_or_missing_fencing_tokens_are_refused(runtime: Runtime, http: httpx.Client, alice: Caller) -> None:
    nas = _agent(runtime, http, "alpha", "NAS")
    assert nas.lease("inst-1", "nas.lan").status_code == 200
    old = nas.token
    assert nas.lease("inst-1", "nas.lan").status_code == 200  # a restart of the same installation
    assert nas.token == (old or 0) + 1
    nas.token = old
    stale = nas.call("POST", "/deliveries/claim", json={"limit": 1})
    assert stale.status_code == 409 and stale.json()["error"] == "LeaseLost"
    assert "not the current lease's" in stale.json()["message"]
    nas.token = None
    missing = nas.call("POST", "/heartbeat", json={})
    assert missing.status_code == 409 and "Postroom-Fencing-Token" in missing.json()["message"]
    junk = http.post(
        f"{V1}/heartbeat", json={}, headers={"Authorization": f"Bearer {nas.secret}", "Postroom-Fencing-Token": "x"}
    )
    assert junk.status_code == 409 and junk.json()["error"] == "LeaseLost"


def test_licenses_are_checked(runtime: Runtime, http: httpx.Client, alice: Caller) -> None:
    assert http.get(f"{V1}/hello").status_code == 401
    malformed = http.get(f"{V1}/hello", headers={"Authorization": "Bearer prc_x"})
    assert malformed.status_code == 401 and "malformed connector credential" in malformed.json()["message"]
    token = http.get(f"{V1}/hello", headers={"Authorization": f"Bearer {alice.token}"})
    assert token.status_code == 401  # a user's API token is not a license
    nas = _agent(runtime, http, "alpha", "NAS")
    with runtime.transaction() as session:
        connectors.revoke_connector(session, tenant_for(session, Actor.local_admin(), "alpha").id, "NAS")
    revoked = nas.call("GET", "/hello")
    assert revoked.status_code == 401 and revoked.json()["error"] == "LicenseRevoked"
    assert "revoked on" in revoked.json()["message"]


def _parts(body: bytes) -> list[tuple[dict[str, Any], bytes]]:
    """The framed answer of ``POST deliveries/messages``, read as decision 0004 describes it."""
    parts = []
    while body:
        line, _, body = body.partition(b"\n")
        header = json.loads(line)
        size = header.get("size", 0)
        parts.append((header, body[:size]))
        body = body[size:]
    return parts


def test_messages_are_fetched_many_at_once_in_order(runtime: Runtime, http: httpx.Client, filed: list[int]) -> None:
    nas = _agent(runtime, http, "alpha", "NAS")
    assert nas.lease("inst-1", "nas.lan").status_code == 200
    claimed = nas.call("POST", "/deliveries/claim", json={"limit": 10}).json()["deliveries"]
    ids = [d["id"] for d in claimed]
    with runtime.transaction() as session:
        tenant_id = session.query(Tenant).filter_by(name="alpha").one().id

    answer = nas.call("POST", "/deliveries/messages", json={"ids": [ids[1], "no-such-delivery", ids[0]]})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/vnd.postroom.messages"
    (second, second_bytes), (unknown, _), (first, first_bytes), (end, _) = _parts(answer.content)
    for header, data, delivery in ((second, second_bytes, claimed[1]), (first, first_bytes, claimed[0])):
        assert header == {
            "id": delivery["id"],
            "size": delivery["message"]["size"],
            "sha256": delivery["message"]["sha256"],
        }
        assert data == runtime.blobs.get(tenant_id, header["sha256"])
    assert unknown["id"] == "no-such-delivery" and unknown["error"]["status"] == 404
    assert end == {"end": True, "count": 3}

    # an answered delivery is a 409 part, a blob gone from the store a 404 part; the stream still ends
    results = [{"delivery_id": ids[0], "attempt": 1, "outcome": "skipped", "reason": "disk_full"}]
    assert nas.call("POST", "/deliveries/results", json={"results": results}).status_code == 200
    blob = runtime.blobs.path(tenant_id, claimed[1]["message"]["sha256"])  # type: ignore[attr-defined]
    blob.rename(blob.with_suffix(".away"))
    try:
        parts = _parts(nas.call("POST", "/deliveries/messages", json={"ids": ids}).content)
    finally:
        blob.with_suffix(".away").rename(blob)
    assert [(h["id"], h["error"]["status"], h["error"]["error"]) for h, _ in parts[:2]] == [
        (ids[0], 409, "Conflict"),
        (ids[1], 404, "BlobMissing"),
    ]
    assert parts[2][0] == {"end": True, "count": 2}


def test_batched_fetches_are_fenced_and_bounded(runtime: Runtime, http: httpx.Client, filed: list[int]) -> None:
    nas = _agent(runtime, http, "alpha", "NAS")
    assert nas.call("POST", "/deliveries/messages", json={"ids": ["x"]}).status_code == 409  # no lease, no bytes
    assert nas.lease("inst-1", "nas.lan").status_code == 200
    too_many = nas.call("POST", "/deliveries/messages", json={"ids": [str(n) for n in range(101)]})
    assert too_many.status_code == 422 and "ids" in too_many.text
    assert nas.call("POST", "/deliveries/messages", json={"ids": []}).status_code == 422


def test_hello_names_the_holders_installation_and_the_poll_interval(
    runtime: Runtime, http: httpx.Client, alice: Caller
) -> None:
    nas = _agent(runtime, http, "alpha", "NAS")
    assert nas.lease("inst-1", "nas.lan").status_code == 200
    hello = nas.call("GET", "/hello").json()
    assert hello["poll_seconds"] == runtime.settings.connector_poll_seconds == 15
    assert (hello["lease"]["name"], hello["lease"]["instance_id"], hello["lease"]["host"]) == (
        "NAS",
        "inst-1",
        "nas.lan",
    )
