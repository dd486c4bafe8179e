"""A connection that drops in the middle of a fetch is re-established and the sync carries on."""

from __future__ import annotations

from collections.abc import Callable

from postroom.testing.dovecot import Dovecot
from postroom.testing.proxy import cutting_proxy
from tests.sync.conftest import Mailbox, make_message


def test_sync_survives_a_dropped_connection(mailbox_factory: Callable[..., Mailbox], dovecot: Dovecot) -> None:
    with cutting_proxy((dovecot.host, dovecot.imaps_port)) as proxy:
        box = mailbox_factory(dovecot, port=proxy.port, server_name="127.0.0.1")
        for n in range(30):
            box.append("INBOX", make_message(f"big {n}", "x" * 60_000))
        proxy.cut_after(400_000)  # well into the fetch of the message bodies
        result = box.sync()
        assert proxy.cuts == 1 and proxy.connections >= 2
    assert result.status.value == "succeeded"
    assert result.mailboxes[box.address].total().new == 30
    assert box.archive() == box.source()
