"""The Dovecot master as a process: free ports to start it on, its greeting, and a quick stop.

:mod:`postroom.testing.dovecot` starts the master under :class:`subprocess.Popen`; these helpers
find ports for it, tell when it is up, and stop exactly that process without waiting on the
ones that outlive it anyway.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

from postroom.testing.dovecot_config import HOST

STOP_TIMEOUT = 10.0
# Dovecot processes (by the end of their title) the master does not wait for when it stops.
_OUTLIVE_THE_MASTER = ("/log", "/imap", "/stats")


def _free_ports() -> tuple[int, int]:
    """Two distinct ports the OS reports free on HOST now (Dovecot binds them a moment later)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(2)]
    try:
        for sock in sockets:
            sock.bind((HOST, 0))
        first, second = (sock.getsockname()[1] for sock in sockets)
        return first, second
    finally:
        for sock in sockets:
            sock.close()


def _read_greeting(host: str, port: int) -> bytes | None:
    try:
        with socket.create_connection((host, port), timeout=0.25) as sock:
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
            sock.sendall(b"x LOGOUT\r\n")
            return data
    except OSError:
        return None


def _terminate(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the master; SIGKILL it once it only waits out its own exit, or after STOP_TIMEOUT.

    On SIGTERM Dovecot's master stops its services, signals its log process and then sleeps a
    fixed second before exiting. It does not wait for mail (``imap``) processes, nor for the
    ``stats`` service they report to: like the log process, they notice the master is gone and
    exit, an ``imap`` process once its client disconnects (or after Dovecot's ~10 s grace). So
    when only those are left, killing the master changes nothing but the wait: stopping takes
    ~0.05 s instead of ~1.1 s. The directory is deleted next anyway.
    """
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    can_see_children = Path("/proc").is_dir()  # elsewhere: wait for the master's own exit
    while time.monotonic() < deadline and process.poll() is None:
        if can_see_children and all(_outlives_the_master(child) for child in child_pids(process.pid)):
            break
        time.sleep(0.005)
    if process.poll() is None:
        process.kill()
    process.wait()


def _outlives_the_master(pid: int) -> bool:
    """A process the master does not wait for, or one that has exited (a zombie, or gone)."""
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").strip("\0 ")
    except OSError:
        return True
    return title == "" or title.endswith(_OUTLIVE_THE_MASTER)  # a zombie has no command line


def child_pids(pid: int) -> list[int]:
    """The PIDs whose parent is ``pid`` (Linux /proc; empty elsewhere)."""
    children = []
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = entry.read_text()
        except OSError:  # the process has just exited
            continue
        # "PID (COMMAND) STATE PPID ...": COMMAND may contain spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            children.append(int(entry.parent.name))
    return children
