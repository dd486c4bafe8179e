"""The static list as a directory."""

from __future__ import annotations

from postroom.domain.connection_test import StepStatus
from postroom.domain.directory import validate_new_directory
from postroom.domain.mailbox_list import DirectoryEntry, clean_listing
from postroom.sources.directory.registry import open_directory


def test_static_list_lists_its_entries() -> None:
    settings = validate_new_directory(
        {"name": "Board", "type": "static", "entries": "address,name\nanna@Example.com,Anna\nbob@example.com"}
    )
    directory = open_directory(settings, {})
    assert list(directory.mailboxes()) == [
        DirectoryEntry("anna@example.com", "Anna", "anna@example.com"),
        DirectoryEntry("bob@example.com", None, "bob@example.com"),
    ]
    assert len(clean_listing(directory.mailboxes()).mailboxes) == 2
    test = directory.test()
    assert test.ok and test.steps[0].summary == "2 mailboxes listed"


def test_an_empty_static_list_fails_its_test() -> None:
    test = open_directory(validate_new_directory({"name": "Empty", "type": "static"}), {}).test()
    assert test.steps[0].status is StepStatus.FAILED and "upload the list as CSV" in (test.steps[0].hint or "")
