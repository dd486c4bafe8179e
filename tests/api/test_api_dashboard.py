"""GET …/dashboard: the portal's first page as data, for administrators of the tenant only."""

from __future__ import annotations

import httpx

from postroom.runtime import Runtime
from postroom.services.access import Role
from tests.api.conftest import Caller, make_caller


def test_the_dashboard_is_for_the_tenants_administrators(
    runtime: Runtime, http: httpx.Client, alice: Caller, bob: Caller
) -> None:
    answer = alice.get("/api/v1/tenants/alpha/dashboard")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) >= {"running", "failed", "failed_since", "mailboxes", "messages", "connectors", "backlog"}
    assert body["notifications"] == []
    assert bob.get("/api/v1/tenants/alpha/dashboard").status_code == 404  # another tenant's: not found
    dave = make_caller(runtime, http, "dave@example.com", "alpha", Role.USER)
    assert dave.get("/api/v1/tenants/alpha/dashboard").status_code == 403
