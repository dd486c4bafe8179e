"""The fallbacks: a server without CONDSTORE/QRESYNC (UID-set diff) and without UIDPLUS (no
UID EXPUNGE, so Postroom must never expunge mail somebody else flagged \\Deleted)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from postroom.testing.dovecot import Dovecot
from tests.sync.conftest import Mailbox, make_message


@pytest.fixture(scope="module")
def bare_dovecot() -> Iterator[Dovecot]:
    with Dovecot(condstore_qresync=False, uidplus=False, move=False, record_sessions=True) as server:
        yield server


@pytest.fixture
def bare(mailbox_factory: Callable[..., Mailbox], bare_dovecot: Dovecot) -> Mailbox:
    return mailbox_factory(bare_dovecot)


def test_expunged_mail_is_found_by_uid_diff(bare: Mailbox) -> None:
    uids = [bare.append("INBOX", make_message(f"m{n}")) for n in range(3)]
    bare.sync()
    with bare.imap() as imap:
        imap.select("INBOX")
        imap.uid("STORE", str(uids[1]), "+FLAGS", "(\\Deleted)")
        imap.expunge()
    bare.append("INBOX", make_message("new one"))
    counts = bare.sync().mailboxes[bare.address].total()
    assert (counts.new, counts.vanished) == (1, 1)
    assert bare.archive() == bare.source()
    sent = b"\n".join(bare_dovecot_lines(bare))
    assert b"CHANGEDSINCE" not in sent and b"MODSEQ" not in sent


def bare_dovecot_lines(mailbox: Mailbox) -> list[bytes]:
    return mailbox.server.client_lines(mailbox.user)


def test_without_uidplus_nothing_flagged_by_others_is_expunged(bare: Mailbox) -> None:
    recent = datetime.now(UTC) - timedelta(days=3)
    theirs = bare.append("INBOX", make_message("recent, the user flagged it deleted"), ("\\Deleted",), recent)
    bare.append("INBOX", make_message("old: ours to delete"), (), datetime(2020, 1, 1, tzinfo=UTC))
    bare.edit(delete_policy={"when": "message-older-than", "amount": 1, "unit": "years"})
    result = bare.sync()
    assert result.mailboxes[bare.address].total().deleted_in_source == 0
    assert len(bare.source()["INBOX"]) == 2  # a plain EXPUNGE would have taken the user's message too
    with bare.imap() as imap:  # once nobody else's message is flagged, Postroom expunges its own
        imap.select("INBOX")
        imap.uid("STORE", str(theirs), "-FLAGS", "(\\Deleted)")
    assert bare.sync().mailboxes[bare.address].total().deleted_in_source == 1
    assert [m for m in bare.source()["INBOX"] if b"recent, the user" in m]
    sent = b"\n".join(bare_dovecot_lines(bare))
    assert b"UID EXPUNGE" not in sent.upper()
