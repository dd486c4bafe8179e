"""Schedules through the real server: next and last run, editing the recurrence, and "run now"."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from postroom.runtime import Runtime
from postroom.services import processes
from postroom.services.access import Actor, tenant_for
from tests.api.conftest import BASIC, IMAP, Caller

BASE = "/api/v1/tenants/alpha"


def test_schedule_times_edit_and_run_now(alice: Caller, bob: Caller, runtime: Runtime) -> None:
    assert alice.post(f"{BASE}/secrets", json=BASIC).status_code == 201
    assert alice.post(f"{BASE}/profiles", json=IMAP).status_code == 201
    created = alice.post(
        f"{BASE}/schedules",
        json={
            "name": "Nightly",
            "profile_id": "Main IMAP",
            "recurrence": {"kind": "daily", "at": "02:30"},
            "timezone": "Europe/London",
        },
    )
    assert created.status_code == 201, created.text
    schedule = created.json()
    due = datetime.fromisoformat(schedule["next_run_at"])
    assert due > datetime.now(UTC) and due.astimezone(ZoneInfo("Europe/London")).strftime("%H:%M") == "02:30"
    assert (schedule["last_run_at"], schedule["last_process"]) == (None, None)

    edited = alice.patch(
        f"{BASE}/schedules/nightly", json={"recurrence": {"kind": "interval", "every_minutes": 90}, "name": "Often"}
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["name"] == "Often" and edited.json()["recurrence_text"] == "every 90 minutes"
    local = datetime.fromisoformat(edited.json()["next_run_at"]).astimezone(ZoneInfo("Europe/London"))
    assert (local.hour * 60 + local.minute) % 90 == 0
    assert alice.patch(f"{BASE}/schedules/often", json={"type": "directory-sync"}).status_code == 422
    assert (
        alice.patch(f"{BASE}/schedules/often", json={"recurrence": {"kind": "daily", "at": "02:10"}}).status_code == 422
    )

    paused = alice.patch(f"{BASE}/schedules/often", json={"enabled": False}).json()
    assert paused["enabled"] is False and paused["next_run_at"] is None

    ran = alice.post(f"{BASE}/schedules/often/run")
    assert ran.status_code == 202, ran.text
    body = ran.json()
    assert body["status"] == "queued" and body["request_id"].startswith("R-")
    shown = alice.get(f"{BASE}/processes/{body['request_id']}").json()
    assert (shown["type"], shown["status"], shown["configuration_name"]) == ("folder-sync", "queued", "Main IMAP")
    listed = alice.get(f"{BASE}/schedules").json()[0]
    assert listed["last_process"]["request_id"] == body["request_id"] and listed["last_run_at"]

    assert bob.post(f"{BASE}/schedules/often/run").status_code == 404
    with runtime.transaction() as session:  # nothing consumes this server's queue: close the run
        tenant_id = tenant_for(session, Actor.local_admin(), "alpha").id
        processes.request_cancel(session, tenant_id, body["request_id"])
