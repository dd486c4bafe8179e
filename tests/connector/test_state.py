"""The state folder: one process at a time, a lasting instance ID, and the results journal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from postroom.connector.errors import StateFolderInUse
from postroom.connector.protocol import DeliveryResult
from postroom.connector.state import Journal, StateFolder
from postroom.domain.connector import Outcome, Reason

HOLD = """
import sys, time
from pathlib import Path
from postroom.connector.state import StateFolder
with StateFolder(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(30)
"""


def test_a_second_process_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    with subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
            with pytest.raises(StateFolderInUse, match=rf"pid {holder.pid}\b"):
                StateFolder(tmp_path)
        finally:
            holder.kill()
    with StateFolder(tmp_path):  # free again once that process is gone
        pass


def test_the_instance_id_is_kept(tmp_path: Path) -> None:
    with StateFolder(tmp_path) as state:
        first = state.instance_id
    with StateFolder(tmp_path) as state:
        assert state.instance_id == first
    assert len(first) == 32


def result(n: int, outcome: Outcome = Outcome.WRITTEN) -> DeliveryResult:
    if outcome is Outcome.SKIPPED:
        return DeliveryResult(f"d{n}", 1, outcome, reason=Reason.PERMISSION_DENIED, error="no permission")
    return DeliveryResult(f"d{n}", 1, outcome, path=f"/srv/{n}.eml", size=10, sha256="ab" * 32)


def test_the_journal_survives_reopening_and_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    journal = Journal(path)
    journal.append([result(1), result(2, Outcome.SKIPPED)])
    journal.close()
    with path.open("a") as file:
        file.write('{"delivery_id": "d3", "att')  # a crash in the middle of a line
    journal = Journal(path)
    assert journal.pending() == [result(1), result(2, Outcome.SKIPPED)]
    journal.append([result(4)])
    journal.close()
    assert ids(path) == ["d1", "d2", "d4"]


def test_acknowledged_results_are_compacted_away(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    journal = Journal(path, compact_after=10)
    journal.append(result(n) for n in range(30))
    journal.acknowledge(result(n).key for n in range(25))
    assert len(path.read_text().splitlines()) == 5  # rewritten: acknowledged lines outnumbered the rest
    journal.acknowledge(result(n).key for n in range(25, 30))
    assert path.read_text() == ""
    journal.append([result(99)])
    journal.close()
    assert ids(path) == ["d99"]


def ids(path: Path) -> list[str]:
    journal = Journal(path)
    journal.close()
    return [r.delivery_id for r in journal.pending()]
