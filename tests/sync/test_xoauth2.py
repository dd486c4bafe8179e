"""XOAUTH2 against a real Dovecot whose oauth2 passdb asks a local introspection endpoint."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from postroom.domain.process import ProcessStatus
from postroom.services import secrets as secret_service
from postroom.sources.imap import ImapConnection
from postroom.sources.imap_check import check_imap
from postroom.testing.dovecot import Dovecot
from postroom.testing.oauth import IntrospectionServer
from tests.sync.conftest import Mailbox, make_message


@pytest.fixture(scope="module")
def introspection() -> Iterator[IntrospectionServer]:
    with IntrospectionServer() as server:
        yield server


@pytest.fixture(scope="module")
def oauth_dovecot(introspection: IntrospectionServer) -> Iterator[Dovecot]:
    with Dovecot(oauth2_introspection_url=introspection.url) as server:
        yield server


def use_token(mailbox: Mailbox, token: str) -> None:
    with mailbox.runtime.transaction() as session:
        secret = secret_service.create_secret(
            session,
            mailbox.runtime.secret_box,
            mailbox.tenant.id,
            f"token {token[:6]}",
            "oauth",
            {"access_token": token, "account": mailbox.address},
        )
    mailbox.edit(secret_id=secret.id)


def test_a_sync_logs_in_with_xoauth2(
    mailbox_factory: Callable[..., Mailbox], oauth_dovecot: Dovecot, introspection: IntrospectionServer
) -> None:
    mailbox = mailbox_factory(oauth_dovecot)
    mailbox.append("INBOX", make_message("token holder"))
    use_token(mailbox, introspection.issue(mailbox.address))
    asked = introspection.requests
    result = mailbox.sync()
    assert result.status is ProcessStatus.SUCCEEDED
    assert mailbox.archive() == mailbox.source()
    assert introspection.requests > asked  # Dovecot really checked the token


def test_an_expired_token_fails_with_the_servers_words(
    mailbox_factory: Callable[..., Mailbox], oauth_dovecot: Dovecot, introspection: IntrospectionServer
) -> None:
    mailbox = mailbox_factory(oauth_dovecot)
    mailbox.append("INBOX", make_message("out of reach"))
    token = introspection.issue(mailbox.address)
    use_token(mailbox, token)
    introspection.expire(token)
    result = mailbox.sync()
    assert result.status is ProcessStatus.FAILED
    assert mailbox.stored_messages() == 0
    log = mailbox.log_texts(result.request_id)
    assert any(f"rejected the XOAUTH2 login of {mailbox.address!r}" in text and "expired" in text for text in log), log


def test_test_connection_logs_in_with_xoauth2_and_explains_an_expired_token(
    oauth_dovecot: Dovecot, introspection: IntrospectionServer
) -> None:
    oauth_dovecot.add_user("carol", "unused-password")
    token = introspection.issue("carol@example.test")

    def connection(access_token: str) -> ImapConnection:
        return ImapConnection(
            host=oauth_dovecot.host,
            port=oauth_dovecot.imaps_port,
            starttls=False,
            username="carol@example.test",
            oauth_token=access_token,
            trusted_ca_pem=oauth_dovecot.ca_cert_path.read_text(),
        )

    passed = check_imap(connection(token))
    assert passed.ok, passed.as_text()
    assert "with XOAUTH2" in next(s for s in passed.steps if s.name == "login").summary
    introspection.expire(token)
    failed = check_imap(connection(token))
    assert not failed.ok
    login = next(s for s in failed.steps if s.name == "login")
    assert login.error and "AUTHENTICATIONFAILED" in login.error  # the server's own words
    assert "token" in failed.as_text().lower()  # and a hint a person can act on
