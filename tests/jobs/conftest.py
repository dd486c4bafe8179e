"""Fixtures for the queue tests: the sync tests' Dovecot mailbox, shared rather than copied."""

from __future__ import annotations

from tests.sync.conftest import mailbox, mailbox_factory

__all__ = ["mailbox", "mailbox_factory"]
