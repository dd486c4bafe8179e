"""Directory services through the REST API of a real running server, reading a real slapd."""

from __future__ import annotations

import time
from typing import Any

from postroom.testing.slapd import Slapd
from tests.api.conftest import Caller
from tests.directory.servers import USERS, slapd

__all__ = ["slapd"]

BASE = "/api/v1/tenants/alpha/directory-services"


def wait_for(caller: Caller, url: str, seconds: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        process = caller.get(url).json()
        if process["status"] not in ("queued", "running"):
            return process  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"{url} still running after {seconds} s")


def ldap_body(server: Slapd, **changes: object) -> dict[str, object]:
    return {
        "name": "Head office",
        "type": "ldap",
        "server_name": server.host,
        "port": server.ldaps_port,
        "security": "ldaps",
        "tls_trusted_ca": server.ca_pem,
        "base_dn": server.base_dn,
        "secret_id": "LDAP bind",
        "page_size": 2,
        **changes,
    }


def add_bind_secret(caller: Caller, server: Slapd, password: str | None = None) -> None:
    values = {"username": server.bind_dn, "password": password or server.bind_password}
    created = caller.post(
        "/api/v1/tenants/alpha/secrets", json={"name": "LDAP bind", "kind": "basic", "values": values}
    )
    assert created.status_code == 201, created.text


def test_static_lifecycle(alice: Caller) -> None:
    created = alice.post(BASE, json={"name": "Board", "type": "static", "entries": "anna@Example.com,Anna\nbob@x.org"})
    assert created.status_code == 201, created.text
    board = created.json()
    assert (board["type"], board["entry_count"]) == ("static", 2)
    listed = alice.post(
        BASE,
        json={"name": "Contractors", "type": "static", "entries": [{"address": "c@x.org"}, "d@x.org"]},
    )
    assert listed.status_code == 201, listed.text

    assert [d["name"] for d in alice.get(BASE).json()] == ["Board", "Contractors"]
    assert [d["name"] for d in alice.get(BASE, params={"q": "tract"}).json()] == ["Contractors"]
    assert alice.get(f"{BASE}/{board['id'].upper()}").json()["name"] == "Board"

    patched = alice.patch(f"{BASE}/board", json={"entries": "address\ncarol@example.com\n"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["entries"] == [{"address": "carol@example.com", "display_name": None}]
    mailboxes = alice.get(f"{BASE}/Board/mailboxes").json()
    assert [m["address"] for m in mailboxes["mailboxes"]] == ["carol@example.com"]
    assert (mailboxes["count"], mailboxes["invalid"]) == (1, [])

    assert alice.delete(f"{BASE}/Board").status_code == 204
    assert alice.get(f"{BASE}/Board").status_code == 404


def test_invalid_fields_answer_422_naming_each_field(alice: Caller) -> None:
    bad = alice.post(
        BASE,
        json={"name": "AD", "type": "ldap", "server_name": "ldaps://dc1:636", "port": 0, "filter": "mail=*"},
    )
    assert bad.status_code == 422
    detail = {d["field"]: d["msg"] for d in bad.json()["detail"]}
    assert set(detail) == {"server_name", "port", "base_dn", "filter"}
    csv = alice.post(BASE, json={"name": "L", "type": "static", "entries": "a@example.com\nnot an address"})
    assert csv.status_code == 422 and csv.json()["detail"][0]["msg"].startswith("line 2: ")
    unknown = alice.post(BASE, json={"name": "L", "type": "static", "colour": "red"})
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["field"] == "colour"
    retype = alice.post(BASE, json={"name": "L", "type": "static"})
    assert alice.patch(f"{BASE}/{retype.json()['id']}", json={"type": "ldap"}).status_code == 422


def test_other_tenants_directory_services_are_not_found(alice: Caller, bob: Caller) -> None:
    board = alice.post(BASE, json={"name": "Board", "type": "static", "entries": "a@example.com"}).json()
    assert bob.get(BASE).status_code == 404  # no role in alpha: alpha is not found for bob
    assert bob.get(f"{BASE}/{board['id']}").status_code == 404
    beta = "/api/v1/tenants/beta/directory-services"
    assert bob.get(f"{beta}/{board['id']}").status_code == 404
    assert bob.get(f"{beta}/Board/mailboxes").status_code == 404
    assert bob.post(f"{beta}/Board/sync").status_code == 404
    assert bob.get(beta).json() == []
    assert bob.post(beta, json={"name": "Board", "type": "static"}).status_code == 201  # names are per tenant


def test_ldap_mailboxes_test_and_sync(alice: Caller, slapd: Slapd) -> None:
    add_bind_secret(alice, slapd)
    created = alice.post(BASE, json=ldap_body(slapd))
    assert created.status_code == 201, created.text
    assert created.json()["bind_dn"] == slapd.bind_dn

    mailboxes = alice.get(f"{BASE}/Head office/mailboxes").json()
    assert mailboxes["count"] == USERS + 1 and mailboxes["duplicates"] == 1
    assert mailboxes["mailboxes"][1] == {
        "address": "user01@example.test",
        "display_name": "User 01",
        "external_id": mailboxes["mailboxes"][1]["external_id"],
    }

    test = alice.post(f"{BASE}/head%20office/test")
    assert test.status_code == 200 and test.json()["ok"], test.text
    assert [s["name"] for s in test.json()["steps"]] == ["connect", "bind", "search"]
    assert "Connection test passed" in test.json()["text"]

    started = alice.post(f"{BASE}/Head office/sync")
    assert started.status_code == 202, started.text
    process = wait_for(alice, started.json()["process"])
    assert (process["type"], process["status"], process["configuration_name"]) == (
        "directory-sync",
        "succeeded",
        "Head office",
    )
    assert f"({USERS + 1} new archive mailboxes)" in process["messages"][-1]["text"]


def test_a_directory_that_refuses_answers_502_and_its_test_says_why(alice: Caller, slapd: Slapd) -> None:
    add_bind_secret(alice, slapd, password="wrong")
    assert alice.post(BASE, json=ldap_body(slapd)).status_code == 201
    listing = alice.get(f"{BASE}/Head office/mailboxes")
    assert listing.status_code == 502
    assert listing.json()["error"] == "SourceAuthFailed" and "invalidCredentials (49)" in listing.json()["message"]
    test = alice.post(f"{BASE}/Head office/test").json()
    assert (test["ok"], test["failed_step"]) == (False, "bind")
    process = wait_for(alice, alice.post(f"{BASE}/Head office/sync").json()["process"])
    assert (process["status"], process["max_severity"]) == ("failed", "error")


def test_delete_is_refused_while_a_profile_uses_it(alice: Caller, slapd: Slapd) -> None:
    add_bind_secret(alice, slapd)
    assert alice.post(BASE, json=ldap_body(slapd)).status_code == 201
    profile = {
        "name": "Everyone",
        "type": "imap",
        "mode": "multiple",
        "server_name": "mail.example.test",
        "protocol": "IMAP-SSL",
        "secret_id": "LDAP bind",
        "directory_service_id": "Head office",
    }
    assert alice.post("/api/v1/tenants/alpha/profiles", json=profile).status_code == 201
    refused = alice.delete(f"{BASE}/Head office")
    assert refused.status_code == 409 and "used by profile 'Everyone'" in refused.json()["message"]
    assert alice.delete("/api/v1/tenants/alpha/profiles/Everyone").status_code == 204
    assert alice.delete(f"{BASE}/Head office").status_code == 204
