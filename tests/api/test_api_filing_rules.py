"""Filing rules through the REST API of a real running server."""

from __future__ import annotations

from postroom.runtime import Runtime
from postroom.services.access import Actor, tenant_for
from postroom.testing.archive import archive_messages
from tests.api.conftest import Caller

LOCATIONS = "/api/v1/tenants/alpha/locations"
RULES = "/api/v1/tenants/alpha/filing-rules"
FILINGS = "/api/v1/tenants/alpha/filings"
SURREY = {"name": "Surrey Court", "sync_path": "/srv/projects/Surrey Court"}
RULE = {"name": "Codes", "location": "Surrey Court", "conditions": {"project_code": r"\b(P-\d{3,5})\b"}}


def _archive(runtime: Runtime, tenant: str, *subjects: str) -> list[int]:
    with runtime.transaction() as session:
        tenant_id = tenant_for(session, Actor.local_admin(), tenant).id
    return archive_messages(runtime, tenant_id, *subjects)


def test_rule_lifecycle(alice: Caller, runtime: Runtime) -> None:
    ids = _archive(runtime, "alpha", "Drawings P-1234", "Invoice")
    alice.post(LOCATIONS, json=SURREY)
    created = alice.post(RULES, json=RULE)
    assert created.status_code == 201, created.text
    rule = created.json()
    assert (rule["location"], rule["enabled"], rule["conditions"]) == ("Surrey Court", True, RULE["conditions"])
    assert alice.post(RULES, json=RULE).status_code == 409
    applied = alice.post(f"{RULES}/apply", json={})
    assert applied.status_code == 200 and applied.json() == {"messages": 2, "filed": 1, "by_rule": {"Codes": 1}}
    assert alice.post(f"{RULES}/apply", json={"rule": "codes"}).json()["filed"] == 0
    assert [(f["message_id"], f["filed_by"]) for f in alice.get(FILINGS).json()] == [(ids[0], "rule Codes")]

    edited = alice.patch(f"{RULES}/{rule['id']}", json={"enabled": False, "conditions": {"subject": "invoice"}})
    assert edited.status_code == 200 and edited.json()["conditions"]["subject"] == "invoice"
    assert alice.get(f"{RULES}/Codes").json()["enabled"] is False
    assert [r["id"] for r in alice.get(RULES).json()] == [rule["id"]]
    assert alice.delete(f"{RULES}/Codes").status_code == 204
    assert alice.get(f"{RULES}/Codes").status_code == 404


def test_bad_rules_answer_with_the_field(alice: Caller) -> None:
    alice.post(LOCATIONS, json=SURREY)
    bad = alice.post(RULES, json={**RULE, "conditions": {"subject": "(unclosed"}})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "conditions.subject"
    group = alice.post(RULES, json={**RULE, "conditions": {"project_code": "P-\\d+"}})
    assert group.status_code == 422 and group.json()["detail"][0]["field"] == "conditions.project_code"
    nowhere = alice.post(RULES, json={**RULE, "location": "Nowhere"})
    assert nowhere.status_code == 422 and nowhere.json()["detail"][0]["field"] == "location"
    assert alice.post(RULES, json={**RULE, "conditions": {}}).status_code == 422
    assert alice.post(f"{RULES}/apply", json={"rule": "Nope"}).status_code == 404


def test_other_tenants_are_not_found(alice: Caller, bob: Caller) -> None:
    alice.post(LOCATIONS, json=SURREY)
    rule = alice.post(RULES, json=RULE).json()
    assert bob.get(RULES).status_code == 404
    assert bob.post(RULES, json=RULE).status_code == 404
    assert bob.get(f"{RULES}/{rule['id']}").status_code == 404
    assert bob.patch(f"{RULES}/{rule['id']}", json={"enabled": False}).status_code == 404
    assert bob.delete(f"{RULES}/{rule['id']}").status_code == 404
    assert bob.post(f"{RULES}/apply", json={}).status_code == 404
    beta = "/api/v1/tenants/beta/filing-rules"
    assert bob.get(f"{beta}/{rule['id']}").status_code == 404
    assert alice.get(f"{RULES}/{rule['id']}").status_code == 200
