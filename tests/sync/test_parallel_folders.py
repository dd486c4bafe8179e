"""Folders are fetched on several connections at once, and a server that allows only one still
gets a complete archive."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select

from postroom.db.models import ProcessMessage
from postroom.testing.dovecot import Dovecot
from tests.sync.conftest import Mailbox, make_message

FOLDERS = ["INBOX", "Projects", "Projects/Surrey Court", "Rechnungen", "Archive"]


def fill(mailbox: Mailbox, per_folder: int) -> None:
    for folder in FOLDERS[1:]:
        mailbox.create(folder)
    for folder in FOLDERS:
        for n in range(per_folder):
            mailbox.append(folder, make_message(f"{folder} {n}", "text " * 2000))


def fetching_sessions(server: Dovecot, user: str) -> int:
    """Postroom's sessions (it sends IMAP ID) that fetched message bytes."""
    return sum(
        1
        for lines in server.session_lines(user)
        if any(b'"Postroom"' in line for line in lines) and any(b"BODY.PEEK[]" in line for line in lines)
    )


@pytest.fixture
def recording_dovecot() -> Iterator[Dovecot]:
    with Dovecot(record_sessions=True) as server:
        yield server


def test_folders_are_fetched_on_several_connections(
    mailbox_factory: Callable[..., Mailbox], recording_dovecot: Dovecot
) -> None:
    mailbox = mailbox_factory(recording_dovecot)
    fill(mailbox, 6)
    result = mailbox.sync()
    assert mailbox.archive() == mailbox.source()
    assert sum(r.total().new for r in result.mailboxes.values()) == 6 * len(FOLDERS)
    assert fetching_sessions(recording_dovecot, mailbox.user) > 1


@pytest.fixture
def one_connection_dovecot() -> Iterator[Dovecot]:
    with Dovecot(record_sessions=True, max_connections=1) as server:
        yield server


def test_one_connection_per_user_is_enough(
    mailbox_factory: Callable[..., Mailbox], one_connection_dovecot: Dovecot
) -> None:
    mailbox = mailbox_factory(one_connection_dovecot)
    fill(mailbox, 3)
    result = mailbox.sync()
    assert mailbox.archive() == mailbox.source()
    assert sum(r.total().new for r in result.mailboxes.values()) == 3 * len(FOLDERS)
    assert fetching_sessions(one_connection_dovecot, mailbox.user) == 1


def test_the_log_says_why_folders_were_fetched_one_at_a_time(
    mailbox_factory: Callable[..., Mailbox], one_connection_dovecot: Dovecot
) -> None:
    mailbox = mailbox_factory(one_connection_dovecot)
    fill(mailbox, 1)
    mailbox.sync()
    with mailbox.runtime.sessions() as session:
        texts = list(session.scalars(select(ProcessMessage.text)))
    assert sum("one connection at a time" in text for text in texts) == 1, texts
