"""The secrets page: create per kind, edit (an empty secret field keeps the stored value), delete
(refused with the reason while used); a secret's value is never written into a page."""

from __future__ import annotations

import re

import httpx

from postroom.domain.secret import SecretKind
from postroom.runtime import Runtime
from postroom.services import secrets
from postroom.web.portal.secrets import merged_values
from tests.portal.conftest import Browser
from tests.portal.test_profiles_page import IMAP_FORM, tenant_id

PASSWORD = "Very-secret-1"
TOKEN = "ya29.the-access-token"


def stored(runtime: Runtime, key: str, tenant: str = "alpha") -> tuple[dict[str, object], dict[str, object]]:
    """The secret's summary data and its decrypted values."""
    with runtime.transaction() as session:
        secret = secrets.get_secret(session, tenant_id(runtime, tenant), key)
        return secrets.secret_to_dict(secret), secrets.reveal(runtime.secret_box, secret)


def create(browser: Browser, form: dict[str, str], tenant: str = "alpha") -> str:
    response = browser.post(f"/tenants/{tenant}/secrets/new", form)
    assert response.status_code == 303, response.text
    match = re.search(r"saved=([0-9a-f-]+)", response.headers["location"])
    assert match
    return match[1]


BASIC = {"name": "Archive login", "kind": "basic", "basic.username": "archiver", "basic.password": PASSWORD}


def test_create_list_and_edit_a_basic_secret(browser: Browser, people: None, runtime: Runtime) -> None:
    browser.sign_in("alice@example.com")
    new = browser.client.get("/tenants/alpha/secrets/new").text
    for kind in SecretKind:
        assert f'<option value="{kind.value}"' in new
    secret_id = create(browser, {**BASIC, "oauth.access_token": "ignored: another kind's field"})
    data, values = stored(runtime, secret_id)
    assert values == {"username": "archiver", "password": PASSWORD}
    listing = browser.client.get(f"/tenants/alpha/secrets?saved={secret_id}").text
    assert "Secret “Archive login” saved." in listing
    assert "username: archiver" in listing and "Basic authentication" in listing
    edit = browser.client.get(f"/tenants/alpha/secrets/{secret_id}").text
    assert 'value="archiver"' in edit
    assert PASSWORD not in edit and PASSWORD not in listing
    assert re.search(r'name="basic.password" type="password" value=""', edit)
    assert "Leave empty to keep the stored value." in edit

    # rename only: the password stays
    saved = browser.post(
        f"/tenants/alpha/secrets/{secret_id}", {"name": "Renamed", "basic.username": "archiver", "basic.password": ""}
    )
    assert saved.status_code == 303
    data, values = stored(runtime, secret_id)
    assert data["name"] == "Renamed" and values == {"username": "archiver", "password": PASSWORD}
    # a new user name, the password kept
    browser.post(f"/tenants/alpha/secrets/{secret_id}", {"name": "Renamed", "basic.username": "other"})
    assert stored(runtime, secret_id)[1] == {"username": "other", "password": PASSWORD}
    # a new password
    browser.post(
        f"/tenants/alpha/secrets/{secret_id}", {"name": "Renamed", "basic.username": "other", "basic.password": "new-1"}
    )
    assert stored(runtime, secret_id)[1] == {"username": "other", "password": "new-1"}


def test_errors_keep_the_input_but_never_a_secret_value(browser: Browser, people: None, runtime: Runtime) -> None:
    browser.sign_in("alice@example.com")
    response = browser.post("/tenants/alpha/secrets/new", {**BASIC, "name": "Typed", "basic.username": ""})
    assert response.status_code == 422
    page = response.text
    assert re.search(r'<p class="field-error" id="f-basic-username-error">[^<]*is required', page)
    assert 'href="#f-basic-username"' in page
    assert 'value="Typed"' in page
    assert PASSWORD not in page  # typed, but never sent back
    assert "enter them again" in page
    taken = browser.post("/tenants/alpha/secrets/new", {**BASIC, "name": "MAIL LOGIN"})
    assert re.search(r'id="f-name-error">[^<]*already', taken.text)
    oauth = browser.post(
        "/tenants/alpha/secrets/new",
        {"name": "Token", "kind": "oauth", "oauth.access_token": TOKEN, "oauth.expires_at": "tomorrow"},
    )
    assert oauth.status_code == 422
    assert re.search(r'id="f-oauth-expires_at-error">[^<]*ISO 8601', oauth.text)
    assert 'value="tomorrow"' in oauth.text and TOKEN not in oauth.text
    assert '<option value="oauth" selected>' in oauth.text
    secret_id = create(browser, BASIC)
    edit = browser.post(
        f"/tenants/alpha/secrets/{secret_id}", {"name": "", "basic.username": "x", "basic.password": "p"}
    )
    assert edit.status_code == 422
    assert re.search(r'id="f-name-error">', edit.text)
    assert stored(runtime, secret_id)[0]["name"] == "Archive login"


def test_an_oauth_secret_keeps_its_tokens_on_edit(browser: Browser, people: None, runtime: Runtime) -> None:
    browser.sign_in("alice@example.com")
    form = {
        "name": "Graph token",
        "kind": "oauth",
        "oauth.access_token": TOKEN,
        "oauth.refresh_token": "the-refresh-token",
        "oauth.scope": "Mail.Read offline_access",
        "oauth.account": "archive@example.com",
    }
    secret_id = create(browser, form)
    edit = browser.client.get(f"/tenants/alpha/secrets/{secret_id}").text
    assert TOKEN not in edit and "the-refresh-token" not in edit
    assert 'value="Mail.Read offline_access"' in edit
    assert 'name="basic.username"' not in edit  # only the secret's own kind
    browser.post(
        f"/tenants/alpha/secrets/{secret_id}",
        {
            "name": "Graph token",
            "oauth.scope": "Mail.Read",
            "oauth.account": "archive@example.com",
            "oauth.token_type": "Bearer",
        },
    )
    values = stored(runtime, secret_id)[1]
    assert (values["access_token"], values["refresh_token"], values["scope"]) == (
        TOKEN,
        "the-refresh-token",
        "Mail.Read",
    )


def test_merged_values_keeps_empty_secret_fields_and_groups_a_certificate() -> None:
    basic = {"username": "a", "password": "p"}
    assert merged_values(SecretKind.BASIC, {"basic.username": "a"}, basic) is None  # nothing changed
    assert merged_values(SecretKind.BASIC, {"basic.username": "b"}, basic) == {"username": "b", "password": "p"}
    cert = {"format": "pem", "pem": "PEM", "password": "x"}
    assert merged_values(SecretKind.CERTIFICATE, {}, cert) is None
    assert merged_values(SecretKind.CERTIFICATE, {"certificate.pfx": "PFX"}, cert) == {"pfx": "PFX"}
    service_account = {"json": {"type": "service_account"}}
    assert merged_values(SecretKind.GOOGLE_SERVICE_ACCOUNT, {}, service_account) is None


def test_delete_is_refused_with_the_reason_while_used(browser: Browser, people: None, runtime: Runtime) -> None:
    browser.sign_in("alice@example.com")
    with runtime.transaction() as session:
        used = secrets.get_secret(session, tenant_id(runtime), "Mail login").id
    browser.post("/tenants/alpha/profiles/new", {**IMAP_FORM, "secret_id": used})
    refused = browser.post(
        f"/tenants/alpha/secrets/{used}/delete", {}, csrf_from=f"/tenants/alpha/secrets/{used}/delete"
    )
    assert refused.status_code == 409
    assert "is used by Main IMAP" in refused.text
    unused = create(browser, BASIC)
    assert "Delete secret “Archive login”?" in browser.client.get(f"/tenants/alpha/secrets/{unused}/delete").text
    deleted = browser.post(f"/tenants/alpha/secrets/{unused}/delete", {}, csrf_from="/tenants/alpha/secrets")
    assert deleted.status_code == 303
    assert browser.client.get(f"/tenants/alpha/secrets/{unused}").status_code == 404
    names = re.findall(
        r'<td data-label="Name"><a href="[^"]+">([^<]+)</a>', browser.client.get("/tenants/alpha/secrets").text
    )
    assert names == ["Mail login"]
    assert (
        re.findall(
            r'<td data-label="Name"><a href="[^"]+">([^<]+)</a>',
            browser.client.get("/tenants/alpha/secrets?q=zzz").text,
        )
        == []
    )


def test_other_tenants_secrets_are_not_found_and_users_are_refused(
    browser: Browser, people: None, runtime: Runtime, server_url: str
) -> None:
    with runtime.transaction() as session:
        beta = secrets.get_secret(session, tenant_id(runtime, "beta"), "Mail login").id
    browser.sign_in("alice@example.com")
    assert browser.client.get(f"/tenants/alpha/secrets/{beta}").status_code == 404
    assert browser.client.get(f"/tenants/beta/secrets/{beta}").status_code == 404
    for path in (f"/tenants/alpha/secrets/{beta}", f"/tenants/alpha/secrets/{beta}/delete"):
        response = browser.post(path, {"name": "Stolen", "basic.username": "x"}, csrf_from="/tenants/alpha/secrets")
        assert response.status_code == 404, path
    assert stored(runtime, beta, "beta")[0]["name"] == "Mail login"
    dave = Browser(httpx.Client(base_url=server_url))
    try:
        dave.sign_in("dave@example.com")
        assert dave.client.get("/tenants/alpha/secrets").status_code == 403
        assert dave.post("/tenants/alpha/secrets/new", BASIC, csrf_from="/tenants/alpha/").status_code == 403
    finally:
        dave.client.close()
