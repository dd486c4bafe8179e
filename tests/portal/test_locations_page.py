"""The locations page over ``services.locations``: list, search, create, edit, delete, with the
normalised sync path and per-location delivery counts."""

from __future__ import annotations

import re

from postroom.db.models import Filing
from postroom.domain.filing import FilingSource, FilingStatus
from postroom.runtime import Runtime
from postroom.services import filings, locations
from tests.portal.archived import archive_raw, plain_mail, tenant_id
from tests.portal.conftest import Browser

FORM = {"name": "Surrey Court", "sync_path": "\\\\FileServer\\Projects\\Surrey Court\\", "format": "msg"}


def create(browser: Browser, **changes: str) -> str:
    form = {**FORM, "naming_template": "{date} {subject}", "enabled": "true", **changes}
    response = browser.post("/tenants/alpha/locations/new", form)
    assert response.status_code == 303, response.text
    match = re.search(r"saved=([0-9a-f-]+)", response.headers["location"])
    assert match
    return match[1]


def names(browser: Browser, q: str = "") -> list[str]:
    page = browser.client.get("/tenants/alpha/locations", params={"q": q}).text
    return re.findall(r'<td data-label="Name"><a href="[^"]+">([^<]+)</a>', page)


def test_create_list_search_and_edit(browser: Browser, people: None, runtime: Runtime) -> None:
    browser.sign_in("alice@example.com")
    location_id = create(browser)
    listing = browser.client.get(f"/tenants/alpha/locations?saved={location_id}").text
    assert "Location “Surrey Court” saved." in listing
    assert "normalised: <code>//fileserver/projects/Surrey Court</code> (unc)" in listing
    assert "0 pending, 0 written, 0 skipped, 0 failed" in listing
    create(browser, name="Bath Road", sync_path="/srv/projects/bath", format="eml")
    assert names(browser) == ["Bath Road", "Surrey Court"]
    assert names(browser, "SURREY") == ["Surrey Court"]
    assert names(browser, location_id.upper()) == ["Surrey Court"]
    assert names(browser, location_id[:8]) == []
    empty = browser.client.get("/tenants/alpha/locations?q=zzz").text
    assert "No location\N{RIGHT SINGLE QUOTATION MARK}s name contains “zzz”" in empty

    edit = browser.client.get(f"/tenants/alpha/locations/{location_id}").text
    assert 'value="\\\\FileServer\\Projects\\Surrey Court\\"' in edit
    assert '<option value="msg" selected>' in edit
    saved = browser.post(
        f"/tenants/alpha/locations/{location_id}",
        {**FORM, "name": "Surrey Ct", "format": "eml", "naming_template": "{date} {from} {subject}"},
    )
    assert saved.status_code == 303
    with runtime.transaction() as session:
        data = locations.location_to_dict(locations.get_location(session, tenant_id(runtime), location_id))
    assert (data["name"], data["format"], data["enabled"]) == ("Surrey Ct", "eml", False)  # unchecked: disabled
    assert data["naming_template"] == "{date} {from} {subject}"


def test_errors_are_next_to_the_fields_and_keep_the_input(browser: Browser, people: None, runtime: Runtime) -> None:
    browser.sign_in("alice@example.com")
    response = browser.post(
        "/tenants/alpha/locations/new", {"name": "", "sync_path": "projects/relative", "format": "pdf"}
    )
    assert response.status_code == 422
    page = response.text
    assert "The location was not saved" in page
    for field, rule in (("name", "must not be empty"), ("sync_path", "must be absolute"), ("format", "")):
        error = re.search(rf'<p class="field-error" id="f-{field}-error">([^<]*)</p>', page)
        assert error and rule in error[1], field
        assert f'href="#f-{field}"' in page
    assert 'value="projects/relative"' in page
    create(browser)
    same_folder = browser.post(
        "/tenants/alpha/locations/new", {**FORM, "name": "Other", "sync_path": "//fileserver/PROJECTS/surrey court"}
    )
    assert same_folder.status_code == 422
    assert re.search(r'id="f-sync_path-error">[^<]*the sync path is the folder of location', same_folder.text)
    taken = browser.post("/tenants/alpha/locations/new", {**FORM, "name": "surrey court", "sync_path": "/srv/x"})
    assert re.search(r'id="f-name-error">[^<]*already', taken.text)
    with runtime.transaction() as session:
        assert len(locations.search_locations(session, tenant_id(runtime))) == 1


def test_delivery_counts_and_the_last_error(browser: Browser, people: None, runtime: Runtime) -> None:
    alpha = tenant_id(runtime)
    ids = [archive_raw(runtime, alpha, plain_mail(f"Report {day}", day=day)) for day in (1, 2, 3)]
    browser.sign_in("alice@example.com")
    location_id = create(browser)
    with runtime.transaction() as session:
        result = filings.file_messages(session, alpha, location_id, ids, source=FilingSource.API, filed_by="t")
        first, second = result.created[0].id, result.created[1].id
    with runtime.transaction() as session:
        written = session.get(Filing, first)
        skipped = session.get(Filing, second)
        assert written is not None and skipped is not None
        written.status = FilingStatus.WRITTEN.value
        skipped.status, skipped.reason = FilingStatus.SKIPPED.value, "folder-not-writable: permission denied"
    listing = browser.client.get("/tenants/alpha/locations").text
    assert "1 pending, 1 written, 1 skipped, 0 failed" in listing
    assert "Last error: folder-not-writable: permission denied" in listing


def test_delete_asks_first(browser: Browser, people: None, runtime: Runtime) -> None:
    browser.sign_in("alice@example.com")
    location_id = create(browser)
    confirm = browser.client.get(f"/tenants/alpha/locations/{location_id}/delete").text
    assert "Delete location “Surrey Court”?" in confirm
    assert "filing rules that file to it are deleted with it" in confirm
    response = browser.post(f"/tenants/alpha/locations/{location_id}/delete", {}, csrf_from="/tenants/alpha/locations")
    assert response.status_code == 303
    assert browser.client.get(f"/tenants/alpha/locations/{location_id}").status_code == 404
    assert "No location yet." in browser.client.get("/tenants/alpha/locations").text
