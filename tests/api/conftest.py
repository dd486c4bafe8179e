"""API fixtures: users with tokens, talking to the real server over HTTP."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from postroom.runtime import Runtime
from postroom.services import users
from postroom.services.access import Actor, Role
from postroom.services.tenants import create_tenant

# The request bodies of a basic secret and of a single-mailbox IMAP profile that uses it.
BASIC = {"name": "Mail login", "kind": "basic", "values": {"username": "anna", "password": "S3cret-value!"}}
IMAP = {
    "name": "Main IMAP",
    "type": "imap",
    "mode": "single",
    "server_name": "mail.example.com",
    "protocol": "IMAP-SSL",
    "secret_id": "Mail login",
    "mailbox": "anna@example.com",
}


@dataclass
class Caller:
    token: str
    client: httpx.Client

    def __getattr__(self, verb: str) -> object:
        method = getattr(self.client, verb)

        def call(url: str, **kw: object) -> httpx.Response:
            headers = {"Authorization": f"Bearer {self.token}"}
            return method(url, headers=headers, **kw)  # type: ignore[no-any-return]

        return call


def make_caller(
    runtime: Runtime, http: httpx.Client, email: str, tenant: str | None, role: Role, superadmin: bool = False
) -> Caller:
    with runtime.transaction() as session:
        user = users.create_user(session, email, "a-long-password-1", superadmin=superadmin)
        if tenant:
            from postroom.services.access import tenant_for

            users.set_membership(session, user, tenant_for(session, Actor.local_admin(), tenant), role)
        _token, plaintext = users.create_token(session, user, "tests")
    return Caller(plaintext, http)


@pytest.fixture
def two_tenants(runtime: Runtime) -> None:
    with runtime.transaction() as session:
        create_tenant(session, Actor.local_admin(), "alpha")
        create_tenant(session, Actor.local_admin(), "beta")


@pytest.fixture
def root(runtime: Runtime, http: httpx.Client) -> Caller:
    return make_caller(runtime, http, "root@example.com", None, Role.ADMIN, superadmin=True)


@pytest.fixture
def alice(runtime: Runtime, http: httpx.Client, two_tenants: None) -> Caller:
    """Administrator of tenant alpha only."""
    return make_caller(runtime, http, "alice@example.com", "alpha", Role.ADMIN)


@pytest.fixture
def bob(runtime: Runtime, http: httpx.Client, two_tenants: None) -> Caller:
    """Administrator of tenant beta only."""
    return make_caller(runtime, http, "bob@example.com", "beta", Role.ADMIN)
