"""Filings through the REST API of a real running server."""

from __future__ import annotations

from postroom.runtime import Runtime
from postroom.services.access import Actor, tenant_for
from postroom.testing.archive import archive_messages
from tests.api.conftest import Caller

LOCATIONS = "/api/v1/tenants/alpha/locations"
FILINGS = "/api/v1/tenants/alpha/filings"
SURREY = {"name": "Surrey Court", "sync_path": "/srv/projects/Surrey Court"}


def _archive(runtime: Runtime, tenant: str, *subjects: str) -> list[int]:
    with runtime.transaction() as session:
        tenant_id = tenant_for(session, Actor.local_admin(), tenant).id
    return archive_messages(runtime, tenant_id, *subjects)


def test_filing_lifecycle(alice: Caller, runtime: Runtime) -> None:
    ids = _archive(runtime, "alpha", "Drawings", "Invoice")
    assert alice.post(LOCATIONS, json=SURREY).status_code == 201
    first = alice.post(f"{LOCATIONS}/surrey%20court/filings", json={"message_ids": [ids[0], ids[0]]})
    assert first.status_code == 200, first.text
    created = first.json()["created"]
    assert [f["message_id"] for f in created] == [ids[0]] and first.json()["already"] == []
    assert (created[0]["status"], created[0]["source"], created[0]["filed_by"]) == (
        "pending",
        "api",
        "alice@example.com",
    )
    second = alice.post(f"{LOCATIONS}/Surrey Court/filings", json={"message_ids": ids}).json()
    assert [f["message_id"] for f in second["created"]] == [ids[1]]
    assert [f["id"] for f in second["already"]] == [created[0]["id"]]

    assert len(alice.get(FILINGS, params={"location": "Surrey Court", "status": "pending"}).json()) == 2
    assert alice.get(FILINGS, params={"status": "written"}).json() == []
    assert alice.get(f"{FILINGS}/{created[0]['id']}").json()["message_id"] == ids[0]
    assert alice.delete(f"{FILINGS}/{created[0]['id']}").status_code == 204
    assert alice.get(f"{FILINGS}/{created[0]['id']}").status_code == 404


def test_bad_requests_answer_with_the_field(alice: Caller, runtime: Runtime) -> None:
    ids = _archive(runtime, "alpha", "Drawings")
    alice.post(LOCATIONS, json={**SURREY, "enabled": False})
    url = f"{LOCATIONS}/Surrey Court/filings"
    disabled = alice.post(url, json={"message_ids": ids})
    assert disabled.status_code == 422 and disabled.json()["detail"][0]["field"] == "location"
    alice.patch(f"{LOCATIONS}/Surrey Court", json={"enabled": True})
    missing = alice.post(url, json={"message_ids": [ids[0], ids[0] + 1000]})
    assert missing.status_code == 404 and str(ids[0] + 1000) in missing.json()["message"]
    assert alice.get(FILINGS).json() == []  # all or nothing
    for body in ({"message_ids": []}, {"message_ids": [0]}, {"message_ids": ids, "x": 1}, {}):
        bad = alice.post(url, json=body)
        assert bad.status_code == 422, body
    status = alice.get(FILINGS, params={"status": "done"})
    assert status.status_code == 422 and status.json()["detail"][0]["field"] == "status"
    assert alice.post(f"{LOCATIONS}/Nowhere/filings", json={"message_ids": ids}).status_code == 404


def test_other_tenants_are_not_found(alice: Caller, bob: Caller, runtime: Runtime) -> None:
    alpha_ids = _archive(runtime, "alpha", "Drawings")
    alice.post(LOCATIONS, json=SURREY)
    filing = alice.post(f"{LOCATIONS}/Surrey Court/filings", json={"message_ids": alpha_ids}).json()["created"][0]
    assert bob.post(f"{LOCATIONS}/Surrey Court/filings", json={"message_ids": alpha_ids}).status_code == 404
    assert bob.get(FILINGS).status_code == 404
    assert bob.get(f"{FILINGS}/{filing['id']}").status_code == 404
    assert bob.delete(f"{FILINGS}/{filing['id']}").status_code == 404
    beta = "/api/v1/tenants/beta"
    bob.post(f"{beta}/locations", json=SURREY)
    stolen = bob.post(f"{beta}/locations/Surrey Court/filings", json={"message_ids": alpha_ids})
    assert stolen.status_code == 404 and "message" in stolen.json()["message"]
    assert bob.get(f"{beta}/filings/{filing['id']}").status_code == 404
