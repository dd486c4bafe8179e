"""The directory services page over ``services.directories``: list, search, create, edit, delete,
Test, Mailboxes and Synchronize users; a static list, and a real slapd for LDAP."""

from __future__ import annotations

import re
import time

from fastapi.routing import APIRoute

from postroom.archive.repository import list_mailboxes
from postroom.runtime import Runtime
from postroom.services import directories, profiles, secrets
from postroom.testing.slapd import Slapd
from postroom.web.portal import ROUTERS
from tests.directory.servers import slapd
from tests.portal.archived import tenant_id
from tests.portal.conftest import Browser

__all__ = ["slapd"]  # the real slapd, session-scoped

BOARD = 'anna@example.com,Anna Alder\nBen@Example.COM,"Bird, Ben"\n'


def create(browser: Browser, tenant: str = "alpha", **changes: str) -> str:
    form = {"name": "Board", "type": "static", "entries": BOARD, **changes}
    response = browser.post(f"/tenants/{tenant}/directories/new", form, csrf_from=f"/tenants/{tenant}/directories")
    assert response.status_code == 303, response.text
    match = re.search(r"saved=([0-9a-f-]+)", response.headers["location"])
    assert match
    return match[1]


def names(browser: Browser, q: str = "") -> list[str]:
    page = browser.client.get("/tenants/alpha/directories", params={"q": q}).text
    return re.findall(r'<td data-label="Name"><a href="[^"]+">([^<]+)</a>', page)


def field_error(page: str, field: str) -> str:
    match = re.search(rf'<p class="field-error" id="f-{field}-error">([^<]*)</p>', page)
    assert match, field
    return match[1]


def test_the_form_shows_only_the_types_fields(browser: Browser, people: None) -> None:
    browser.sign_in("alice@example.com")
    ldap = browser.client.get("/tenants/alpha/directories/new").text
    assert 'name="server_name"' in ldap and 'name="base_dn"' in ldap and 'name="entries"' not in ldap
    assert '<option value="starttls" selected>' in ldap
    assert "Mail login (anna)" in ldap  # the tenant's basic secrets to bind with
    static = browser.client.get("/tenants/alpha/directories/new?type=static&_swap=1&name=Kept").text
    assert 'name="entries"' in static and 'name="server_name"' not in static
    assert 'value="Kept"' in static
    nav = browser.client.get("/tenants/alpha/directories").text
    assert '<a href="/tenants/alpha/directories" aria-current="page">Directory services</a>' in nav


def test_create_static_list_search_and_edit(browser: Browser, people: None, runtime: Runtime) -> None:
    browser.sign_in("alice@example.com")
    board = create(browser)
    listing = browser.client.get(f"/tenants/alpha/directories?saved={board}").text
    assert "Directory service “Board” saved." in listing
    assert "2 mailboxes" in listing
    create(browser, name="Head office staff", entries="carl@example.com\n")
    assert names(browser) == ["Board", "Head office staff"]
    assert names(browser, "OFFICE") == ["Head office staff"]
    assert names(browser, board.upper()) == ["Board"]
    assert names(browser, board[:8]) == []
    assert "No directory service\N{RIGHT SINGLE QUOTATION MARK}s name contains “zzz”" in (
        browser.client.get("/tenants/alpha/directories?q=zzz").text
    )

    edit = browser.client.get(f"/tenants/alpha/directories/{board}").text
    assert 'Static list <span class="help">(fixed when it was created)</span>' in edit
    assert "Ben@example.com,&#34;Bird, Ben&#34;" in edit  # the stored list as CSV, domain normalised
    saved = browser.post(
        f"/tenants/alpha/directories/{board}", {"name": "The Board", "type": "ldap", "entries": "dora@example.com"}
    )
    assert saved.status_code == 303, saved.text  # the type field of a tampered form is not sent on
    with runtime.transaction() as session:
        data = directories.directory_to_dict(session, directories.get_directory(session, tenant_id(runtime), board))
    assert (data["name"], data["type"]) == ("The Board", "static")
    assert data["entries"] == [{"address": "dora@example.com", "display_name": None}]


def test_errors_are_next_to_the_fields_and_keep_the_input(browser: Browser, people: None, runtime: Runtime) -> None:
    browser.sign_in("alice@example.com")
    bad = BOARD + "anna\n"
    response = browser.post(
        "/tenants/alpha/directories/new",
        {"name": "Board", "type": "static", "entries": bad},
        csrf_from="/tenants/alpha/directories",
    )
    assert response.status_code == 422
    assert "The directory service was not saved" in response.text
    assert "line 3: &#39;anna&#39; is not an e-mail address like user@example.com" in field_error(
        response.text, "entries"
    )
    assert 'href="#f-entries"' in response.text
    assert "Ben@Example.COM,&#34;Bird, Ben&#34;\nanna\n</textarea>" in response.text  # as typed
    assert 'name="entries"' in response.text and 'name="server_name"' not in response.text

    ldap = browser.post(
        "/tenants/alpha/directories/new",
        {"name": "", "type": "ldap", "server_name": "ldap://dc1", "port": "99999", "base_dn": ""},
        csrf_from="/tenants/alpha/directories",
    )
    assert ldap.status_code == 422
    assert "must not be empty" in field_error(ldap.text, "name") or "required" in field_error(ldap.text, "name")
    assert "host name" in field_error(ldap.text, "server_name")
    assert "between 1 and 65535" in field_error(ldap.text, "port")
    assert "required" in field_error(ldap.text, "base_dn")
    assert 'value="ldap://dc1"' in ldap.text and 'value="99999"' in ldap.text

    create(browser)
    taken = browser.post(
        "/tenants/alpha/directories/new",
        {"name": "BOARD", "type": "static", "entries": ""},
        csrf_from="/tenants/alpha/directories",
    )
    assert taken.status_code == 422 and "already" in field_error(taken.text, "name")
    with runtime.transaction() as session:
        assert len(directories.search_directories(session, tenant_id(runtime))) == 1


def test_mailboxes_and_synchronize_users(browser: Browser, people: None, runtime: Runtime) -> None:
    browser.sign_in("alice@example.com")
    board = create(browser)
    page = browser.client.get(f"/tenants/alpha/directories/{board}/mailboxes").text
    rows = re.findall(r'<td data-label="Address">([^<]+)</td><td data-label="Display name">([^<]*)</td>', page)
    assert rows == [("anna@example.com", "Anna Alder"), ("Ben@example.com", "Bird, Ben")]  # ignoring case
    assert "2 mailboxes (2 entries read, 0 duplicates dropped, 0 left out)" in page

    response = browser.post(
        f"/tenants/alpha/directories/{board}/sync", {}, csrf_from=f"/tenants/alpha/directories/{board}/mailboxes"
    )
    assert response.status_code == 303
    match = re.fullmatch(r"/tenants/alpha/processes/([\w-]+)", response.headers["location"])
    assert match, response.headers["location"]
    for _ in range(100):  # the sync runs in the background; the page refreshes itself meanwhile
        process = browser.client.get(response.headers["location"])
        assert process.status_code == 200
        if "2 mailboxes (2 new archive mailboxes)" in process.text:
            break
        time.sleep(0.1)
    assert "2 mailboxes (2 new archive mailboxes)" in process.text
    with runtime.transaction() as session:
        archived = list_mailboxes(session, tenant_id(runtime))
    assert sorted(m["address"] for m in archived) == ["Ben@example.com", "anna@example.com"]


def test_delete_is_refused_while_a_profile_uses_it(browser: Browser, people: None, runtime: Runtime) -> None:
    browser.sign_in("alice@example.com")
    board = create(browser)
    alpha = tenant_id(runtime)
    with runtime.transaction() as session:
        profile = {
            "name": "Everyone",
            "type": "imap",
            "mode": "multiple",
            "server_name": "mail.example.test",
            "protocol": "IMAP-SSL",
            "secret_id": "Mail login",
            "directory_service_id": board,
        }
        profiles.create_profile(session, alpha, profile)
    confirm = browser.client.get(f"/tenants/alpha/directories/{board}/delete").text
    assert "It cannot be deleted while profile &#39;Everyone&#39; uses it" in confirm
    assert "Delete directory service</button>" not in confirm
    refused = browser.post(
        f"/tenants/alpha/directories/{board}/delete", {}, csrf_from=f"/tenants/alpha/directories/{board}/delete"
    )
    assert refused.status_code == 409
    assert "used by profile &#39;Everyone&#39;; change or delete those first" in refused.text
    with runtime.transaction() as session:
        profiles.delete_profile(session, alpha, "Everyone")
    confirm = browser.client.get(f"/tenants/alpha/directories/{board}/delete").text
    assert "Delete directory service</button>" in confirm
    deleted = browser.post(f"/tenants/alpha/directories/{board}/delete", {})
    assert deleted.status_code == 303
    assert browser.client.get(f"/tenants/alpha/directories/{board}").status_code == 404


def test_another_tenants_directory_is_not_found_on_every_route(browser: Browser, people: None) -> None:
    browser.sign_in("bob@example.com")
    theirs = create(browser, tenant="beta")
    browser.client.post("/logout", data={"csrf_token": browser.csrf("/tenants/beta/directories")})
    browser.sign_in("alice@example.com")
    token = browser.csrf("/tenants/alpha/directories")
    routes = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute) and "/directories" in r.path]
    assert len(routes) == 11
    for route in routes:
        for tenant in ("beta", "alpha"):
            if tenant == "alpha" and "{key}" not in route.path:
                continue
            path = route.path.replace("{tenant}", tenant).replace("{key}", theirs)
            for method in route.methods:
                data = {"name": "Mine", "type": "static", "entries": "x@example.com", "csrf_token": token}
                response = browser.client.request(method, path, data=data, follow_redirects=False)
                assert response.status_code == 404, (method, path, response.status_code)
    assert names(browser) == []


def test_ldap_test_mailboxes_and_a_wrong_password(
    browser: Browser, people: None, runtime: Runtime, slapd: Slapd
) -> None:
    alpha = tenant_id(runtime)
    with runtime.transaction() as session:
        values = {"username": slapd.bind_dn, "password": slapd.bind_password}
        bind = secrets.create_secret(session, runtime.secret_box, alpha, "LDAP bind", "basic", values).id
    browser.sign_in("alice@example.com")
    form = {
        "name": "Head office",
        "type": "ldap",
        "server_name": slapd.host,
        "port": str(slapd.port),
        "security": "none",
        "secret_id": bind,
        "base_dn": slapd.base_dn,
        "page_size": "3",
        "timeout": "10",
    }
    ldap = create(browser, **form)
    test = browser.post(f"/tenants/alpha/directories/{ldap}/test", {})
    assert test.status_code == 200
    assert "✓ The connection test passed." in test.text
    assert test.text.count('class="step step-ok"') >= 3
    mailboxes = browser.client.get(f"/tenants/alpha/directories/{ldap}/mailboxes").text
    assert "user01@example.test" in mailboxes and "user12@example.test" in mailboxes  # paged past the limit
    assert '<ul id="left-out">' in mailboxes  # the entry without a valid address, with why

    with runtime.transaction() as session:
        values = {"username": slapd.bind_dn, "password": "wrong"}
        secrets.update_secret(session, runtime.secret_box, alpha, bind, values=values)
    failed = browser.post(
        f"/tenants/alpha/directories/{ldap}/test", {}, csrf_from=f"/tenants/alpha/directories/{ldap}/test"
    )
    assert "✗ The connection test failed" in failed.text
    assert "<pre>invalidCredentials (49)</pre>" in failed.text
    assert "its username is the bind DN" in failed.text
    unreadable = browser.client.get(f"/tenants/alpha/directories/{ldap}/mailboxes")
    assert unreadable.status_code == 502 and "invalidCredentials" in unreadable.text
