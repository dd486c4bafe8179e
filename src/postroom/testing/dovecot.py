"""A real Dovecot IMAP server for tests: its own master process, config and TLS CA, on dynamic ports.

``Dovecot`` writes a complete config into a fresh temporary directory (nothing is read from
``/etc/dovecot``), starts ``dovecot -F`` under :class:`subprocess.Popen` so the test owns the
master's PID, and stops exactly that process (SIGTERM, then SIGKILL: see ``dovecot_process``)::

    with Dovecot() as server:
        server.add_user("alice", "secret")
        server.append("alice", "secret", "INBOX", b"Subject: hi\\r\\n\\r\\nbody\\r\\n")
        with server.connect_imaplib("alice", "secret", security="starttls") as imap:
            ...

Listeners on 127.0.0.1: ``imap_port`` (plain, STARTTLS offered) and ``imaps_port`` (implicit TLS).
Both are picked by binding port 0; the start is retried when another process took a port first.

Users and privileges. As a normal user every Dovecot process runs as that user
(``default_internal_user`` = ``default_login_user`` = the current user, no chroots), and so does
mail access. As root (CI) the auth/internal processes run as Debian's ``dovecot`` user and the
login processes as ``dovenull``, as the package intends, and mail is accessed as ``dovecot`` too:
it always exists where Dovecot is installed, it is not root, and it needs no account of our own.
The temporary directory is then made traversable (0711) and the passwd-file and mail homes are
owned by that user.

TLS. One CA is generated per test process (``ca_cert_path``; see ``postroom.testing.certificates``);
each server gets a certificate for ``localhost``, ``127.0.0.1`` and ``::1`` signed by it.
``untrusted_certificate=True`` signs the server certificate with a different CA instead
(``issuer_ca_cert_path``), so a client that trusts ``ca_cert_path`` must fail verification.

Capabilities. ``condstore_qresync``, ``uidplus`` and ``move`` remove those extensions from the
advertised CAPABILITY (``imap_capability`` set to Dovecot's default list minus them). Dovecot
still *accepts* the commands; only a client that honours capabilities is tested by this.

The helpers (``append``, ``create_folder``, ``connect_imaplib``) use only the stdlib ``imaplib``,
so the launcher never depends on the code under test.

This module is the launcher; beside it are the config it writes (``dovecot_config``), the
stdlib-imaplib client helpers (``dovecot_client``) and the process handling (``dovecot_process``).
Everything public in those is importable from here.
"""

from __future__ import annotations

import datetime as dt
import grp
import imaplib
import os
import pwd
import re
import secrets
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

from postroom.testing.certificates import CertificateAuthority, certificate_sha256, shared_test_ca
from postroom.testing.dovecot_client import (
    DovecotError,
    append_message,
    close_imaplib,
    create_folder,
    imap_utf7_encode,
    quote_mailbox,
)
from postroom.testing.dovecot_config import (
    DEFAULT_CAPABILITY,
    HOST,
    MAILDIR_DIRNAME,
    SPECIAL_USE,
    SystemUsers,
    imap_capability,
    oauth2_config,
    render_config,
)
from postroom.testing.dovecot_process import STOP_TIMEOUT, _free_ports, _read_greeting, _terminate, child_pids

__all__ = [
    "DEFAULT_CAPABILITY",
    "HOST",
    "MAILDIR_DIRNAME",
    "SPECIAL_USE",
    "START_ATTEMPTS",
    "START_TIMEOUT",
    "STOP_TIMEOUT",
    "Dovecot",
    "DovecotError",
    "Security",
    "append_message",
    "child_pids",
    "close_imaplib",
    "create_folder",
    "dovecot_available",
    "dovecot_binary",
    "imap_utf7_encode",
    "quote_mailbox",
    "require_dovecot",
]

START_TIMEOUT = 10.0
START_ATTEMPTS = 5
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/sbin"])
_SAFE_NAME = re.compile(r"[A-Za-z0-9._@+-]+")

Security = Literal["plain", "starttls", "tls"]


def dovecot_binary() -> str | None:
    return shutil.which("dovecot", path=_SEARCH_PATH)


def dovecot_available() -> bool:
    """Whether the Dovecot binary is installed (Debian package ``dovecot-imapd``)."""
    return dovecot_binary() is not None


def require_dovecot() -> str:
    """The path of the Dovecot binary; raise (never skip) when it is missing."""
    binary = dovecot_binary()
    if binary is None:
        raise DovecotError(
            "Dovecot is not installed; the IMAP tests need a real server. "
            "Run `make system-deps` (installs dovecot-imapd from scripts/debian-packages.txt)."
        )
    return binary


# --- the server ---


def _current_system_users() -> SystemUsers:
    """Who the Dovecot processes and mail access run as (see the module docstring)."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid())
        group = grp.getgrgid(os.getegid()).gr_name
        return SystemUsers(me.pw_name, me.pw_uid, group, me.pw_name, me.pw_uid, os.getegid())
    try:
        internal = pwd.getpwnam("dovecot")
        pwd.getpwnam("dovenull")
    except KeyError as exc:
        raise DovecotError(
            "running as root needs the 'dovecot' and 'dovenull' users that Debian's dovecot-core "
            "creates; run `make system-deps`"
        ) from exc
    group = grp.getgrgid(internal.pw_gid).gr_name
    return SystemUsers("dovecot", internal.pw_uid, group, "dovenull", internal.pw_uid, internal.pw_gid)


class Dovecot:
    """One throwaway Dovecot IMAP server; use as a context manager or call start()/stop()."""

    host = HOST

    def __init__(
        self,
        *,
        separator: Literal["/", "."] = "/",
        condstore_qresync: bool = True,
        uidplus: bool = True,
        move: bool = True,
        untrusted_certificate: bool = False,
        record_sessions: bool = False,
        max_connections: int = 100,
        oauth2_introspection_url: str | None = None,
    ) -> None:
        self.separator = separator
        self.condstore_qresync = condstore_qresync
        self.uidplus = uidplus
        self.move = move
        self.untrusted_certificate = untrusted_certificate
        self.record_sessions = record_sessions
        self.max_connections = max_connections  # per user and client address (mail_max_userip_connections)
        self.oauth2_introspection_url = oauth2_introspection_url  # XOAUTH2 / OAUTHBEARER logins
        self._system_users = _current_system_users()
        self._users: dict[str, str] = {}
        self._users_lock = threading.Lock()
        self._users_mtime: dict[str, int] = {}
        self._directory: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._ports: tuple[int, int] | None = None
        self._greeting = f"Postroom test Dovecot {secrets.token_hex(8)} ready."

    # -- lifecycle --

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> Self:
        """Write the config, start the master and wait for the greeting on the IMAP port."""
        if self._process is not None:
            raise DovecotError("this Dovecot is already running")
        binary = require_dovecot()
        directory = Path(tempfile.mkdtemp(prefix="postroom-dovecot-"))
        self._directory = directory
        try:
            self._prepare(directory)
            for attempt in range(1, START_ATTEMPTS + 1):
                failure = self._launch(binary, directory)
                if failure is None:
                    break
                # Another process may have bound a port between our probe and Dovecot's bind.
                if attempt == START_ATTEMPTS or "Address already in use" not in failure:
                    raise DovecotError(f"Dovecot did not start:\n{self.log_tail()}")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the master (our PID only: SIGTERM, then SIGKILL) and remove the directory.

        An ``imap`` process whose client is still connected ends when that client disconnects.
        """
        process, self._process = self._process, None
        if process is not None:
            _terminate(process)
        directory, self._directory = self._directory, None
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    # -- what tests connect to --

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int:
        return self._running_process().pid

    @property
    def imap_port(self) -> int:
        return self._started_ports()[0]

    @property
    def imaps_port(self) -> int:
        return self._started_ports()[1]

    @property
    def directory(self) -> Path:
        if self._directory is None:
            raise DovecotError("this Dovecot is not running")
        return self._directory

    @property
    def ca_cert_path(self) -> Path:
        """The CA clients should trust (PEM). Not the issuer when ``untrusted_certificate``."""
        return self.directory / "ca.pem"

    @property
    def issuer_ca_cert_path(self) -> Path:
        """The CA that really signed the server certificate (PEM)."""
        return self.directory / "issuer-ca.pem"

    @property
    def server_cert_path(self) -> Path:
        return self.directory / "server.pem"

    @property
    def server_cert_sha256(self) -> str:
        """Hex SHA-256 fingerprint of the server certificate (DER), for pinning tests."""
        return certificate_sha256(self.server_cert_path.read_bytes())

    @property
    def log_path(self) -> Path:
        return self.directory / "dovecot.log"

    def log_tail(self, lines: int = 30) -> str:
        text = ""
        for name in ("dovecot.stderr", "dovecot.log"):
            path = self._directory / name if self._directory else None
            if path is not None and path.exists():
                text += path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:]) or "(Dovecot wrote no log)"

    def ssl_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts ``ca_cert_path``."""
        return ssl.create_default_context(cafile=str(self.ca_cert_path))

    # -- users and mail --

    def add_master_user(self, name: str, password: str) -> None:
        """Add a master user: it logs in with its own password and acts as any user it names as
        the SASL PLAIN authorization identity (Dovecot's master passdb). Call after :meth:`start`."""
        if not _SAFE_NAME.fullmatch(name) or any(char in password for char in ":\r\n"):
            raise ValueError(f"unusable master user {name!r} or password")
        acc = self._system_users
        path = self.directory / "masters" / name
        scratch = path.with_name(f".{name}.new")
        scratch.write_text(f"{name}:{{PLAIN}}{password}\n")
        scratch.chmod(0o600)
        os.chown(scratch, acc.internal_uid, acc.mail_gid)
        scratch.replace(path)

    def add_user(self, name: str, password: str) -> None:
        """Add a user (or change a password); effective at the next login, no restart."""
        if not _SAFE_NAME.fullmatch(name):
            raise ValueError(f"test user names are limited to {_SAFE_NAME.pattern}: {name!r}")
        if any(char in password for char in ":\r\n"):
            raise ValueError("passwd-file passwords cannot contain ':' or line breaks")
        with self._users_lock:
            self._users[name] = password
            if self._directory is not None:  # otherwise start() writes every user
                self._make_home(name)
                self._write_user(name)

    def connect_imaplib(self, user: str, password: str, *, security: Security = "plain") -> imaplib.IMAP4:
        """A logged-in imaplib connection (use it in ``with`` so it logs out)."""
        imap: imaplib.IMAP4
        if security == "tls":
            imap = imaplib.IMAP4_SSL(self.host, self.imaps_port, ssl_context=self.ssl_context(), timeout=10)
        else:
            imap = imaplib.IMAP4(self.host, self.imap_port, timeout=10)
        try:
            if security == "starttls":
                imap.starttls(ssl_context=self.ssl_context())
            imap.login(user, password)
        except BaseException:
            close_imaplib(imap)
            raise
        return imap

    def create_folder(self, user: str, password: str, folder: str) -> None:
        with self.connect_imaplib(user, password) as imap:
            create_folder(imap, folder)

    def append(
        self,
        user: str,
        password: str,
        folder: str,
        message: bytes,
        flags: Iterable[str] = (),
        internal_date: dt.datetime | None = None,
    ) -> int | None:
        """Append one message byte-exact; return its UID (APPENDUID)."""
        with self.connect_imaplib(user, password) as imap:
            return append_message(imap, folder, message, flags, internal_date)

    def client_lines(self, user: str) -> list[bytes]:
        """Every line ``user``'s IMAP clients sent after login, in order (``record_sessions=True``).

        Literal data (e.g. APPENDed messages) is included line by line. Dovecot accepts commands
        it does not advertise (MOVE, UID EXPUNGE, ENABLE QRESYNC), so tests of a client's fallbacks
        check here that it did not send them.
        """
        if not self.record_sessions:
            raise DovecotError("start Dovecot with record_sessions=True to record client lines")
        timed: list[tuple[float, str, int, bytes]] = []
        for path in sorted((self._home(user) / "rawlog").glob("*.in")):
            for index, line in enumerate(path.read_bytes().splitlines(keepends=True)):
                stamp, _, data = line.partition(b" ")
                timed.append((float(stamp), path.name, index, data))
        return [data for *_, data in sorted(timed)]

    def session_lines(self, user: str) -> list[list[bytes]]:
        """The lines ``user``'s clients sent, one list per IMAP session (``record_sessions=True``)."""
        if not self.record_sessions:
            raise DovecotError("start Dovecot with record_sessions=True to record client lines")
        sessions = []
        for path in sorted((self._home(user) / "rawlog").glob("*.in")):
            sessions.append([line.partition(b" ")[2] for line in path.read_bytes().splitlines(keepends=True)])
        return sessions

    def doveadm(self, *args: str) -> str:
        """Run ``doveadm`` against this server; return its output.

        E.g. ``doveadm("kick", "alice")`` drops alice's connections (exit 68 when none were open);
        ``doveadm("mailbox", "update", "-u", "alice", "--uid-validity", "7", "INBOX")``.
        """
        binary = shutil.which("doveadm", path=_SEARCH_PATH) or "doveadm"
        result = subprocess.run(
            [binary, "-c", str(self.directory / "dovecot.conf"), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if result.returncode != 0:
            output = (result.stderr + result.stdout).strip()
            raise DovecotError(f"doveadm {' '.join(args)} exited with {result.returncode}: {output}")
        return result.stdout

    # -- internals --

    def _running_process(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise DovecotError("this Dovecot is not running")
        return self._process

    def _started_ports(self) -> tuple[int, int]:
        if self._process is None or self._ports is None:
            raise DovecotError("this Dovecot is not running")
        return self._ports

    def _home(self, user: str) -> Path:
        return self.directory / "home" / user

    def _make_home(self, user: str) -> None:
        home = self._home(user)
        if not home.exists():
            home.mkdir()
            (home / "rawlog").mkdir()
            for path in (home, home / "rawlog"):
                os.chown(path, self._system_users.mail_uid, self._system_users.mail_gid)

    def _prepare(self, directory: Path) -> None:
        if os.geteuid() == 0:
            # Dovecot's unprivileged processes must reach the passwd-file, homes and sockets.
            directory.chmod(0o711)
        (directory / "home").mkdir()
        (directory / "home").chmod(0o755)
        (directory / "state").mkdir()
        for private in ("users", "masters"):
            (directory / private).mkdir(mode=0o700)
            os.chown(directory / private, self._system_users.internal_uid, self._system_users.mail_gid)
        trusted = shared_test_ca()
        issuer = CertificateAuthority.generate("Postroom untrusted CA") if self.untrusted_certificate else trusted
        cert_pem, key_pem = issuer.issue_server_certificate()
        (directory / "ca.pem").write_bytes(trusted.pem())
        if self.oauth2_introspection_url:
            (directory / "oauth2.conf.ext").write_text(oauth2_config(self.oauth2_introspection_url))
        (directory / "issuer-ca.pem").write_bytes(issuer.pem())
        (directory / "server.pem").write_bytes(cert_pem)
        key_path = directory / "server.key"
        key_path.touch(mode=0o600)
        key_path.write_bytes(key_pem)
        with self._users_lock:
            for user in self._users:
                self._make_home(user)
                self._write_user(user)

    def _write_user(self, name: str) -> None:
        """Write ``users/NAME``, a one-line passwd-file, atomically.

        One file per user because Dovecot stats a passwd-file at most once per second: a user
        added to a shared file right after a login would stay unknown for up to a second, while a
        new file is read at the first lookup. Changing a password waits out that second instead.
        """
        acc = self._system_users
        path = self.directory / "users" / name
        changed = path.exists()
        scratch = path.with_name(f".{name}.new")
        home = self._home(name)
        scratch.write_text(f"{name}:{{PLAIN}}{self._users[name]}:{acc.mail_uid}:{acc.mail_gid}::{home}::\n")
        scratch.chmod(0o600)
        os.chown(scratch, acc.internal_uid, acc.mail_gid)
        # Dovecot compares mtime (in seconds) and size: make sure the mtime moves on.
        now = time.time()
        mtime = max(int(now), self._users_mtime.get(name, 0) + 1)
        self._users_mtime[name] = mtime
        os.utime(scratch, (mtime, mtime))
        scratch.replace(path)
        if changed:  # the old password may have been read this second; Dovecot stats again next second
            time.sleep(max(0.0, int(now) + 1 - time.time()))

    def _config(self, directory: Path, imap_port: int, imaps_port: int) -> str:
        if any(char.isspace() or char in "\"'#<" for char in str(directory)):
            raise DovecotError(f"the temporary directory {directory} must not contain spaces or quotes")
        return render_config(
            directory,
            imap_port=imap_port,
            imaps_port=imaps_port,
            greeting=self._greeting,
            users=self._system_users,
            separator=self.separator,
            capability=imap_capability(condstore_qresync=self.condstore_qresync, uidplus=self.uidplus, move=self.move),
            record_sessions=self.record_sessions,
            max_connections=self.max_connections,
            oauth2_introspection_url=self.oauth2_introspection_url,
        )

    def _launch(self, binary: str, directory: Path) -> str | None:
        """Start the master and wait for its greeting; None once it greets, else what it printed."""
        imap_port, imaps_port = _free_ports()
        (directory / "dovecot.conf").write_text(self._config(directory, imap_port, imaps_port))
        command = [binary, "-F", "-c", str(directory / "dovecot.conf")]
        setpriv = shutil.which("setpriv", path=_SEARCH_PATH)
        if setpriv is not None:
            # Linux: the master gets SIGTERM if the thread that started it dies, so a crashed test
            # run leaves no server behind. setpriv execs Dovecot, so the PID stays ours.
            command = [setpriv, "--pdeathsig", "TERM", *command]
        stderr_path = directory / "dovecot.stderr"
        with stderr_path.open("ab") as stderr:
            offset = stderr.tell()
            self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            # A master that cannot bind says so at once, then takes a second to exit: don't wait.
            with stderr_path.open("rb") as stderr:
                stderr.seek(offset)
                printed = stderr.read().decode(errors="replace")
            if "Fatal:" in printed or self._process.poll() is not None:
                _terminate(self._process)
                self._process = None
                return printed or "(nothing on stderr)"
            greeting = _read_greeting(self.host, imap_port)
            if greeting is not None and self._greeting.encode() in greeting:
                self._ports = (imap_port, imaps_port)
                return None
            time.sleep(0.01)
        raise DovecotError(f"Dovecot did not greet within {START_TIMEOUT:.0f} s:\n{self.log_tail()}")
