"""Signing in and out, the session cookie, CSRF on every POST, and the error pages."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest
from fastapi.routing import APIRoute

from postroom.config import Settings
from postroom.runtime import Runtime
from postroom.services import users
from postroom.web.app import create_app
from postroom.web.portal import ROUTERS
from postroom.web.portal.middleware import is_portal_path
from postroom.web.portal.session import (
    ABSOLUTE_SECONDS,
    IDLE_SECONDS,
    CookieSigner,
    PortalSession,
    session_keys,
)
from tests.portal.conftest import PASSWORD, Browser


def portal_routes() -> list[APIRoute]:
    """Every route of the portal (FastAPI 0.16x hides included routes from ``app.routes``)."""
    routes = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]
    assert all(is_portal_path(r.path) for r in routes)
    return routes


def test_pages_need_signing_in_and_come_back_after_it(browser: Browser, people: None) -> None:
    response = browser.client.get("/tenants/alpha/profiles?q=x", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/tenants/alpha/profiles%3Fq%3Dx"
    login = browser.client.get(response.headers["location"])
    assert 'name="next" value="/tenants/alpha/profiles?q=x"' in login.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
    assert token
    signed_in = browser.client.post(
        "/login",
        data={
            "email": "ALICE@example.com",
            "password": PASSWORD,
            "next": "/tenants/alpha/profiles?q=x",
            "csrf_token": token[1],
        },
        follow_redirects=False,
    )
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/tenants/alpha/profiles?q=x"
    assert browser.client.get("/tenants/alpha/profiles?q=x").status_code == 200


def test_htmx_requests_are_told_where_to_sign_in(browser: Browser, people: None) -> None:
    response = browser.client.get("/tenants/alpha/profiles", headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/login?next=/tenants/alpha/profiles"


def test_the_session_cookie_is_httponly_and_lax(browser: Browser, people: None) -> None:
    set_cookie = browser.client.get("/login").headers["set-cookie"]
    assert set_cookie.startswith("postroom_session=")
    for attribute in ("HttpOnly", "SameSite=Lax", "Path=/", f"Max-Age={ABSOLUTE_SECONDS}"):
        assert attribute in set_cookie
    assert "Secure" not in set_cookie  # plain http here; https or an https POSTROOM_PUBLIC_URL adds it
    signed_in = browser.client.post(
        "/login", data={"email": "alice@example.com", "password": PASSWORD, "csrf_token": browser.csrf()}
    )
    assert "HttpOnly" in signed_in.headers["set-cookie"]
    assert "/api/" not in signed_in.headers["set-cookie"]


def test_wrong_password_and_unknown_user_look_the_same(browser: Browser, people: None) -> None:
    for email, password in (("alice@example.com", "wrong-password"), ("nobody@example.com", PASSWORD)):
        response = browser.client.post(
            "/login", data={"email": email, "password": password, "csrf_token": browser.csrf()}, follow_redirects=False
        )
        assert response.status_code == 401
        assert "wrong e-mail or password" in response.text
        assert f'value="{email}"' in response.text  # the e-mail typed is kept
    assert browser.client.get("/tenants/alpha/", follow_redirects=False).status_code == 303


def test_next_never_leaves_the_site(browser: Browser, people: None) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"):
        response = browser.client.post(
            "/login",
            data={"email": "alice@example.com", "password": PASSWORD, "next": target, "csrf_token": browser.csrf()},
            follow_redirects=False,
        )
        assert response.headers["location"] == "/", target
        browser.client.post("/logout", data={"csrf_token": browser.csrf("/tenants/alpha/")})


def test_sign_out_ends_the_session(browser: Browser, people: None) -> None:
    browser.sign_in("alice@example.com")
    old_cookie = browser.client.cookies["postroom_session"]
    response = browser.post("/logout", {}, csrf_from="/tenants/alpha/")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?signed_out=true"
    assert "You are signed out" in browser.client.get("/login?signed_out=true").text
    assert browser.client.get("/tenants/alpha/", follow_redirects=False).status_code == 303
    assert browser.client.cookies["postroom_session"] != old_cookie


def test_a_password_change_ends_existing_sessions(browser: Browser, people: None, runtime: Runtime) -> None:
    browser.sign_in("alice@example.com")
    assert browser.client.get("/tenants/alpha/").status_code == 200
    with runtime.transaction() as session:
        from postroom.security import passwords

        users.get_user(session, "alice@example.com").password_hash = passwords.hash_password("another-password-2")
    assert browser.client.get("/tenants/alpha/", follow_redirects=False).status_code == 303


def test_a_disabled_user_is_signed_out(browser: Browser, people: None, runtime: Runtime) -> None:
    browser.sign_in("alice@example.com")
    with runtime.transaction() as session:
        users.get_user(session, "alice@example.com").disabled = True
    assert browser.client.get("/tenants/alpha/", follow_redirects=False).status_code == 303


def test_forged_or_expired_cookies_are_not_sessions(settings: Settings) -> None:
    signer = CookieSigner(session_keys(settings))
    now = time.time()
    good = PortalSession.signed_in("user-1", "hash", "tenant-1", now=now)
    value = signer.dumps(good)
    assert signer.loads(value, now) == good
    payload, _, signature = value.partition(".")
    assert signer.loads(payload + "." + signature[::-1], now) is None
    assert signer.loads(payload[:-2] + "." + signature, now) is None
    assert signer.loads("garbage", now) is None
    other = CookieSigner([b"x" * 32])
    assert other.loads(value, now) is None
    assert signer.loads(value, now + IDLE_SECONDS + 1) is None  # idle too long
    busy = PortalSession.signed_in("user-1", "hash", None, now=now - ABSOLUTE_SECONDS - 1)
    busy = PortalSession(busy.csrf, busy.user_id, None, busy.password, busy.signed_in_at, int(now))
    assert signer.loads(signer.dumps(busy), now) is None  # signed in too long ago, however busy


def test_sessions_survive_a_restart(settings: Settings) -> None:
    """The signing key comes from the secret key, not from the process."""
    session = PortalSession.signed_in("user-1", "hash", None)
    assert CookieSigner(session_keys(settings)).loads(CookieSigner(session_keys(settings)).dumps(session), time.time())


def test_every_post_route_needs_the_csrf_token(browser: Browser, people: None) -> None:
    browser.sign_in("carol@example.com")
    posts = [r for r in portal_routes() if "POST" in r.methods]
    assert len(posts) >= 6
    for route in posts:
        path = route.path.replace("{tenant}", "alpha").replace("{key}", "00000000-0000-0000-0000-000000000000")
        for data, headers in (
            ({}, {}),
            ({"csrf_token": "forged"}, {}),
            ({}, {"X-CSRF-Token": "forged"}),
        ):
            response = browser.client.post(path, data=data, headers=headers, follow_redirects=False)
            assert response.status_code == 403, (route.path, data, headers)
            assert "not sent from this page" in response.text
    # the right token in the header (as htmx sends it) is accepted
    token = browser.csrf("/tenants/alpha/")
    response = browser.client.post("/logout", headers={"X-CSRF-Token": token}, follow_redirects=False)
    assert response.status_code == 303


def test_the_login_form_needs_the_csrf_token_too(browser: Browser, people: None) -> None:
    response = browser.client.post("/login", data={"email": "alice@example.com", "password": PASSWORD})
    assert response.status_code == 403
    assert browser.client.get("/tenants/alpha/", follow_redirects=False).status_code == 303


def test_signing_in_gives_a_new_csrf_token(browser: Browser, people: None) -> None:
    before = browser.csrf()
    browser.sign_in("alice@example.com")
    assert browser.csrf("/tenants/alpha/") != before


def test_error_pages_are_html_and_the_api_stays_json(browser: Browser, people: None) -> None:
    browser.sign_in("dave@example.com")  # a user, not an administrator, of alpha
    missing = browser.client.get("/no/such/page")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "Not found" in missing.text
    forbidden = browser.client.get("/tenants/alpha/profiles")
    assert forbidden.status_code == 403
    assert "admin role" in forbidden.text
    assert browser.client.get("/api/v1/no-such-thing").headers["content-type"] == "application/json"
    assert browser.client.get("/api/v1/tenants").status_code == 401  # the cookie is not an API credential


def test_security_headers_and_no_external_urls(browser: Browser, people: None) -> None:
    browser.sign_in("carol@example.com")
    for path in ("/login", "/tenants/alpha/", "/tenants/alpha/profiles", "/tenants/alpha/profiles/new"):
        response = browser.client.get(path, follow_redirects=True)
        assert response.status_code == 200, path
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY"
        assert not re.search(r"""(src|href|action)=["']?(https?:)?//""", response.text), path


def test_static_files_are_cached_for_long(browser: Browser, people: None) -> None:
    page = browser.client.get("/login").text
    for name in ("portal.css", "vendor/htmx.min.js"):
        url = re.search(rf'"(/static/{re.escape(name)}\?v=[0-9a-f]+)"', page)
        assert url, name
        response = browser.client.get(url[1])
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "htmx" in browser.client.get("/static/vendor/htmx.min.js").text[:2000]


def test_the_tenant_switcher(browser: Browser, people: None) -> None:
    browser.sign_in("carol@example.com")
    dashboard = browser.client.get("/", follow_redirects=True)
    assert 'id="tenant-switch"' in dashboard.text
    assert str(dashboard.url).endswith("/tenants/alpha/")
    response = browser.post("/switch-tenant", {"tenant": "beta"}, csrf_from="/tenants/alpha/")
    assert response.headers["location"] == "/tenants/beta/"
    assert str(browser.client.get("/", follow_redirects=True).url).endswith("/tenants/beta/")
    browser2 = Browser(httpx.Client(base_url=str(browser.client.base_url)))
    try:
        browser2.sign_in("alice@example.com")  # one tenant: no switcher, and beta is not hers
        assert 'id="tenant-switch"' not in browser2.client.get("/tenants/alpha/").text
        assert browser2.post("/switch-tenant", {"tenant": "beta"}, csrf_from="/tenants/alpha/").status_code == 404
    finally:
        browser2.client.close()


@pytest.mark.parametrize("email", ["alice@example.com"])
def test_a_user_with_no_tenant_sees_why(browser: Browser, runtime: Runtime, email: str) -> None:
    with runtime.transaction() as session:
        users.create_user(session, email, PASSWORD)
    browser.sign_in(email)
    assert "no role in any tenant" in browser.client.get("/").text


def test_the_cookie_is_secure_over_https(runtime: Runtime) -> None:
    async def first_cookie() -> str:
        transport = httpx.ASGITransport(app=create_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="https://postroom.example") as client:
            return (await client.get("/login")).headers["set-cookie"]

    assert "; Secure" in asyncio.run(first_cookie())
