"""CLI fixtures: the real ``postroom`` console script, run as a subprocess on the test database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from postroom.runtime import Runtime

POSTROOM = Path(sys.executable).parent / "postroom"


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass(frozen=True)
class Cli:
    """Runs ``postroom ARGS`` with only the POSTROOM_* variables the test chose."""

    env: Mapping[str, str]
    data_dir: Path

    def run(self, *args: str, input: str | None = None, env: Mapping[str, str] | None = None) -> Result:
        done = subprocess.run(
            [str(POSTROOM), *args],
            env={**self.env, **(env or {})},
            cwd=self.data_dir.parent,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,  # never prompt on a terminal
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def __call__(self, *args: str, input: str | None = None, env: Mapping[str, str] | None = None) -> Result:
        """Run a command that must succeed."""
        result = self.run(*args, input=input, env=env)
        assert result.code == 0, f"postroom {' '.join(args)} exited {result.code}:\n{result.stderr}"
        return result

    def fails(self, *args: str, input: str | None = None, env: Mapping[str, str] | None = None) -> str:
        """Run a command that must fail the Postroom way; return its one-line error message."""
        result = self.run(*args, input=input, env=env)
        assert result.code == 1, f"postroom {' '.join(args)} exited {result.code}:\n{result.stderr}"
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        return lines[0]


def cli_env(data_dir: Path, database_url: str, **extra: str) -> dict[str, str]:
    """This process's environment without any POSTROOM_* (or colour forcing), plus the test's own."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("POSTROOM_") and key not in {"FORCE_COLOR", "TTY_COMPATIBLE"}
    }
    env.update(NO_COLOR="1", POSTROOM_DATA_DIR=str(data_dir), POSTROOM_DATABASE_URL=database_url, **extra)
    return env


@pytest.fixture
def cli(tmp_path: Path, database_url: str, runtime: Runtime) -> Cli:
    """The CLI on the suite's (migrated) database with a data directory of its own.

    Depending on ``runtime`` empties every table after the test.
    """
    data_dir = tmp_path / "data"
    return Cli(cli_env(data_dir, database_url), data_dir)
