"""The systemd unit that ships with the connector runs a command line the CLI accepts."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer

from postroom.cli.main import app

UNIT = Path(__file__).parents[2] / "packaging" / "systemd" / "postroom-connector.service"


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def test_the_unit_runs_postroom_connector_run_with_options_it_has() -> None:
    service = _unit()["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[:5] == ["/usr/bin/env", "postroom", "connector", "run", "--license"]
    group: Any = typer.main.get_command(app)
    run = group.get_command(None, "connector").get_command(None, "run")
    known = {flag for param in run.params for flag in param.opts}
    assert [arg for arg in argv[4:] if arg.startswith("-") and arg not in known] == []
    assert service["User"] == "postroom-connector" and service["Restart"] == "on-failure"
    assert set(service["RestartPreventExitStatus"].split()) == {"2", "3"}  # a bad or revoked license


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text())
    done = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "postroom-connector.service" not in done.stderr, done.stderr
