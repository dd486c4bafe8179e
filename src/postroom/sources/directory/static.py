"""A static list of mailboxes kept in Postroom itself (uploaded as CSV)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from postroom.domain.connection_test import ConnectionTest, Step, StepStatus
from postroom.domain.directory import DirectorySettings
from postroom.domain.mailbox_list import DirectoryEntry


class StaticDirectory:
    """The entries stored with the directory service; the address is the external ID."""

    def __init__(self, settings: DirectorySettings) -> None:
        self.settings = settings

    def mailboxes(self) -> Iterator[DirectoryEntry]:
        for entry in self.settings.entries:
            yield DirectoryEntry(entry.address, entry.display_name, entry.address)

    def test(self) -> ConnectionTest:
        count = len(self.settings.entries)
        step = Step(
            name="entries",
            title="Entries",
            status=StepStatus.OK if count else StepStatus.FAILED,
            summary=f"{count} mailboxes listed" if count else "the list is empty",
            duration_ms=0.0,
            hint=None if count else "upload the list as CSV: address,display name per line",
        )
        return ConnectionTest(target="static list", account="(none)", started_at=datetime.now(UTC), steps=[step])
