"""Portal fixtures: browsers (httpx clients with cookies) of the real server, people who sign in,
and a CSRF helper. (Starlette's TestClient warns about httpx, so the tests use the live server
of tests/conftest.py, as the API tests do.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from postroom.runtime import Runtime
from postroom.services import secrets, users
from postroom.services.access import Actor, Role
from postroom.services.tenants import create_tenant

PASSWORD = "a-long-password-1"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page has no CSRF field"
    return match[1]


@dataclass
class Browser:
    """A TestClient with its cookies: a person at a browser."""

    client: httpx.Client

    def csrf(self, path: str = "/login") -> str:
        return csrf_of(self.client.get(path).text)

    def sign_in(self, email: str, password: str = PASSWORD) -> None:
        response = self.client.post(
            "/login", data={"email": email, "password": password, "csrf_token": self.csrf()}, follow_redirects=False
        )
        assert response.status_code == 303, response.text

    def post(self, path: str, data: dict[str, str], *, csrf_from: str | None = None) -> httpx.Response:
        """POST a form with the CSRF token of the page at ``csrf_from`` (default: ``path``)."""
        token = self.csrf(csrf_from or path)
        return self.client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)


@pytest.fixture
def make_browser(server_url: str, runtime: Runtime) -> Iterator[object]:
    clients: list[httpx.Client] = []

    def make() -> Browser:
        client = httpx.Client(base_url=server_url, timeout=30)
        clients.append(client)
        return Browser(client)

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def browser(make_browser: object) -> Browser:
    assert callable(make_browser)
    result = make_browser()
    assert isinstance(result, Browser)
    return result


@pytest.fixture
def people(runtime: Runtime) -> None:
    """Tenants alpha and beta; alice administers alpha, bob beta, carol both, dave is a user of alpha.
    Each tenant has a basic secret "Mail login"."""
    with runtime.transaction() as session:
        local = Actor.local_admin()
        alpha = create_tenant(session, local, "alpha", "Alpha Ltd")
        beta = create_tenant(session, local, "beta", "Beta GmbH")
        for email, memberships in (
            ("alice@example.com", [(alpha, Role.ADMIN)]),
            ("bob@example.com", [(beta, Role.ADMIN)]),
            ("carol@example.com", [(alpha, Role.ADMIN), (beta, Role.ADMIN)]),
            ("dave@example.com", [(alpha, Role.USER)]),
        ):
            user = users.create_user(session, email, PASSWORD)
            for tenant, role in memberships:
                users.set_membership(session, user, tenant, role)
        for tenant in (alpha, beta):
            values = {"username": "anna", "password": "S3cret-value!"}
            secrets.create_secret(session, runtime.secret_box, tenant.id, "Mail login", "basic", values)
