"""Fixtures for the connector's tests: a license, a fake server, an agent wired to both."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from postroom.connector.agent import Agent, AgentSettings
from postroom.domain.connector import License
from tests.connector.fake_server import SECRET, FakeServer

RAW = (
    b"From: Sally <sally@example.com>\r\nTo: bob@example.com\r\nSubject: Quarterly report\r\n"
    b"Date: Sun, 22 Nov 2026 11:15:30 +0100\r\nMessage-ID: <q@example.com>\r\n\r\nHello.\r\n"
)
FACTS = {"date": "2026-11-22T10:15:30+00:00", "received": "2026-11-22T10:16:00Z", "subject": "Quarterly report"}


@pytest.fixture
def license() -> License:
    return License("http://postroom.test", "acme", "c1", "fileserver", "2026-11-23T00:00:00Z", SECRET)


@pytest.fixture
def server(tmp_path: Path) -> FakeServer:
    folder = tmp_path / "projects"
    folder.mkdir()
    return FakeServer(
        locations=[
            {
                "id": "L1",
                "name": "Surrey Court",
                "sync_path": str(folder),
                "format": "eml",
                "naming_template": "{date} {subject}",
            },
            {
                "id": "L2",
                "name": "Msg Place",
                "sync_path": str(folder),
                "format": "msg",
                "naming_template": "msg/{date} {subject}",
            },
        ]
    )


@pytest.fixture
def make_agent(tmp_path: Path, license: License, server: FakeServer) -> Callable[..., Agent]:
    def make(**options: Any) -> Agent:
        settings = AgentSettings(license=license, state_dir=tmp_path / "state", **({"once": True} | options))
        return Agent(settings, transport=server.transport())

    return make
