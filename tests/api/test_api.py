"""The REST API through a real running server: auth, tenants, secrets, profiles, schedules,
processes, validation errors and tenant isolation."""

from __future__ import annotations

import httpx
import pytest

from postroom.domain.process import ProcessType, Severity
from postroom.runtime import Runtime
from postroom.services import processes
from postroom.services.access import Actor, Role, tenant_for
from tests.api.conftest import BASIC, IMAP, Caller, make_caller


def test_health_and_openapi(http: httpx.Client) -> None:
    assert http.get("/api/v1/health").json()["status"] == "ok"
    spec = http.get("/api/openapi.json").json()
    assert "/api/v1/tenants/{tenant}/profiles" in spec["paths"]
    assert http.get("/api/docs").status_code == 200


@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Bearer pr_0123456789ab_" + "x" * 43])
def test_requests_without_a_valid_token_get_401(http: httpx.Client, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = http.get("/api/v1/tenants", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["message"]


def test_password_login_gives_a_token_that_works_and_can_be_revoked(http: httpx.Client, root: Caller) -> None:
    bad = http.post("/api/v1/auth/token", json={"email": "root@example.com", "password": "wrong"})
    assert bad.status_code == 401
    answer = http.post("/api/v1/auth/token", json={"email": "ROOT@example.com", "password": "a-long-password-1"})
    assert answer.status_code == 201
    token = answer.json()["token"]
    me = http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["email"] == "root@example.com"
    listed = root.get("/api/v1/tokens").json()
    assert all("token" not in t and "secret_hash" not in t for t in listed)
    assert root.delete(f"/api/v1/tokens/{answer.json()['id']}").json()["revoked"] is True
    assert http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_tenants_are_created_by_superadmins_only(root: Caller, alice: Caller) -> None:
    assert root.post("/api/v1/tenants", json={"name": "Gamma-1"}).json()["name"] == "gamma-1"
    assert root.post("/api/v1/tenants", json={"name": "gamma-1"}).status_code == 409
    bad = root.post("/api/v1/tenants", json={"name": "no spaces"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "name"
    assert alice.post("/api/v1/tenants", json={"name": "delta"}).status_code == 403
    assert [t["name"] for t in alice.get("/api/v1/tenants").json()] == ["alpha"]
    assert {t["name"] for t in root.get("/api/v1/tenants").json()} >= {"alpha", "beta", "gamma-1"}


def test_profile_lifecycle(alice: Caller) -> None:
    base = "/api/v1/tenants/alpha"
    secret = alice.post(f"{base}/secrets", json=BASIC)
    assert secret.status_code == 201, secret.text
    assert "S3cret-value!" not in secret.text and "values" not in secret.json()
    created = alice.post(f"{base}/profiles", json=IMAP)
    assert created.status_code == 201, created.text
    profile = created.json()
    assert (profile["port"], profile["secret_name"], profile["deletable"]) == (993, "Mail login", True)

    assert [p["id"] for p in alice.get(f"{base}/profiles", params={"q": "main"}).json()] == [profile["id"]]
    assert [p["id"] for p in alice.get(f"{base}/profiles", params={"q": profile["id"].upper()}).json()] == [
        profile["id"]
    ]
    assert alice.get(f"{base}/profiles", params={"q": "nothing"}).json() == []

    renamed = alice.patch(f"{base}/profiles/{profile['id']}", json={"name": "Primary", "timeout": 30})
    assert renamed.json()["name"] == "Primary" and renamed.json()["timeout"] == 30
    retype = alice.patch(f"{base}/profiles/primary", json={"type": "exchange"})
    assert retype.status_code == 422 and retype.json()["detail"][0]["field"] == "type"

    schedule = alice.post(
        f"{base}/schedules",
        json={
            "name": "Nightly",
            "profile_id": "Primary",
            "recurrence": {"kind": "daily", "at": "02:30"},
            "timezone": "Europe/London",
        },
    )
    assert schedule.status_code == 201, schedule.text
    refused = alice.delete(f"{base}/profiles/{profile['id']}")
    assert refused.status_code == 409 and "Nightly" in refused.json()["message"]
    assert alice.get(f"{base}/profiles/{profile['id']}").json()["deletable"] is False
    assert alice.delete(f"{base}/secrets/mail%20login").status_code == 409
    assert alice.delete(f"{base}/schedules/nightly").status_code == 204
    assert alice.delete(f"{base}/profiles/{profile['id']}").status_code == 204
    assert alice.get(f"{base}/profiles/{profile['id']}").status_code == 404


def test_validation_errors_name_every_field(alice: Caller) -> None:
    bad = alice.post(
        "/api/v1/tenants/alpha/profiles",
        json={
            **IMAP,
            "secret_id": None,
            "server_name": "imaps://mail.example.com:993",
            "port": 70000,
            "protocol": "POP3",
            "timeout": -1,
            "application_id": "x",
        },
    )
    assert bad.status_code == 422
    fields = {d["field"] for d in bad.json()["detail"]}
    assert fields == {"server_name", "port", "protocol", "timeout", "secret_id", "application_id"}
    assert all(d["msg"] for d in bad.json()["detail"])
    malformed = alice.post("/api/v1/tenants/alpha/profiles", json={**IMAP, "colour": "blue"})
    assert malformed.status_code == 422 and malformed.json()["detail"][0]["field"] == "colour"
    policy = alice.post(
        "/api/v1/tenants/alpha/profiles",
        json={**IMAP, "delete_policy": {"when": "message-older-than", "unit": "days"}},
    )
    assert policy.status_code == 422
    assert {d["field"] for d in policy.json()["detail"]} == {"secret_id", "delete_policy.amount"}


def test_tenant_isolation(runtime: Runtime, alice: Caller, bob: Caller) -> None:
    """Everything of tenant alpha is 404 for an administrator of tenant beta — never 403."""
    base = "/api/v1/tenants/alpha"
    secret_id = alice.post(f"{base}/secrets", json=BASIC).json()["id"]
    profile_id = alice.post(f"{base}/profiles", json=IMAP).json()["id"]
    with runtime.transaction() as session:
        tenant = tenant_for(session, Actor.local_admin(), "alpha")
        process = processes.start_process(session, tenant.id, ProcessType.FOLDER_SYNC, configuration_id=profile_id)
        request_id = process.request_id
    for url in (
        base,
        f"{base}/profiles",
        f"{base}/profiles/{profile_id}",
        f"{base}/secrets",
        f"{base}/secrets/{secret_id}",
        f"{base}/processes",
        f"{base}/processes/{request_id}",
        f"{base}/schedules",
        f"{base}/users",
    ):
        assert bob.get(url).status_code == 404, url
    assert bob.patch(f"{base}/profiles/{profile_id}", json={"name": "x"}).status_code == 404
    assert bob.delete(f"{base}/profiles/{profile_id}").status_code == 404
    assert bob.post(f"{base}/processes/{request_id}/cancel").status_code == 404
    # even through bob's own tenant, alpha's things do not exist
    assert bob.get(f"/api/v1/tenants/beta/profiles/{profile_id}").status_code == 404
    assert bob.get(f"/api/v1/tenants/beta/secrets/{secret_id}").status_code == 404
    assert bob.get(f"/api/v1/tenants/beta/processes/{request_id}").status_code == 404
    assert bob.post("/api/v1/tenants/beta/profiles", json={**IMAP, "secret_id": secret_id}).status_code == 422


def test_users_role_cannot_manage_configuration(runtime: Runtime, http: httpx.Client, two_tenants: None) -> None:
    staff = make_caller(runtime, http, "staff@example.com", "alpha", Role.USER)
    assert staff.get("/api/v1/tenants/alpha").status_code == 200
    denied = staff.get("/api/v1/tenants/alpha/profiles")
    assert denied.status_code == 403 and "admin role" in denied.json()["message"]


def test_process_log(runtime: Runtime, alice: Caller) -> None:
    base = "/api/v1/tenants/alpha"
    alice.post(f"{base}/secrets", json=BASIC)
    profile = alice.post(f"{base}/profiles", json=IMAP).json()
    with runtime.transaction() as session:
        tenant = tenant_for(session, Actor.local_admin(), "alpha")
        run = processes.start_process(session, tenant.id, ProcessType.FOLDER_SYNC, configuration_id=profile["id"])
        child = processes.start_process(session, tenant.id, ProcessType.MAILBOX_SYNC, parent=run)
        processes.log(session, child, Severity.ERROR, "NO [AUTHENTICATIONFAILED] Authentication failed.")
        processes.finish_process(session, child)
        quiet = processes.start_process(session, tenant.id, ProcessType.CONNECTION_TEST)
        processes.finish_process(session, quiet)
        run_id = run.request_id
    listed = alice.get(f"{base}/processes").json()
    assert {p["request_id"] for p in listed} == {run_id, quiet.request_id}
    errors = alice.get(f"{base}/processes", params={"min_severity": "error"}).json()
    assert [p["request_id"] for p in errors] == [run_id]
    assert errors[0]["configuration_name"] == "Main IMAP"
    assert alice.get(f"{base}/processes", params={"type": "connection-test"}).json()[0]["status"] == "succeeded"
    details = alice.get(f"{base}/processes/{run_id}").json()
    assert details["subprocesses"][0]["messages"][0]["text"].startswith("NO [AUTHENTICATIONFAILED]")
    bad = alice.get(f"{base}/processes", params={"min_severity": "loud", "type": "x"})
    assert bad.status_code == 422
    assert alice.post(f"{base}/processes/{run_id}/cancel").json()["cancel_requested"] is True
    assert alice.post(f"{base}/processes/{quiet.request_id}/cancel").status_code == 409
