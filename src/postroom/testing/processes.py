"""Real ``postroom`` processes for end-to-end tests: ``serve`` on a port of its own, and the connector.

Both run the installed console script beside this interpreter, with only the environment the
test gives them, log to a file the test can read, and are stopped by their own process ID.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Self

import httpx

POSTROOM = Path(sys.executable).parent / "postroom"
NOBODY = 65534  # the unprivileged user connector tests run as: root ignores permissions


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    condition: Callable[[], object],
    what: str,
    timeout: float = 60.0,
    every: float = 0.05,
    detail: Callable[[], str] | None = None,
) -> None:
    """Poll ``condition`` until it is true; fail naming ``what`` (and ``detail()``, say a log) on timeout."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            extra = f":\n{detail()}" if detail else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{extra}")
        time.sleep(every)


class _Process:
    """A child process with its output in ``log_path``."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def _spawn(self, argv: Sequence[str], env: Mapping[str, str], cwd: Path | None = None) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                list(argv), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait(self, timeout: float = 60.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL if it has not ended within ``timeout``; the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class ServeProcess(_Process):
    """``postroom serve`` on a fixed port, so that it can be stopped and started again there."""

    def __init__(self, env: Mapping[str, str], log_path: Path, port: int | None = None) -> None:
        super().__init__(log_path)
        self.env = dict(env)
        self.port = port or free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> Self:
        self._spawn([str(POSTROOM), "serve", "--port", str(self.port)], self.env)

        def healthy() -> bool:
            assert self.running, f"postroom serve ended:\n{self.log()}"
            try:
                return httpx.get(f"{self.url}/api/v1/health", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(healthy, "postroom serve to answer", timeout)
        return self


class WorkerProcess(_Process):
    """``postroom worker`` with the given environment (tests, benchmarks)."""

    def __init__(self, env: dict[str, str], log_path: Path, workers: int = 1) -> None:
        super().__init__(log_path)
        self.env, self.workers = env, workers

    def start(self) -> WorkerProcess:
        self._spawn([str(POSTROOM), "worker", "--workers", str(self.workers)], self.env)
        wait_for(lambda: "workers on queue" in self.log() or not self.running, "the worker to start", 60)
        if not self.running:
            raise RuntimeError(f"postroom worker did not start:\n{self.log()}")
        return self


class ConnectorProcess(_Process):
    """``postroom connector run``, as user ``nobody`` when the test runs as root."""

    def __init__(self, env: Mapping[str, str], log_path: Path, args: Sequence[str], cwd: Path | None = None) -> None:
        super().__init__(log_path)
        self.env = dict(env)
        self.args = list(args)
        self.cwd = cwd

    def start(self) -> Self:
        self._spawn([*as_nobody(), str(POSTROOM), "connector", *self.args], self.env, self.cwd)
        return self


def as_nobody() -> list[str]:
    """The command prefix that drops root to ``nobody`` (nothing when not root)."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]


def give_to_nobody(*paths: Path) -> None:
    """Make ``paths`` (recursively) belong to the user connector processes run as."""
    if os.geteuid() != 0:
        return
    for path in paths:
        os.chown(path, NOBODY, NOBODY)
        if path.is_dir():
            for inner in path.rglob("*"):
                os.chown(inner, NOBODY, NOBODY)


def send(sig: signal.Signals, pid: int) -> None:
    os.kill(pid, sig)
