"""The corpus converted to ``.msg`` once per test run, and read back by msgconvert in one batch."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from postroom.formats.msg.convert import Conversion, msg_bytes
from tests.formats.msg.corpus import Case, corpus

MSGCONVERT = "/usr/bin/msgconvert"


@dataclass(frozen=True)
class Converted:
    case: Case
    path: Path
    data: bytes
    conversion: Conversion


@pytest.fixture(scope="session")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Converted]:
    folder = tmp_path_factory.mktemp("msg")
    found: dict[str, Converted] = {}
    for case in corpus():
        data, conversion = msg_bytes(case.raw, received=case.received)
        path = folder / f"{case.name}.msg"
        path.write_bytes(data)
        found[case.name] = Converted(case, path, data, conversion)
    return found


def run_msgconvert(paths: Iterable[Path], folder: Path) -> dict[str, bytes | str]:
    """msgconvert's ``.eml`` of each file (by stem), or its error output; one Perl process for all."""
    wanted = list(paths)
    env = {**os.environ, "TZ": "UTC"}  # it formats PtypTime values in local time but labels them +0000
    batch = subprocess.run([MSGCONVERT, *map(str, wanted)], cwd=folder, env=env, capture_output=True, check=False)
    results: dict[str, bytes | str] = {}
    for path in wanted:
        eml = folder / f"{path.stem}.eml"
        if batch.returncode != 0 and not eml.exists():  # the batch stopped early: run this one alone
            alone = subprocess.run([MSGCONVERT, str(path)], cwd=folder, env=env, capture_output=True, check=False)
            if alone.returncode != 0:
                results[path.stem] = alone.stderr.decode("utf-8", "replace") or f"exit {alone.returncode}"
                continue
        results[path.stem] = eml.read_bytes()
    return results


@pytest.fixture(scope="session")
def msgconvert_emls(
    converted: dict[str, Converted], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, bytes | str]:
    """msgconvert's output for every corpus message it can read in reasonable time.

    Email::MIME adds parts in quadratic time (3 minutes for 2,000 parts), so messages tagged
    ``slow-msgconvert`` are left to the other readers.
    """
    if not shutil.which(MSGCONVERT):
        pytest.fail("msgconvert is missing: install the Debian packages in scripts/debian-packages.txt")
    paths = [c.path for c in converted.values() if "slow-msgconvert" not in c.case.tags]
    return run_msgconvert(paths, tmp_path_factory.mktemp("eml"))
