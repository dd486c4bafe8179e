"""The users and API tokens pages: the tenant's users with their roles, add a user, change a role,
remove a user (never the last administrator); one's own API tokens, shown once, revoked."""

from __future__ import annotations

import re

import httpx

from postroom.runtime import Runtime
from postroom.services import users
from tests.portal.conftest import PASSWORD, Browser


def emails(page: str) -> list[str]:
    return re.findall(r'<td data-label="E-mail">([^< ]+)', page)


def user_id(runtime: Runtime, email: str) -> str:
    with runtime.transaction() as session:
        return users.get_user(session, email).id


def test_list_add_change_role_and_remove(browser: Browser, people: None, runtime: Runtime, server_url: str) -> None:
    browser.sign_in("alice@example.com")
    page = browser.client.get("/tenants/alpha/users").text
    assert emails(page) == ["alice@example.com", "carol@example.com", "dave@example.com"]  # not bob (beta only)
    assert "beta" not in page.lower()  # nothing about other tenants
    dave = user_id(runtime, "dave@example.com")
    assert re.search(
        rf'id="role-{dave}" name="role">\s*<option value="admin" >admin</option>\s*<option value="user" selected>', page
    )

    added = browser.post(
        "/tenants/alpha/users/new",
        {"email": "erin@example.com", "display_name": "Erin", "password": PASSWORD, "role": "user"},
    )
    assert added.status_code == 303
    listing = browser.client.get(added.headers["location"]).text
    assert "User erin@example.com saved." in listing
    erin = Browser(httpx.Client(base_url=server_url))
    try:
        erin.sign_in("erin@example.com")
        assert erin.client.get("/tenants/alpha/").status_code == 200
        assert erin.client.get("/tenants/alpha/users").status_code == 403  # a user, as the API says
    finally:
        erin.client.close()

    promoted = browser.post(f"/tenants/alpha/users/{dave}/role", {"role": "admin"}, csrf_from="/tenants/alpha/users")
    assert promoted.status_code == 303
    with runtime.transaction() as session:
        assert users.user_to_dict(session, users.get_user(session, dave))["roles"] == {"alpha": "admin"}
    assert "Remove dave@example.com from this tenant?" in browser.client.get(f"/tenants/alpha/users/{dave}/remove").text
    removed = browser.post(f"/tenants/alpha/users/{dave}/remove", {}, csrf_from="/tenants/alpha/users")
    assert removed.status_code == 303
    assert "dave@example.com" not in emails(browser.client.get("/tenants/alpha/users").text)
    with runtime.transaction() as session:
        assert users.user_to_dict(session, users.get_user(session, dave))["roles"] == {}  # the account stays


def test_add_user_errors_keep_the_input_but_not_the_password(browser: Browser, people: None) -> None:
    browser.sign_in("alice@example.com")
    response = browser.post(
        "/tenants/alpha/users/new",
        {"email": "not-an-address", "display_name": "Erin", "password": "short", "role": "boss"},
    )
    assert response.status_code == 422
    for field, rule in (("email", "e-mail address"), ("password", "at least")):
        error = re.search(rf'<p class="field-error" id="f-{field}-error">([^<]*)</p>', response.text)
        assert error and rule in error[1], field
    assert 'value="not-an-address"' in response.text and 'value="Erin"' in response.text
    assert 'value="short"' not in response.text
    role = browser.post("/tenants/alpha/users/new", {"email": "erin@example.com", "password": PASSWORD, "role": "boss"})
    assert re.search(r'id="f-role-error">[^<]*admin or user', role.text)
    taken = browser.post("/tenants/alpha/users/new", {"email": "BOB@example.com", "password": PASSWORD, "role": "user"})
    assert re.search(r'id="f-email-error">[^<]*already exists', taken.text)


def test_the_last_administrator_stays(browser: Browser, people: None, runtime: Runtime) -> None:
    browser.sign_in("alice@example.com")
    carol, alice = user_id(runtime, "carol@example.com"), user_id(runtime, "alice@example.com")
    assert browser.post(f"/tenants/alpha/users/{carol}/remove", {}, csrf_from="/tenants/alpha/users").status_code == 303
    refused = browser.post(f"/tenants/alpha/users/{alice}/role", {"role": "user"}, csrf_from="/tenants/alpha/users")
    assert refused.status_code == 409
    assert "last administrator" in refused.text
    refused = browser.post(f"/tenants/alpha/users/{alice}/remove", {}, csrf_from="/tenants/alpha/users")
    assert refused.status_code == 409
    bad_role = browser.post(f"/tenants/alpha/users/{alice}/role", {"role": "boss"}, csrf_from="/tenants/alpha/users")
    assert bad_role.status_code == 422
    assert browser.client.get("/tenants/alpha/users").status_code == 200  # still an administrator


def test_other_tenants_users_are_not_found_and_users_are_refused(
    browser: Browser, people: None, runtime: Runtime, server_url: str
) -> None:
    bob = user_id(runtime, "bob@example.com")
    browser.sign_in("alice@example.com")
    for path, form in (
        (f"/tenants/alpha/users/{bob}/role", {"role": "user"}),
        (f"/tenants/alpha/users/{bob}/remove", {}),
        ("/tenants/beta/users/new", {"email": "x@example.com", "password": PASSWORD, "role": "admin"}),
    ):
        assert browser.post(path, form, csrf_from="/tenants/alpha/users").status_code == 404, path
    assert browser.client.get(f"/tenants/alpha/users/{bob}/remove").status_code == 404
    assert browser.client.get("/tenants/beta/users").status_code == 404
    with runtime.transaction() as session:
        assert users.user_to_dict(session, users.get_user(session, bob))["roles"] == {"beta": "admin"}
    dave = Browser(httpx.Client(base_url=server_url))
    try:
        dave.sign_in("dave@example.com")
        assert dave.client.get("/tenants/alpha/users").status_code == 403
        assert (
            dave.post(f"/tenants/alpha/users/{bob}/role", {"role": "admin"}, csrf_from="/tenants/alpha/").status_code
            == 403
        )
    finally:
        dave.client.close()


def test_api_tokens_are_shown_once_and_revoked(
    browser: Browser, people: None, runtime: Runtime, server_url: str
) -> None:
    browser.sign_in("dave@example.com")  # any role manages their own tokens
    page = browser.client.get("/tenants/alpha/tokens")
    assert page.status_code == 200 and "You have no API token yet." in page.text
    nav = re.search(r'<nav aria-label="Main">.*?</nav>', page.text, re.DOTALL)
    assert nav and "API tokens" in nav[0] and "Process log" not in nav[0]
    created = browser.post(
        "/tenants/alpha/tokens/new",
        {"name": "backup script", "expires_in_days": "30"},
        csrf_from="/tenants/alpha/tokens",
    )
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    shown = re.search(r'<pre id="new-token" class="token">([^<]+)</pre>', created.text)
    assert shown and 'data-copy="new-token"' in created.text
    plaintext = shown[1]
    with httpx.Client(base_url=server_url) as api:
        me = api.get("/api/v1/me", headers={"Authorization": f"Bearer {plaintext}"})
        assert me.status_code == 200 and me.json()["email"] == "dave@example.com"
        again = browser.client.get("/tenants/alpha/tokens").text
        assert plaintext not in again and "backup script" in again
        token_id = re.search(r'action="/tenants/alpha/tokens/([^/"]+)/revoke"', again)
        assert token_id
        revoked = browser.post(f"/tenants/alpha/tokens/{token_id[1]}/revoke", {}, csrf_from="/tenants/alpha/tokens")
        assert revoked.status_code == 303
        assert ">revoked<" in browser.client.get("/tenants/alpha/tokens").text
        assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {plaintext}"}).status_code == 401
    errors = browser.post(
        "/tenants/alpha/tokens/new", {"name": "", "expires_in_days": "soon"}, csrf_from="/tenants/alpha/tokens"
    )
    assert errors.status_code == 422
    assert re.search(r'id="f-expires_in_days-error">[^<]*whole number', errors.text)
    assert 'value="soon"' in errors.text
    empty = browser.post("/tenants/alpha/tokens/new", {"name": " "}, csrf_from="/tenants/alpha/tokens")
    assert re.search(r'id="f-name-error">[^<]*must not be empty', empty.text)


def test_another_users_token_is_not_found(browser: Browser, people: None, runtime: Runtime) -> None:
    with runtime.transaction() as session:
        token, _ = users.create_token(session, users.get_user(session, "bob@example.com"), "bob's")
        token_id = token.id
    browser.sign_in("alice@example.com")
    response = browser.post(f"/tenants/alpha/tokens/{token_id}/revoke", {}, csrf_from="/tenants/alpha/tokens")
    assert response.status_code == 404
    assert browser.client.get("/tenants/beta/tokens").status_code == 404
    with runtime.transaction() as session:
        assert not users.token_to_dict(users.list_tokens(session, users.get_user(session, "bob@example.com"))[0])[
            "revoked"
        ]
