"""Pure parsing of IMAP answers, table-tested."""

from __future__ import annotations

import pytest

from postroom.sources.imap import _uid_set


@pytest.mark.parametrize(
    ("text", "uids"),
    [
        ("", set()),
        ("7", {7}),
        (" 41,43:45,118 ", {41, 43, 44, 45, 118}),
        ("5:3", {3, 4, 5}),  # RFC 3501 allows a range written high:low
        ("1,1,2:2", {1, 2}),
    ],
)
def test_uid_sets_as_vanished_sends_them(text: str, uids: set[int]) -> None:
    assert _uid_set(text) == uids
