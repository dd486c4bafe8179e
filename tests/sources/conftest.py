"""Fixtures for checking connections to a real Dovecot: an account, its connection, a closed port."""

from __future__ import annotations

import dataclasses
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from postroom.sources.imap import ImapConnection
from postroom.testing.dovecot import Dovecot


@dataclass(frozen=True)
class Account:
    """A fresh user on a test Dovecot and the connections that reach it."""

    server: Dovecot
    user: str
    password: str

    def connection(self, security: str = "IMAP-SSL", **changes: object) -> ImapConnection:
        """Trusting the server's CA, with a short timeout; ``changes`` override any field."""
        starttls = security == "IMAP-TLS"
        base = ImapConnection(
            host=self.server.host,
            port=self.server.imap_port if starttls else self.server.imaps_port,
            starttls=starttls,
            username=self.user,
            password=self.password,
            timeout=10,
            trusted_ca_pem=self.server.ca_cert_path.read_text(),
        )
        return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def new_account(server: Dovecot, password: str | None = None) -> Account:
    user = f"check-{secrets.token_hex(4)}"
    password = password or secrets.token_urlsafe(12)
    server.add_user(user, password)
    return Account(server, user, password)


@pytest.fixture
def imap_account(dovecot: Dovecot) -> Account:
    return new_account(dovecot)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port of 127.0.0.1 that nobody listens on: bound (so no one else takes it) but not listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
