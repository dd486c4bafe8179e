"""``POST /api/v1/tenants/{tenant}/profiles/{key}/test`` through the real running server."""

from __future__ import annotations

import secrets

from postroom.db.models import DirectoryService
from postroom.domain.naming import name_key
from postroom.runtime import Runtime
from postroom.services.access import Actor, tenant_for
from postroom.testing.dovecot import Dovecot
from tests.api.conftest import Caller

BASE = "/api/v1/tenants/alpha"


def _profile(alice: Caller, dovecot: Dovecot) -> tuple[str, str]:
    """A secret for a fresh Dovecot user and a single-mailbox profile "Dovecot" for it: (user, password)."""
    user, password = f"api-test-{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    dovecot.add_user(user, password)
    secret = {"name": "Dovecot login", "kind": "basic", "values": {"username": user, "password": password}}
    assert alice.post(f"{BASE}/secrets", json=secret).status_code == 201
    profile = {
        "name": "Dovecot",
        "type": "imap",
        "mode": "single",
        "server_name": dovecot.host,
        "port": dovecot.imap_port,
        "protocol": "IMAP-TLS",
        "secret_id": "Dovecot login",
        "mailbox": f"{user}@example.test",
        "timeout": 10,
        "tls_trusted_ca": dovecot.ca_cert_path.read_text(),
    }
    created = alice.post(f"{BASE}/profiles", json=profile)
    assert created.status_code == 201, created.text
    return user, password


def test_the_result_is_200_whether_or_not_the_test_passed(alice: Caller, dovecot: Dovecot) -> None:
    user, password = _profile(alice, dovecot)
    dovecot.append(user, password, "INBOX", b"Subject: hello\r\n\r\nbody\r\n")

    passed = alice.post(f"{BASE}/profiles/dovecot/test")
    assert passed.status_code == 200, passed.text
    body = passed.json()
    assert (body["ok"], body["failed_step"], body["profile"]) == (True, None, "Dovecot")
    assert body["target"] == f"IMAP-TLS {dovecot.host}:{dovecot.imap_port}"
    assert [s["name"] for s in body["steps"]] == [
        "dns", "tcp", "greeting", "tls", "capabilities", "login", "folders",
    ]  # fmt: skip
    assert [s["status"] for s in body["steps"]] == ["ok"] * 7
    folders = body["steps"][-1]["details"]
    assert (folders["folders"][0]["name"], folders["folders"][0]["messages"], folders["total_messages"]) == (
        "INBOX",
        1,
        1,
    )
    assert body["text"].startswith("Connection test passed")
    assert f"Request ID: {body['request_id']}" in body["text"]
    process = alice.get(f"{BASE}/processes/{body['request_id']}").json()
    assert (process["type"], process["status"], process["configuration_name"]) == (
        "connection-test",
        "succeeded",
        "Dovecot",
    )

    changed = {"values": {"username": user, "password": "not-the-password"}}
    assert alice.patch(f"{BASE}/secrets/Dovecot login", json=changed).status_code == 200
    refused = alice.post(f"{BASE}/profiles/Dovecot/test", json={})
    assert refused.status_code == 200, refused.text
    body = refused.json()
    assert (body["ok"], body["failed_step"]) == (False, "login")
    login = body["steps"][5]
    assert (login["status"], login["error"], login["hint"]) == (
        "failed",
        "NO [AUTHENTICATIONFAILED] Authentication failed.",
        "check the secret's user name and password",
    )
    assert body["steps"][6]["status"] == "skipped"
    assert "not-the-password" not in refused.text
    process = alice.get(f"{BASE}/processes/{body['request_id']}").json()
    assert (process["status"], process["max_severity"]) == ("failed", "error")


def test_a_multiple_mailbox_profile_answers_422_until_a_mailbox_is_chosen(
    alice: Caller, runtime: Runtime, dovecot: Dovecot
) -> None:
    user, _password = _profile(alice, dovecot)
    master, master_password = f"archiver-{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    dovecot.add_master_user(master, master_password)  # multiple mode: an administrator acting as the mailbox
    secret = {"name": "Archiver", "kind": "basic", "values": {"username": master, "password": master_password}}
    assert alice.post(f"{BASE}/secrets", json=secret).status_code == 201
    with runtime.transaction() as session:
        tenant = tenant_for(session, Actor.local_admin(), "alpha")
        session.add(DirectoryService(tenant_id=tenant.id, name="Staff", name_key=name_key("Staff"), type="static"))
    edited = alice.patch(
        f"{BASE}/profiles/Dovecot",
        json={"mode": "multiple", "directory_service_id": "Staff", "secret_id": "Archiver"},
    )
    assert edited.status_code == 200, edited.text

    for body in (None, {}, {"mailbox": None}, {"mailbox": " "}):
        missing = alice.post(f"{BASE}/profiles/Dovecot/test", json=body)
        assert missing.status_code == 422, missing.text
        assert missing.json()["detail"][0]["field"] == "mailbox"
        assert "choose the mailbox to test" in missing.json()["message"]
    wrong = alice.post(f"{BASE}/profiles/Dovecot/test", json={"mailbox": "anna"})
    assert wrong.status_code == 422 and "must be an e-mail address" in wrong.json()["message"]
    extra = alice.post(f"{BASE}/profiles/Dovecot/test", json={"mailbox": "anna@example.test", "port": 1})
    assert extra.status_code == 422 and extra.json()["detail"][0]["field"] == "port"

    chosen = alice.post(f"{BASE}/profiles/Dovecot/test", json={"mailbox": f"{user}@example.test"})
    assert chosen.status_code == 200, chosen.text
    assert (chosen.json()["ok"], chosen.json()["mailbox"]) == (True, f"{user}@example.test"), chosen.text


def test_unknown_profiles_and_other_tenants_answer_404(alice: Caller, bob: Caller, dovecot: Dovecot) -> None:
    _profile(alice, dovecot)
    assert alice.post(f"{BASE}/profiles/no-such-profile/test").status_code == 404
    assert bob.post(f"{BASE}/profiles/Dovecot/test").status_code == 404
    assert bob.post("/api/v1/tenants/beta/profiles/Dovecot/test").status_code == 404
