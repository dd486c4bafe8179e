"""The ``Directory`` port: what Postroom needs from any directory of mailboxes.

A directory lists mailboxes (:meth:`Directory.mailboxes`, an iterator, so that a directory of
100,000 users is read page by page) and tests its own connection step by step
(:meth:`Directory.test`, the same :class:`~postroom.domain.connection_test.ConnectionTest` the
profiles' Test Connection shows). Failures to reach or read the directory are raised as
:class:`~postroom.errors.SourceError` (naming the step and keeping the server's raw answer) or
:class:`~postroom.errors.SourceAuthFailed`; an entry without a usable address is not an error
here: the listing is cleaned by :func:`postroom.domain.directory.clean_listing`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from postroom.domain.connection_test import ConnectionTest
from postroom.domain.mailbox_list import DirectoryEntry

__all__ = ["Directory", "DirectoryEntry"]


class Directory(Protocol):
    """One configured directory, ready to be read."""

    def mailboxes(self) -> Iterator[DirectoryEntry]:
        """Every entry the directory lists for synchronization, as the directory has it."""
        ...

    def test(self) -> ConnectionTest:
        """Reach, authenticate and read a first entry; never raises for the directory's failures."""
        ...
