"""The schedules page over the same service as the API: list, search, create, edit, enable and
disable, delete; errors next to the fields with the input kept; other tenants' schedules not found."""

from __future__ import annotations

import re

import httpx

from postroom.runtime import Runtime
from postroom.services import schedules
from tests.portal.conftest import Browser
from tests.portal.test_profiles_page import create as create_profile
from tests.portal.test_profiles_page import tenant_id

DAILY = {
    "name": "Nightly",
    "type": "folder-sync",
    "enabled": "true",
    "recurrence_kind": "daily",
    "at_time": "02:30",
    "at_datetime": "",
    "every_minutes": "",
    "timezone": "Europe/Berlin",
}


def create(browser: Browser, runtime: Runtime, tenant: str = "alpha", **changes: str) -> str:
    profile = changes.pop("profile_id", None) or create_profile(browser, runtime, tenant=tenant)
    response = browser.post(f"/tenants/{tenant}/schedules/new", {**DAILY, "profile_id": profile, **changes})
    assert response.status_code == 303, response.text
    match = re.search(r"saved=([0-9a-f-]+)", response.headers["location"])
    assert match
    return match[1]


def stored(runtime: Runtime, key: str, tenant: str = "alpha") -> dict[str, object]:
    with runtime.transaction() as session:
        t = tenant_id(runtime, tenant)
        return schedules.schedule_to_dict(session, schedules.get_schedule(session, t, key))


def test_create_list_and_edit(browser: Browser, people: None, runtime: Runtime) -> None:
    browser.sign_in("alice@example.com")
    new = browser.client.get("/tenants/alpha/schedules/new").text
    assert '<option value="folder-sync" selected>' in new
    schedule_id = create(browser, runtime)
    data = stored(runtime, schedule_id)
    assert data["recurrence"] == {"kind": "daily", "at": "02:30", "every_minutes": None}
    assert (data["timezone"], data["enabled"], data["profile_name"]) == ("Europe/Berlin", True, "Main IMAP")
    listing = browser.client.get(f"/tenants/alpha/schedules?saved={schedule_id}").text
    assert "Schedule “Nightly” saved." in listing
    row = re.search(r"<tr>\s*<td data-label=\"Name\">.*?</tr>", listing, re.DOTALL)
    assert row
    for cell in ("Nightly", ">yes<", "Folder synchronization", "daily at 02:30", "Profile Main IMAP", "Europe/Berlin"):
        assert cell in row[0], cell

    edit = browser.client.get(f"/tenants/alpha/schedules/{schedule_id}").text
    assert re.search(r'id="f-type" type="text" value="Folder synchronization" readonly', edit)
    assert 'value="02:30"' in edit and 'value="Europe/Berlin"' in edit
    changed = {
        **DAILY,
        "name": "Hourly",
        "type": "directory-sync",
        "recurrence_kind": "interval",
        "every_minutes": "60",
    }
    response = browser.post(f"/tenants/alpha/schedules/{schedule_id}", changed)
    assert response.status_code == 303
    data = stored(runtime, schedule_id)
    assert (data["name"], data["type"]) == ("Hourly", "folder-sync")  # the type stayed
    assert data["recurrence"] == {"kind": "interval", "at": None, "every_minutes": 60}
    assert "every 1 hours" in browser.client.get("/tenants/alpha/schedules").text


def test_validation_errors_are_next_to_the_fields_and_keep_the_input(
    browser: Browser, people: None, runtime: Runtime
) -> None:
    browser.sign_in("alice@example.com")
    form = {**DAILY, "name": "Typed name", "at_time": "02:10", "timezone": "Mars/Olympus", "profile_id": ""}
    response = browser.post("/tenants/alpha/schedules/new", form)
    assert response.status_code == 422
    page = response.text
    assert "The schedule was not saved" in page
    for field, rule in (
        ("at_time", "15-minute frame"),
        ("timezone", "IANA time zone"),
        ("profile_id", "is required"),
    ):
        error = re.search(rf'<p class="field-error" id="f-{field}-error">([^<]*)</p>', page)
        assert error and rule in error[1], field
        assert f'href="#f-{field}"' in page
    assert 'value="Typed name"' in page and 'value="02:10"' in page and 'value="Mars/Olympus"' in page
    once = browser.post("/tenants/alpha/schedules/new", {**form, "recurrence_kind": "once", "at_datetime": "soon"})
    assert re.search(r'id="f-at_datetime-error">[^<]*YYYY-MM-DDTHH:MM', once.text)
    assert 'value="soon"' in once.text
    interval = browser.post(
        "/tenants/alpha/schedules/new", {**form, "recurrence_kind": "interval", "every_minutes": "7"}
    )
    assert re.search(r'id="f-every_minutes-error">[^<]*multiple of 15', interval.text)
    with runtime.transaction() as session:
        assert schedules.list_schedules(session, tenant_id(runtime)) == []

    schedule_id = create(browser, runtime)
    profile = str(stored(runtime, schedule_id)["profile_id"])
    taken = browser.post("/tenants/alpha/schedules/new", {**DAILY, "name": "NIGHTLY", "profile_id": profile})
    assert taken.status_code == 422
    assert re.search(r'id="f-name-error">[^<]*already', taken.text)
    edit = browser.post(f"/tenants/alpha/schedules/{schedule_id}", {**DAILY, "name": "", "at_time": "25:00"})
    assert edit.status_code == 422
    assert re.search(r'id="f-name-error">', edit.text) and re.search(r'id="f-at_time-error">[^<]*HH:MM', edit.text)
    assert 'value="25:00"' in edit.text
    assert stored(runtime, schedule_id)["name"] == "Nightly"  # unchanged


def test_enable_disable_search_and_delete(browser: Browser, people: None, runtime: Runtime) -> None:
    browser.sign_in("alice@example.com")
    nightly = create(browser, runtime)
    profile = str(stored(runtime, nightly)["profile_id"])
    weekly = create(
        browser, runtime, name="Weekly", profile_id=profile, recurrence_kind="interval", every_minutes="10080"
    )
    response = browser.post(
        f"/tenants/alpha/schedules/{nightly}/enabled", {"enabled": "false"}, csrf_from="/tenants/alpha/schedules"
    )
    assert response.status_code == 303
    assert stored(runtime, nightly)["enabled"] is False
    assert 'aria-label="Enable Nightly"' in browser.client.get("/tenants/alpha/schedules").text
    browser.post(
        f"/tenants/alpha/schedules/{nightly}/enabled", {"enabled": "true"}, csrf_from="/tenants/alpha/schedules"
    )
    assert stored(runtime, nightly)["enabled"] is True

    def names(q: str) -> list[str]:
        page = browser.client.get("/tenants/alpha/schedules", params={"q": q}).text
        return re.findall(r'<td data-label="Name"><a href="[^"]+">([^<]+)</a>', page)

    assert names("") == ["Nightly", "Weekly"]
    assert names("EEK") == ["Weekly"]
    assert names(weekly.upper()) == ["Weekly"]
    assert names(weekly[:8]) == []

    assert "Delete schedule “Weekly”?" in browser.client.get(f"/tenants/alpha/schedules/{weekly}/delete").text
    deleted = browser.post(f"/tenants/alpha/schedules/{weekly}/delete", {}, csrf_from="/tenants/alpha/schedules")
    assert deleted.status_code == 303
    assert browser.client.get(f"/tenants/alpha/schedules/{weekly}").status_code == 404
    assert names("") == ["Nightly"]
    # the profiles page's "Create schedule" preselects the profile
    assert (
        f'<option value="{profile}" selected>'
        in browser.client.get(f"/tenants/alpha/schedules/new?profile_id={profile}").text
    )


def test_other_tenants_schedules_are_not_found_and_users_are_refused(
    browser: Browser, people: None, runtime: Runtime, server_url: str
) -> None:
    bob = Browser(httpx.Client(base_url=server_url))
    dave = Browser(httpx.Client(base_url=server_url))
    try:
        bob.sign_in("bob@example.com")
        beta = create(bob, runtime, tenant="beta")
        browser.sign_in("alice@example.com")
        token_from = "/tenants/alpha/schedules"
        assert browser.client.get(f"/tenants/alpha/schedules/{beta}").status_code == 404
        assert browser.client.get(f"/tenants/beta/schedules/{beta}").status_code == 404
        for path, form in (
            (f"/tenants/alpha/schedules/{beta}", {**DAILY, "name": "Stolen"}),
            (f"/tenants/alpha/schedules/{beta}/enabled", {"enabled": "false"}),
            (f"/tenants/alpha/schedules/{beta}/delete", {}),
            (f"/tenants/beta/schedules/{beta}/delete", {}),
        ):
            assert browser.post(path, form, csrf_from=token_from).status_code == 404, path
        data = stored(runtime, beta, "beta")
        assert (data["name"], data["enabled"]) == ("Nightly", True)  # untouched
        dave.sign_in("dave@example.com")
        assert dave.client.get("/tenants/alpha/schedules").status_code == 403
        assert dave.post("/tenants/alpha/schedules/new", DAILY, csrf_from="/tenants/alpha/").status_code == 403
    finally:
        bob.client.close()
        dave.client.close()


def test_a_directory_synchronization_schedule_names_its_directory_service(
    browser: Browser, people: None, runtime: Runtime
) -> None:
    from postroom.services import directories

    with runtime.transaction() as session:
        entries = "anna@example.com,Anna"
        directories.create_directory(
            session, tenant_id(runtime), {"name": "Staff", "type": "static", "entries": entries}
        )
    browser.sign_in("alice@example.com")
    assert 'id="f-directory_service_id"' in browser.client.get("/tenants/alpha/schedules/new").text
    form = {**DAILY, "name": "Users", "type": "directory-sync", "profile_id": "", "directory_service_id": ""}
    refused = browser.post("/tenants/alpha/schedules/new", form)
    assert refused.status_code == 422 and "is required for a directory-sync schedule" in refused.text
    with runtime.transaction() as session:
        staff = directories.get_directory(session, tenant_id(runtime), "Staff").id
    saved = browser.post("/tenants/alpha/schedules/new", {**form, "directory_service_id": staff})
    assert saved.status_code == 303, saved.text
    listing = browser.client.get("/tenants/alpha/schedules").text
    assert "Directory service Staff" in listing
