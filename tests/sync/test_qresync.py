"""QRESYNC (RFC 7162): vanished messages and changed flags come with the SELECT, no UID-set diff."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select

from postroom.db.archive import FolderEntry
from postroom.testing.dovecot import Dovecot
from tests.sync.conftest import Mailbox, make_message


@pytest.fixture(scope="module")
def recording_dovecot() -> Iterator[Dovecot]:
    with Dovecot(record_sessions=True) as server:
        yield server


def postroom_sessions(server: Dovecot, user: str) -> list[list[bytes]]:
    return [lines for lines in server.session_lines(user) if any(b'"Postroom"' in line for line in lines)]


def test_expunges_and_flags_arrive_with_the_select(
    mailbox_factory: Callable[..., Mailbox], recording_dovecot: Dovecot
) -> None:
    mailbox = mailbox_factory(recording_dovecot)
    uids = [mailbox.append("INBOX", make_message(f"m{n}")) for n in range(4)]
    mailbox.sync()
    with mailbox.imap() as imap:
        imap.select("INBOX")
        imap.uid("STORE", str(uids[0]), "+FLAGS", "(\\Flagged)")
        imap.uid("STORE", str(uids[1]), "+FLAGS", "(\\Deleted)")
        imap.expunge()
    mailbox.append("INBOX", make_message("new one"))
    before = len(postroom_sessions(recording_dovecot, mailbox.user))
    counts = mailbox.sync().mailboxes[mailbox.address].total()
    assert (counts.new, counts.vanished, counts.flags) == (1, 1, 1)
    assert mailbox.archive() == mailbox.source()
    [second_sync] = postroom_sessions(recording_dovecot, mailbox.user)[before:]
    text = b"".join(second_sync).upper()
    assert b"(QRESYNC (" in text
    assert b"SEARCH ALL" not in text and b"MODSEQ" not in text.replace(b"HIGHESTMODSEQ", b"")


def test_the_flags_in_the_archive_follow_qresync(
    mailbox_factory: Callable[..., Mailbox], recording_dovecot: Dovecot
) -> None:
    mailbox = mailbox_factory(recording_dovecot)
    uid = mailbox.append("INBOX", make_message("to flag"))
    mailbox.sync()
    with mailbox.imap() as imap:
        imap.select("INBOX")
        imap.uid("STORE", str(uid), "+FLAGS", "(\\Answered $Label1)")
    mailbox.sync()
    with mailbox.runtime.sessions() as session:
        flags = session.scalars(select(FolderEntry.flags).where(FolderEntry.source_id == str(uid))).all()
    assert [sorted(f) for f in flags] == [["$Label1", "\\Answered"]]
