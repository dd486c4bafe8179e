"""The ``MailSource`` port: what the sync engine needs from any mail system.

It is shaped so that each system's own change tracking fits without the engine knowing it:

=============  ==========================  ===========================  =========================
system         folder identity             cursor                       "start again" signal
=============  ==========================  ===========================  =========================
IMAP           name (+ UIDVALIDITY hint)   UIDVALIDITY, last UID,       UIDVALIDITY changed
                                           HIGHESTMODSEQ
Graph          folder id                   delta link                   410 Gone
Gmail          label id                    history id                   404 on history
EWS            folder id                   SyncFolderItems state        invalid sync state
=============  ==========================  ===========================  =========================

The cursor is an opaque JSON object: the source makes it, the engine stores it (after the
messages it covers are committed) and hands it back next time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

Cursor = dict[str, Any]


@dataclass(frozen=True)
class SourceFolder:
    """A folder as the source lists it."""

    key: str  # how the source addresses it now (IMAP: the raw folder name; Graph: the folder id)
    path: tuple[str, ...]  # display names from the top, decoded (modified UTF-7 already undone)
    special_use: str | None = None  # \Sent, \Trash, \Junk, \Drafts, \Archive, \All, \Flagged
    selectable: bool = True
    identity: str | None = None  # survives a rename where the system allows telling (IMAP: UIDVALIDITY)


@dataclass(frozen=True, slots=True)  # a full listing holds one per message: keep them small
class RemoteMessage:
    """A message as listed in a source folder, before its bytes are fetched."""

    id: str  # unique within the folder for the cursor's lifetime (IMAP: the UID)
    size: int | None = None
    internal_date: datetime | None = None
    flags: frozenset[str] = frozenset()
    message_id: str | None = None  # the Message-ID header, when the source gives it cheaply

    def recognition_key(self) -> tuple[str, int, datetime] | None:
        """What lets a moved message be recognised without downloading it again."""
        if self.message_id and self.size is not None and self.internal_date is not None:
            return (self.message_id, self.size, self.internal_date)
        return None


@dataclass
class FolderChanges:
    """What changed in one folder since ``cursor``; an empty one costs the source one round trip."""

    cursor: Cursor  # store this once everything below is committed
    reset: bool = False  # the old cursor is void (UIDVALIDITY, 410, …): ``present`` lists everything
    new: list[RemoteMessage] = field(default_factory=list)
    flag_changes: dict[str, frozenset[str]] = field(default_factory=dict)
    vanished: set[str] | None = None  # ids gone, when the source can tell (QRESYNC, delta)
    present: set[str] | None = None  # all ids now there, when it cannot (the engine diffs)


class MailSource(Protocol):
    """One mailbox of a mail system, open for reading (and deleting, if the policy says so)."""

    def list_folders(self) -> list[SourceFolder]: ...

    def changes(self, folder: SourceFolder, cursor: Cursor | None) -> FolderChanges: ...

    def fetch(self, folder: SourceFolder, messages: Sequence[RemoteMessage]) -> Iterator[tuple[RemoteMessage, bytes]]:
        """The exact bytes of each message, streamed in batches; never marks anything read."""
        ...

    def delete(self, folder: SourceFolder, ids: Sequence[str]) -> list[str]:
        """Remove exactly these messages from the source folder; return the ids really removed."""
        ...

    def fork(self) -> MailSource:
        """Another, independent connection to the same mailbox, so folders can be fetched in
        parallel; the caller closes it. Raises ``SourceError`` when the server refuses one more."""
        ...

    def close(self) -> None: ...
