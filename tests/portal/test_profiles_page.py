"""The folder-synchronization profiles page (seed 002) over the same service as the API."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute

from postroom.runtime import Runtime
from postroom.services import profiles, schedules
from postroom.services.access import Actor, tenant_for
from postroom.web.portal import ROUTERS
from tests.portal.conftest import Browser

IMAP_FORM = {
    "name": "Main IMAP",
    "type": "imap",
    "mode": "single",
    "delete_when": "never",
    "mailbox": "anna@example.com",
    "server_name": "mail.example.com",
    "protocol": "IMAP-SSL",
    "port": "",
    "timeout": "",
}


def secret_id(runtime: Runtime, tenant: str) -> str:
    from postroom.services import secrets

    with runtime.transaction() as session:
        t = tenant_for(session, Actor.local_admin(), tenant)
        return secrets.get_secret(session, t.id, "Mail login").id


def create(browser: Browser, runtime: Runtime, tenant: str = "alpha", **changes: str) -> str:
    form = {**IMAP_FORM, "secret_id": secret_id(runtime, tenant), **changes}
    response = browser.post(f"/tenants/{tenant}/profiles/new", form)
    assert response.status_code == 303, response.text
    match = re.search(r"saved=([0-9a-f-]+)", response.headers["location"])
    assert match
    return match[1]


def test_create_list_and_edit(browser: Browser, people: None, runtime: Runtime) -> None:
    browser.sign_in("alice@example.com")
    profile_id = create(browser, runtime)
    listing = browser.client.get(f"/tenants/alpha/profiles?saved={profile_id}").text
    assert "Profile “Main IMAP” saved." in listing
    assert "mail.example.com" in listing
    with runtime.transaction() as session:
        data = profiles.profile_to_dict(session, profiles.get_profile(session, tenant_id(runtime), profile_id))
    assert data["port"] == 993  # the protocol's default, from the service
    edit = browser.client.get(f"/tenants/alpha/profiles/{profile_id}").text
    assert 'value="IMAP" readonly' in edit  # the type is shown, not editable
    assert 'value="mail.example.com"' in edit
    saved = browser.post(
        f"/tenants/alpha/profiles/{profile_id}",
        {**IMAP_FORM, "name": "Renamed", "type": "exchange", "secret_id": secret_id(runtime, "alpha"), "port": "1993"},
    )
    assert saved.status_code == 303
    with runtime.transaction() as session:
        data = profiles.profile_to_dict(session, profiles.get_profile(session, tenant_id(runtime), profile_id))
    assert (data["name"], data["type"], data["port"]) == ("Renamed", "imap", 1993)  # the type stayed


def tenant_id(runtime: Runtime, name: str = "alpha") -> str:
    with runtime.transaction() as session:
        return tenant_for(session, Actor.local_admin(), name).id


def test_validation_errors_are_next_to_the_fields_and_keep_the_input(
    browser: Browser, people: None, runtime: Runtime
) -> None:
    browser.sign_in("alice@example.com")
    form = {
        **IMAP_FORM,
        "name": "Typed name",
        "server_name": "imaps://mail.example.com:993",
        "port": "70000",
        "timeout": "soon",
        "delete_when": "message-older-than",
        "delete_amount": "0",
        "delete_unit": "weeks",
        "secret_id": "",
    }
    response = browser.post("/tenants/alpha/profiles/new", form)
    assert response.status_code == 422
    page = response.text
    assert "The profile was not saved" in page
    for field, rule in (
        ("server_name", "without protocol"),
        ("port", "between 0 and 65535"),
        ("timeout", "whole number of seconds"),
        ("secret_id", "is required"),
        ("delete_amount", "whole number between 1 and"),
    ):
        error = re.search(rf'<p class="field-error" id="f-{field}-error">([^<]*)</p>', page)
        assert error and rule in error[1], field
        assert f'href="#f-{field}"' in page  # the summary links to the field
    assert 'value="Typed name"' in page
    assert 'value="imaps://mail.example.com:993"' in page
    assert 'value="70000"' in page
    assert '<option value="weeks" selected>' in page
    assert '<option value="message-older-than" selected>' in page
    with runtime.transaction() as session:
        assert profiles.search_profiles(session, tenant_id(runtime)) == []


def test_the_same_name_twice_is_an_error_on_the_name(browser: Browser, people: None, runtime: Runtime) -> None:
    browser.sign_in("alice@example.com")
    create(browser, runtime)
    response = browser.post(
        "/tenants/alpha/profiles/new", {**IMAP_FORM, "name": "main imap", "secret_id": secret_id(runtime, "alpha")}
    )
    assert response.status_code == 422
    assert re.search(r'id="f-name-error">[^<]*already', response.text)


def test_the_form_shows_only_the_fields_of_the_type_and_mode(browser: Browser, people: None) -> None:
    browser.sign_in("alice@example.com")

    def inputs(query: str) -> set[str]:
        page = browser.client.get(f"/tenants/alpha/profiles/new?_swap=1&{query}").text
        form = page[page.index('id="type-fields"') :] if 'id="type-fields"' in page else ""
        return set(re.findall(r'name="([a-z_]+)"', form))

    assert inputs("type=imap&mode=single") == {
        "mailbox", "server_name", "protocol", "port", "secret_id", "timeout", "tls_trusted_ca", "tls_fingerprint"
    }  # fmt: skip
    assert inputs("type=imap&mode=multiple") == {
        "directory_service_id", "synchronize_users", "server_name", "protocol", "port", "secret_id", "timeout",
        "tls_trusted_ca", "tls_fingerprint",
    }  # fmt: skip
    assert inputs("type=microsoft365&mode=single") == {
        "mailbox", "secret_id", "source_mailbox", "application_id", "directory_id"
    }  # fmt: skip
    assert inputs("type=google-workspace&mode=multiple") == {"directory_service_id", "synchronize_users", "secret_id"}
    outlook = browser.client.get("/tenants/alpha/profiles/new?_swap=1&type=outlook-com&mode=single").text
    assert '<option value="multiple"' not in outlook  # Outlook.com is single mailbox only
    # what was typed survives the swap
    assert (
        'value="typed@example.com"'
        in browser.client.get(
            "/tenants/alpha/profiles/new?_swap=1&type=exchange&mode=single&mailbox=typed@example.com"
        ).text
    )


def test_the_no_script_button_shows_the_fields_without_saving(browser: Browser, people: None, runtime: Runtime) -> None:
    browser.sign_in("alice@example.com")
    response = browser.post("/tenants/alpha/profiles/new", {**IMAP_FORM, "type": "microsoft365", "_swap": "1"})
    assert response.status_code == 200
    assert 'name="application_id"' in response.text
    assert 'name="server_name"' not in response.text
    with runtime.transaction() as session:
        assert profiles.search_profiles(session, tenant_id(runtime)) == []


def test_search_by_name_contains_or_id_equals(browser: Browser, people: None, runtime: Runtime) -> None:
    browser.sign_in("alice@example.com")
    first = create(browser, runtime, name="Sales mailbox")
    create(browser, runtime, name="Support")

    def names(q: str) -> list[str]:
        page = browser.client.get("/tenants/alpha/profiles", params={"q": q}).text
        return re.findall(r'<td data-label="Name"><a href="[^"]+">([^<]+)</a>', page)

    assert names("") == ["Sales mailbox", "Support"]
    assert names("S") == ["Sales mailbox", "Support"]
    assert names("MAILBOX") == ["Sales mailbox"]
    assert names(first.upper()) == ["Sales mailbox"]
    assert names(first[:8]) == []  # the ID must be equal, not contained
    assert (
        "No profile\N{RIGHT SINGLE QUOTATION MARK}s name contains"
        in browser.client.get("/tenants/alpha/profiles?q=zzz").text
    )


def test_delete_is_disabled_with_the_reason_while_a_schedule_uses_it(
    browser: Browser, people: None, runtime: Runtime
) -> None:
    browser.sign_in("alice@example.com")
    profile_id = create(browser, runtime)
    with runtime.transaction() as session:
        schedules.create_schedule(
            session,
            tenant_id(runtime),
            {
                "name": "Nightly",
                "type": "folder-sync",
                "profile_id": profile_id,
                "recurrence": {"kind": "daily", "at": "02:00"},
            },
        )
    listing = browser.client.get("/tenants/alpha/profiles").text
    assert re.search(r'<button type="button" class="danger" disabled[^>]*>Delete</button>', listing)
    assert "Used by schedule “Nightly”" in listing
    refused = browser.post(f"/tenants/alpha/profiles/{profile_id}/delete", {}, csrf_from="/tenants/alpha/profiles")
    assert refused.status_code == 409
    assert "delete the schedule first" in refused.text


def test_delete(browser: Browser, people: None, runtime: Runtime) -> None:
    browser.sign_in("alice@example.com")
    profile_id = create(browser, runtime)
    confirm = browser.client.get(f"/tenants/alpha/profiles/{profile_id}/delete")
    assert "Delete profile “Main IMAP”?" in confirm.text
    response = browser.post(
        f"/tenants/alpha/profiles/{profile_id}/delete", {}, csrf_from=f"/tenants/alpha/profiles/{profile_id}/delete"
    )
    assert response.status_code == 303
    assert browser.client.get(f"/tenants/alpha/profiles/{profile_id}").status_code == 404


def test_a_user_of_tenant_a_gets_404_for_every_page_of_tenant_b(
    browser: Browser, people: None, runtime: Runtime
) -> None:
    """Every tenant route, with beta's profile ID, in beta and in alice's own tenant alpha."""
    bob = Browser(type(browser.client)(base_url=str(browser.client.base_url)))
    try:
        bob.sign_in("bob@example.com")
        beta_profile = create(bob, runtime, tenant="beta")
    finally:
        bob.client.close()
    browser.sign_in("alice@example.com")
    token = browser.csrf("/tenants/alpha/")
    routes = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute) and "{tenant}" in r.path]
    assert len(routes) >= 8
    for route in routes:
        for tenant in ("beta", tenant_id(runtime, "beta"), "alpha"):
            if tenant == "alpha" and "{key}" not in route.path:
                continue  # her own tenant's pages without a key are hers
            path = route.path.replace("{tenant}", tenant).replace("{key}", beta_profile)
            for method in route.methods:
                response = browser.client.request(
                    method, path, data={**IMAP_FORM, "csrf_token": token}, follow_redirects=False
                )
                assert response.status_code == 404, (method, path, response.status_code)
    with runtime.transaction() as session:
        data = profiles.profile_to_dict(
            session, profiles.get_profile(session, tenant_id(runtime, "beta"), beta_profile)
        )
    assert data["name"] == "Main IMAP"  # untouched


def test_dashboard_shows_processes_counts_and_notifications(browser: Browser, people: None, runtime: Runtime) -> None:
    from datetime import timedelta

    from postroom.db.types import utcnow
    from postroom.domain.process import ProcessType, Severity
    from postroom.services import processes, secrets

    browser.sign_in("alice@example.com")
    create(browser, runtime)
    with runtime.transaction() as session:
        t = tenant_id(runtime)
        running = processes.start_process(session, t, ProcessType.FOLDER_SYNC)
        failed = processes.start_process(session, t, ProcessType.FOLDER_SYNC)
        processes.log(session, failed, Severity.ERROR, "LOGIN failed: [AUTHENTICATIONFAILED]")
        processes.finish_process(session, failed)
        running_id, failed_id = running.request_id, failed.request_id
        secret = secrets.get_secret(session, t, "Mail login")
        secret.expires_at = utcnow() + timedelta(days=3)
    page = browser.client.get("/tenants/alpha/").text
    assert running_id in page and failed_id in page
    assert "has no schedule" in page
    assert f"Secret &#39;Mail login&#39; expires on {secret.expires_at:%Y-%m-%d}" in page
    details = browser.client.get(f"/tenants/alpha/processes/{failed_id}")
    assert details.status_code == 200
    assert "[AUTHENTICATIONFAILED]" in details.text
    assert browser.client.get(f"/tenants/alpha/processes/{failed_id}", follow_redirects=False).status_code == 200
