"""SIGTERM finishes the file in progress; an unwritable folder is skipped ``permission_denied``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from postroom.connector import agent as agent_module
from postroom.connector.agent import Agent, ExitCode
from postroom.connector.protocol import DeliveryResult
from postroom.connector.writer import Prepared
from tests.connector.conftest import FACTS, RAW
from tests.connector.fake_server import FakeServer

ROOT = Path(__file__).resolve().parents[2]


def test_sigterm_during_a_write_finishes_that_file_then_releases(
    tmp_path: Path, server: FakeServer, make_agent: Callable[..., Agent], monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(5):
        server.add(f"d{n}", "L1", RAW + str(n).encode(), **(FACTS | {"subject": f"m{n}"}))
    agent = make_agent(once=False, interval=0.5)
    real_write = agent_module.write

    def slow_write(prepared: Prepared, unsynced: set[Path] | None = None) -> DeliveryResult:
        if prepared.delivery.id == "d1":
            os.kill(os.getpid(), signal.SIGTERM)  # arrives in the middle of this file
        return real_write(prepared, unsynced)

    monkeypatch.setattr(agent_module, "write", slow_write)
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: agent.stop())
    try:
        assert agent.run() == ExitCode.OK
    finally:
        signal.signal(signal.SIGTERM, previous)
    written = sorted(p.name for p in (tmp_path / "projects").iterdir())
    assert written == ["20261122T101530Z m0.eml", "20261122T101530Z m1.eml"]
    assert [r["delivery_id"] for r in server.results] == ["d0", "d1"]
    assert server.holder is None


PROBE = """
import json, sys
from pathlib import Path
from postroom.connector.agent import Agent, AgentSettings
from postroom.domain.connector import License
from tests.connector.fake_server import SECRET, FakeServer
base = Path(sys.argv[1])
server = FakeServer(locations=[{"id": "L1", "name": "ro", "sync_path": str(base / "ro"), "format": "eml",
                                "naming_template": "{date}"}])
server.add("d1", "L1", b"Subject: x\\r\\n\\r\\nbody\\r\\n")
license = License("http://postroom.test", "acme", "c1", "fs", "2026", SECRET)
code = Agent(AgentSettings(license=license, state_dir=base / "state", once=True), transport=server.transport()).run()
print(json.dumps({"code": code, "results": server.results}))
"""


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder another user can reach (pytest's own are private to root)."""
    base = Path(tempfile.mkdtemp())
    base.chmod(0o755)
    (base / "ro").mkdir(mode=0o755)
    (base / "state").mkdir(mode=0o777)
    (base / "state").chmod(0o777)
    yield base
    shutil.rmtree(base)


def test_a_folder_without_write_permission_is_skipped_with_the_reason(shared_folder: Path) -> None:
    command = [sys.executable, "-c", PROBE, str(shared_folder)]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root and setpriv is missing: root may write anywhere")
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True, timeout=60)
    answer = json.loads(done.stdout.splitlines()[-1])
    assert answer["code"] == 0
    [result] = answer["results"]
    assert (result["outcome"], result["reason"]) == ("skipped", "permission_denied")
    assert "permission" in result["error"]
    assert list((shared_folder / "ro").iterdir()) == []
