"""The real slapd the directory tests use, session-scoped (about 0.2 s to start).

Import the fixture into a test module (``from tests.directory.servers import slapd``) or a
conftest; ``tests/directory/conftest.py`` does so for this folder. Each place that imports it
starts its own server once per session, on ports of its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from postroom.testing.slapd import Slapd

USERS = 12  # more than SIZE_LIMIT, so only a paged search lists them all
SIZE_LIMIT = 5


@pytest.fixture(scope="session")
def slapd() -> Iterator[Slapd]:
    """12 people with mail (plus the odd ones, see ``postroom.testing.slapd``); 5 entries per search."""
    with Slapd(users=USERS, size_limit=SIZE_LIMIT) as server:
        yield server
