"""Multiple-mailbox mode on IMAP: one administrator credential reads every user's mailbox, by the
authorization identity of SASL PLAIN (RFC 4616), against a real Dovecot with a master passdb."""

from __future__ import annotations

import secrets

from postroom.domain.connection_test import StepStatus
from postroom.errors import SourceAuthFailed
from postroom.sources.imap import ImapSource
from postroom.sources.imap_check import check_imap
from postroom.testing.dovecot import Dovecot
from tests.sources.conftest import Account, new_account


def _master(dovecot: Dovecot) -> tuple[str, str]:
    name, password = f"archiver{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    dovecot.add_master_user(name, password)
    return name, password


def test_a_master_user_reads_each_users_mailbox_as_that_user(dovecot: Dovecot) -> None:
    alice, bob = new_account(dovecot), new_account(dovecot)
    dovecot.append(alice.user, alice.password, "INBOX", b"Subject: for alice\r\n\r\nA\r\n")
    dovecot.append(bob.user, bob.password, "INBOX", b"Subject: for bob\r\n\r\nB\r\n")
    master, password = _master(dovecot)
    for account, subject in ((alice, b"for alice"), (bob, b"for bob")):
        connection = account.connection(username=master, password=password, authorization_identity=account.user)
        source = ImapSource(connection).connect()
        try:
            inbox = next(f for f in source.list_folders() if f.path == ("INBOX",))
            listed = source.changes(inbox, None).new
            fetched = [raw for _message, raw in source.fetch(inbox, listed)]
        finally:
            source.close()
        assert len(fetched) == 1 and subject in fetched[0]


def test_a_wrong_master_password_or_an_unknown_mailbox_is_refused_clearly(imap_account: Account) -> None:
    master, password = _master(imap_account.server)
    wrong = imap_account.connection(username=master, password="nope", authorization_identity=imap_account.user)
    try:
        ImapSource(wrong).connect()
    except SourceAuthFailed as exc:
        assert f"{master!r} as {imap_account.user!r}" in str(exc)
    else:
        raise AssertionError("a wrong master password logged in")
    nobody = imap_account.connection(username=master, password=password, authorization_identity="nobody-here")
    result = check_imap(nobody)
    login = next(step for step in result.steps if step.name == "login")
    assert login.status is StepStatus.FAILED
    assert login.hint is not None and "act as other users" in login.hint and "'nobody-here'" in login.hint
    assert password not in result.as_text()


def test_test_connection_says_who_it_acts_as(imap_account: Account) -> None:
    master, password = _master(imap_account.server)
    connection = imap_account.connection(username=master, password=password, authorization_identity=imap_account.user)
    result = check_imap(connection)
    login = next(step for step in result.steps if step.name == "login")
    assert login.status is StepStatus.OK, result.as_text()
    assert f"logged in as {master}, acting as {imap_account.user}" in login.summary
    folders = next(step for step in result.steps if step.name == "folders")
    assert folders.status is StepStatus.OK
