"""Test Connection from the profiles page (seed 002), against a real Dovecot: each step with its
result, the server's raw words on failure, a copyable text, and the mailbox asked first in
multiple-mailbox mode."""

from __future__ import annotations

import html

from postroom.db.models import DirectoryService
from postroom.runtime import Runtime
from postroom.services import secrets
from postroom.services.access import Actor, tenant_for
from postroom.testing.dovecot import Dovecot
from tests.portal.conftest import Browser
from tests.portal.test_profiles_page import create


def _login_secret(runtime: Runtime, name: str, username: str, password: str) -> str:
    with runtime.transaction() as session:
        tenant = tenant_for(session, Actor.local_admin(), "alpha")
        values = {"username": username, "password": password}
        return secrets.create_secret(session, runtime.secret_box, tenant.id, name, "basic", values).id


def _dovecot_profile(browser: Browser, runtime: Runtime, dovecot: Dovecot, secret: str, **changes: str) -> str:
    fields = {
        "server_name": dovecot.host,
        "port": str(dovecot.imaps_port),
        "tls_trusted_ca": dovecot.ca_cert_path.read_text(),
        "secret_id": secret,
        **changes,
    }
    return create(browser, runtime, **fields)


def test_a_single_mailbox_test_runs_at_once_and_shows_every_step(
    browser: Browser, people: None, runtime: Runtime, dovecot: Dovecot, account: tuple[str, str]
) -> None:
    user, password = account
    browser.sign_in("alice@example.com")
    profile = _dovecot_profile(
        browser, runtime, dovecot, _login_secret(runtime, "right", user, password), mailbox=f"{user}@example.com"
    )
    assert f'href="/tenants/alpha/profiles/{profile}/test"' in browser.client.get("/tenants/alpha/profiles").text
    page = browser.client.get(f"/tenants/alpha/profiles/{profile}/test").text
    assert "Run the test" in page and 'name="mailbox"' not in page  # nothing to choose in single mode
    result = browser.post(f"/tenants/alpha/profiles/{profile}/test", {})
    assert result.status_code == 200
    text = html.unescape(result.text)
    assert "✓ The connection test passed." in text
    for title in ("DNS", "TCP", "TLS", "Greeting", "Capabilities", "Login", "Folders"):
        assert title in text
    assert 'data-copy="test-text"' in text and 'id="test-text"' in text
    assert "Request ID" in text


def test_a_refused_login_shows_the_servers_words_and_what_to_check(
    browser: Browser, people: None, runtime: Runtime, dovecot: Dovecot, account: tuple[str, str]
) -> None:
    user, _password = account
    browser.sign_in("alice@example.com")
    wrong = _login_secret(runtime, "wrong", user, "not-the-password")
    profile = _dovecot_profile(browser, runtime, dovecot, wrong, mailbox=f"{user}@example.com")
    fragment = browser.client.post(
        f"/tenants/alpha/profiles/{profile}/test",
        data={"csrf_token": browser.csrf(f"/tenants/alpha/profiles/{profile}/test")},
        headers={"HX-Request": "true"},
    )
    assert fragment.status_code == 200
    text = html.unescape(fragment.text)
    assert text.lstrip().startswith("{#") is False and "<html" not in text  # only the result, for htmx to swap in
    assert "✗ The connection test failed at “Login”" in text
    assert "NO [AUTHENTICATIONFAILED] Authentication failed." in text
    assert "What to check: check the secret's user name and password" in text
    assert "not-the-password" not in text


def test_multiple_mailbox_mode_asks_which_mailbox_first(
    browser: Browser, people: None, runtime: Runtime, dovecot: Dovecot, account: tuple[str, str]
) -> None:
    user, password = account
    browser.sign_in("alice@example.com")
    secret = _login_secret(runtime, "admin", user, password)
    with runtime.transaction() as session:  # the directory's own pages and services are issue 7's
        tenant = tenant_for(session, Actor.local_admin(), "alpha")
        directory = DirectoryService(tenant_id=tenant.id, name="Staff", name_key="staff", type="static")
        session.add(directory)
        session.flush()
        directory_id = directory.id
    profile = _dovecot_profile(
        browser, runtime, dovecot, secret, mode="multiple", mailbox="", directory_service_id=directory_id
    )
    page = browser.client.get(f"/tenants/alpha/profiles/{profile}/test").text
    assert "choose the mailbox to test" in page and 'name="mailbox"' in page
    refused = browser.post(f"/tenants/alpha/profiles/{profile}/test", {"mailbox": ""})
    assert refused.status_code == 422
    assert 'aria-invalid="true"' in refused.text and "choose the mailbox to test" in html.unescape(refused.text)
    typed = browser.post(f"/tenants/alpha/profiles/{profile}/test", {"mailbox": "not an address"})
    assert typed.status_code == 422 and 'value="not an address"' in typed.text  # what was typed stays


def test_the_mailbox_to_test_is_offered_from_the_directory(
    browser: Browser, people: None, runtime: Runtime, dovecot: Dovecot, account: tuple[str, str]
) -> None:
    from postroom.services import directories

    user, password = account
    browser.sign_in("alice@example.com")
    with runtime.transaction() as session:
        tenant = tenant_for(session, Actor.local_admin(), "alpha")
        listed = f"address\n{user}@example.test\nzoe@example.test"
        directory = directories.create_directory(
            session, tenant.id, {"name": "Staff", "type": "static", "entries": listed}
        )
        directory_id = directory.id
    secret = _login_secret(runtime, "admin", user, password)
    profile = _dovecot_profile(
        browser, runtime, dovecot, secret, mode="multiple", mailbox="", directory_service_id=directory_id
    )
    page = browser.client.get(f"/tenants/alpha/profiles/{profile}/test").text
    assert 'list="directory-mailboxes"' in page
    assert f'<option value="{user}@example.test">' in page and '<option value="zoe@example.test">' in page
    assert "2 mailboxes listed by the directory service" in page
