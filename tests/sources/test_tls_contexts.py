"""TLS contexts are shared by connections with the same trust, for a while, never across trusts."""

from __future__ import annotations

import ssl

import pytest

from postroom.sources import imap
from postroom.sources.imap import ImapConnection

CA = "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n"


def connection(**changes: object) -> ImapConnection:
    fields: dict[str, object] = {"host": "mail.example.com", "port": 993, "starttls": False, "username": "u"}
    return ImapConnection(**(fields | changes))  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def no_cached_contexts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imap, "_TLS_CONTEXTS", {})


def test_connections_with_the_same_trust_share_one_context(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[ImapConnection] = []
    real = ImapConnection._new_ssl_context

    def counting(self: ImapConnection) -> ssl.SSLContext:
        made.append(self)
        return ssl.create_default_context() if self.trusted_ca_pem else real(self)

    monkeypatch.setattr(ImapConnection, "_new_ssl_context", counting)
    system = connection().ssl_context()
    assert connection(host="other.example.com", username="v").ssl_context() is system
    assert system.verify_mode is ssl.CERT_REQUIRED and system.check_hostname
    with_ca = connection(trusted_ca_pem=CA).ssl_context()
    pinned = connection(fingerprint="ab" * 32).ssl_context()
    assert pinned.verify_mode is ssl.CERT_NONE  # the pin is checked after the handshake
    assert len({id(system), id(with_ca), id(pinned)}) == 3
    assert connection(fingerprint="cd" * 32).ssl_context() is pinned
    assert len(made) == 3


def test_a_context_is_made_again_after_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    first = connection().ssl_context()
    monkeypatch.setattr(imap, "_TLS_CONTEXT_SECONDS", 0.0)
    assert connection().ssl_context() is not first  # renewed system CAs reach a long-running worker
