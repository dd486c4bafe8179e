"""``postroom connector run`` and ``postroom connector doctor``: the connector's own commands.

They run on the connector's machine and need only its license file, never the server's settings
or database. Exit codes (``docs/connector.md``): 0 stopped cleanly or all good; 1 something
failed (``--once``: results left unreported; doctor: a check failed); 2 the license file, a
``--root`` or the state folder is unusable; 3 the server revoked or does not know the license;
4 ``--once`` found another connector holding the lease.
"""

from __future__ import annotations

import logging
import logging.handlers
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from postroom.domain.connector import DEFAULT_LICENSE_NAME, License, parse_license
from postroom.domain.location import PathRoot
from postroom.errors import InvalidInput, LicenseError

LicenseOpt = Annotated[
    Path, typer.Option("--license", "-l", help=f"The connector's license file ({DEFAULT_LICENSE_NAME}).")
]
RootOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--root",
        help="SERVER=LOCAL: the server's sync path prefix SERVER is the folder LOCAL here (repeatable; "
        "before the path roots the server keeps for this connector).",
    ),
]
StateDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        help="Folder for the lock, instance ID and results journal "
        "(default: $XDG_STATE_HOME or ~/.local/state, /postroom-connector/<connector ID>).",
    ),
]


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _read_license(path: Path) -> License:
    try:
        return parse_license(path.read_bytes(), source=str(path))
    except OSError as exc:
        raise _fail(f"cannot read the license file {path}: {exc.strerror or exc}", 2) from exc
    except LicenseError as exc:
        raise _fail(str(exc), 2) from exc


def parse_roots(values: list[str] | None) -> tuple[PathRoot, ...]:
    """``--root SERVER=LOCAL`` options as path roots, split at the last ``=`` as the server's ``--root`` is."""
    from postroom.connector.protocol import parse_root

    roots = []
    for value in values or []:
        server, sep, local = value.rpartition("=")
        if not sep:
            raise _fail(f"--root {value!r}: write it as SERVER=LOCAL, e.g. \\\\fs\\projects=/srv/projects", 2)
        try:
            roots.append(parse_root(server, local, f"--root {value!r}"))
        except InvalidInput as exc:
            raise _fail(str(exc), 2) from exc
    return tuple(roots)


def _state_dir(license: License, given: Path | None) -> Path:
    from postroom.connector.state import default_state_dir

    return given or default_state_dir(license.connector_id)


def _setup_logging(log_file: Path, verbose: bool) -> None:
    formatter = logging.Formatter("%(asctime)s %(levelname)-7s %(message)s")
    logger = logging.getLogger("postroom.connector")
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(formatter)
    logger.addHandler(console)
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file = logging.handlers.RotatingFileHandler(log_file, maxBytes=10 << 20, backupCount=5, encoding="utf-8")
    except OSError as exc:
        logger.warning("cannot write the log file %s (%s): logging to stdout only", log_file, exc.strerror or exc)
        return
    file.setFormatter(formatter)
    logger.addHandler(file)


def run(
    license: LicenseOpt = Path(DEFAULT_LICENSE_NAME),
    root: RootOpt = None,
    state_dir: StateDirOpt = None,
    once: Annotated[bool, typer.Option("--once", help="One pass: file everything due, report, release, exit.")] = False,
    interval: Annotated[
        float | None,
        typer.Option("--interval", min=0.5, help="Seconds between polls (default: the server's, normally 30)."),
    ] = None,
    batch: Annotated[int, typer.Option("--batch", min=1, max=500, help="Deliveries claimed at a time.")] = 100,
    log_file: Annotated[
        Path | None,
        typer.Option("--log-file", help="Log file, rotated at 10 MB, five kept (default: STATE_DIR/connector.log)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debugging detail too.")] = False,
) -> None:
    """Run the sync connector: write filed messages into the locations' folders until stopped."""
    from postroom.connector.agent import Agent, AgentSettings

    settings = AgentSettings(
        license=_read_license(license),
        state_dir=Path(),
        roots=parse_roots(root),
        interval=interval,
        once=once,
        batch=batch,
    )
    folder = _state_dir(settings.license, state_dir)
    settings = AgentSettings(**{**settings.__dict__, "state_dir": folder})
    _setup_logging(log_file or folder / "connector.log", verbose)
    agent = Agent(settings)

    def stop(signum: int, frame: FrameType | None) -> None:
        logging.getLogger("postroom.connector").info(
            "%s: stopping after the file in progress", signal.Signals(signum).name
        )
        agent.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    raise typer.Exit(agent.run())


def doctor(
    license: LicenseOpt = Path(DEFAULT_LICENSE_NAME),
    root: RootOpt = None,
    state_dir: StateDirOpt = None,
) -> None:
    """Check why files are not syncing: license, server, lease, and every location's folder."""
    from postroom.connector.doctor import diagnose

    checks = diagnose(license, roots=parse_roots(root), state_dir=state_dir, say=lambda check: typer.echo(check.line()))
    failed = [c for c in checks if not c.ok]
    warned = [c for c in checks if c.warning]
    if failed:
        typer.echo(f"{len(failed)} of {len(checks)} checks failed: fix the ✗ lines above, then run doctor again.")
        raise typer.Exit(1)
    typer.echo(f"all {len(checks)} checks passed" + (f" ({len(warned)} warnings)" if warned else ""))
