"""The connector's state folder: one process at a time, a lasting instance ID, and a results journal.

Default place: ``$XDG_STATE_HOME`` (or ``~/.local/state``) ``/postroom-connector/<connector ID>``;
the systemd unit uses ``/var/lib/postroom-connector``. It holds:

``state.lock``
    locked exclusively (``flock``; ``msvcrt.locking`` on Windows) for as long as a connector runs,
    and holding that process's pid, so a second process is refused with the pid to look for. The
    lease's "same connector and same instance" takeover (decision 0004) relies on this lock.
``instance-id``
    a random ID made on first start and kept: a restart of the same installation takes its lease
    back at once, while a copy of the license on another machine gets ``LeaseHeld``.
``results.jsonl``
    every result not yet acknowledged by the server, one JSON object a line, appended and fsynced
    before it is reported. When the server has acknowledged everything the file is emptied; when
    acknowledged lines pile up it is rewritten (temporary file, ``os.replace``). A line cut short
    by a crash is ignored: its delivery is claimed again and found ``present``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from postroom.connector.errors import StateFolderInUse
from postroom.connector.protocol import DeliveryResult
from postroom.errors import ConfigurationError

__all__ = ["Journal", "StateFolder", "default_state_dir"]

log = logging.getLogger("postroom.connector")

LOCK_NAME = "state.lock"
INSTANCE_NAME = "instance-id"
JOURNAL_NAME = "results.jsonl"


def default_state_dir(connector_id: str) -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "postroom-connector" / connector_id


def _lock(file: IO[str]) -> bool:
    """Lock ``file`` exclusively without waiting; whether it worked."""
    try:
        if sys.platform == "win32":
            import msvcrt

            file.seek(0)
            msvcrt.locking(file.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def read_instance_id(folder: Path) -> str | None:
    """The instance ID kept in ``folder``, without locking it (for ``doctor``); None if there is none."""
    try:
        return (folder / INSTANCE_NAME).read_text().strip() or None
    except OSError:
        return None


class StateFolder:
    """An opened, locked state folder; :meth:`close` (or ``with``) lets the next process in."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._lock_file: IO[str] = (path / LOCK_NAME).open("a+")
        except OSError as exc:
            raise ConfigurationError(f"cannot use the state folder {path}: {exc.strerror or exc}") from exc
        if not _lock(self._lock_file):
            self._lock_file.seek(0)
            pid = self._lock_file.read().strip() or "unknown"
            self._lock_file.close()
            raise StateFolderInUse(
                f"another connector process (pid {pid}) is using the state folder {path}; "
                "stop it first, or give this one its own --state-dir"
            )
        self._lock_file.seek(0)
        self._lock_file.truncate()
        self._lock_file.write(f"{os.getpid()}\n")
        self._lock_file.flush()
        self.instance_id = self._instance_id()
        self.journal = Journal(path / JOURNAL_NAME)

    def _instance_id(self) -> str:
        existing = read_instance_id(self.path)
        if existing:
            return existing
        instance_id = secrets.token_hex(16)
        temp = self.path / f"{INSTANCE_NAME}.tmp"
        with temp.open("w") as file:
            file.write(instance_id + "\n")
            file.flush()
            os.fsync(file.fileno())
        temp.replace(self.path / INSTANCE_NAME)
        return instance_id

    def close(self) -> None:
        self.journal.close()
        with contextlib.suppress(OSError):
            self._lock_file.seek(0)
            self._lock_file.truncate()
        self._lock_file.close()

    def __enter__(self) -> StateFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Journal:
    """Results not yet acknowledged by the server, kept on disk across outages and crashes."""

    def __init__(self, path: Path, *, compact_after: int = 1000) -> None:
        self.path = path
        self._compact_after = compact_after
        self._pending: dict[tuple[str, int], DeliveryResult] = {}
        self._lines = 0
        self._load()
        self._file: IO[str] = path.open("a", encoding="utf-8")

    def _load(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            self._lines += 1
            try:
                result = DeliveryResult.from_json(json.loads(line))
            except (ValueError, KeyError, TypeError):
                log.warning("ignoring line %d of %s, which is not a result (cut short by a crash?)", number, self.path)
                continue
            self._pending[result.key] = result
        if text and not text.endswith("\n"):
            with self.path.open("a", encoding="utf-8") as file:
                file.write("\n")  # so the next line starts cleanly after a torn one

    def __len__(self) -> int:
        return len(self._pending)

    def pending(self) -> list[DeliveryResult]:
        """Results to send, oldest first."""
        return list(self._pending.values())

    def append(self, results: Iterable[DeliveryResult]) -> None:
        """Keep ``results`` durably (one fsync for the lot)."""
        lines = []
        for result in results:
            self._pending[result.key] = result
            lines.append(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
        if not lines:
            return
        self._file.write("".join(lines))
        self._file.flush()
        os.fsync(self._file.fileno())
        self._lines += len(lines)

    def acknowledge(self, keys: Iterable[tuple[str, int]]) -> None:
        """Forget results the server has taken; empty or rewrite the file when it is worth it."""
        for key in keys:
            self._pending.pop(key, None)
        emptied = not self._pending and self._lines > 0
        piled_up = self._lines > self._compact_after and self._lines > 2 * len(self._pending)
        if emptied or piled_up:
            self._rewrite()

    def _rewrite(self) -> None:
        self._file.close()
        temp = self.path.with_name(self.path.name + ".tmp")
        with temp.open("w", encoding="utf-8") as file:
            for result in self._pending.values():
                file.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
            file.flush()
            os.fsync(file.fileno())
        temp.replace(self.path)
        self._lines = len(self._pending)
        self._file = self.path.open("a", encoding="utf-8")

    def close(self) -> None:
        self._file.close()
