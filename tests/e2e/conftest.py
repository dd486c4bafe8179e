"""End-to-end fixtures: the real Dovecot mailbox of the sync tests."""

from tests.sync.conftest import mailbox, mailbox_factory

__all__ = ["mailbox", "mailbox_factory"]
