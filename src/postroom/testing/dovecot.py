"""A real Dovecot IMAP server for tests: its own master process, config and TLS CA, on dynamic ports.

``Dovecot`` writes a complete config into a fresh temporary directory (nothing is read from
``/etc/dovecot``), starts ``dovecot -F`` under :class:`subprocess.Popen` so the test owns the
master's PID, and stops exactly that process (SIGTERM, then SIGKILL: see ``_terminate``)::

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

TLS. One CA is generated per test process (``ca_cert_path``); each server gets a certificate
for ``localhost``, ``127.0.0.1`` and ``::1`` signed by it. ``untrusted_certificate=True`` signs
the server certificate with a different CA instead (``issuer_ca_cert_path``), so a client that
trusts ``ca_cert_path`` must fail verification.

Capabilities. ``condstore_qresync``, ``uidplus`` and ``move`` remove those extensions from the
advertised CAPABILITY (``imap_capability`` set to Dovecot's default list minus them). Dovecot
still *accepts* the commands; only a client that honours capabilities is tested by this.

The helpers (``append``, ``create_folder``, ``connect_imaplib``) use only the stdlib ``imaplib``,
so the launcher never depends on the code under test.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import grp
import hashlib
import imaplib
import ipaddress
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
START_ATTEMPTS = 5

# What this config makes Dovecot 2.3 advertise after login: its CAPABILITY_STRING plus LITERAL+,
# NOTIFY (mailbox list index) and SPECIAL-USE (the special-use mailboxes below), which it appends
# itself only while imap_capability is empty. Used when an extension is switched off; a test
# compares it with what an unmodified server advertises, so a Dovecot upgrade is noticed.
DEFAULT_CAPABILITY = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS "
    "THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS "
    "LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH "
    "LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY "
    "SPECIAL-USE"
)

# Each maildir lives in this subdirectory of its folder's directory (LAYOUT=fs), so folder names
# such as "cur", "new" or "tmp" are allowed; this one name is the only one Dovecot then refuses.
MAILDIR_DIRNAME = "_maildir"
SPECIAL_USE = {"Drafts": "\\Drafts", "Sent": "\\Sent", "Trash": "\\Trash", "Junk": "\\Junk"}
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/sbin"])
_SAFE_NAME = re.compile(r"[A-Za-z0-9._@+-]+")

Security = Literal["plain", "starttls", "tls"]
# Dovecot processes (by the end of their title) the master does not wait for when it stops.
_OUTLIVE_THE_MASTER = ("/log", "/imap", "/stats")


class DovecotError(RuntimeError):
    """The test Dovecot could not be started or used; the message carries the end of its log."""


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


# --- modified UTF-7 (RFC 3501 §5.1.3) and quoting, for imaplib arguments ---


def imap_utf7_encode(name: str) -> str:
    """Encode a mailbox name in IMAP's modified UTF-7."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = base64.b64encode("".join(pending).encode("utf-16-be")).decode("ascii")
            out.append("&" + raw.rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def quote_mailbox(name: str) -> str:
    """A mailbox name as an IMAP quoted string (imaplib sends arguments as they are)."""
    encoded = imap_utf7_encode(name)
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def create_folder(imap: imaplib.IMAP4, folder: str) -> None:
    """CREATE ``folder`` (a Unicode name using the server's separator) on a logged-in connection."""
    status, data = imap.create(quote_mailbox(folder))
    if status != "OK":
        raise DovecotError(f"CREATE {folder!r} failed: {data!r}")


def append_message(
    imap: imaplib.IMAP4,
    folder: str,
    message: bytes,
    flags: Iterable[str] = (),
    internal_date: dt.datetime | None = None,
) -> int | None:
    """APPEND ``message`` exactly as given (no line-ending repair); return its UID if reported."""
    args = [quote_mailbox(folder)]
    flag_list = " ".join(flags)
    if flag_list:
        args.append(f"({flag_list})")
    if internal_date is not None:
        args.append(imaplib.Time2Internaldate(internal_date))
    # imaplib.append() rewrites bare CR and LF to CRLF; setting the literal ourselves keeps the
    # bytes exact, which the malformed-message tests need. typeshed declares the attribute as str.
    imap.literal = message  # type: ignore[assignment]
    status, data = imap.xatom("APPEND", *args)
    if status != "OK":
        raise DovecotError(f"APPEND to {folder!r} failed: {data!r}")
    code = imap.untagged_responses.pop("APPENDUID", [None])[-1]
    if isinstance(code, bytes):
        return int(code.split()[1])
    return None


# --- certificates ---


@dataclass(frozen=True)
class _Authority:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def generate(cls, common_name: str) -> _Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    def issue_server_certificate(self) -> tuple[bytes, bytes]:
        """(certificate PEM, key PEM) for localhost, 127.0.0.1 and ::1."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        names = [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return cert.public_bytes(serialization.Encoding.PEM), key_pem

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


_test_ca: _Authority | None = None
_test_ca_lock = threading.Lock()


def _shared_ca() -> _Authority:
    """The CA every server of this process is signed by (unless told otherwise)."""
    global _test_ca
    with _test_ca_lock:
        if _test_ca is None:
            _test_ca = _Authority.generate("Postroom test CA")
        return _test_ca


# --- the server ---


@dataclass(frozen=True)
class _Accounts:
    """Who the Dovecot processes and mail access run as (see the module docstring)."""

    internal_user: str
    internal_uid: int
    internal_group: str
    login_user: str
    mail_uid: int
    mail_gid: int

    @classmethod
    def for_current_process(cls) -> _Accounts:
        if os.geteuid() != 0:
            me = pwd.getpwuid(os.geteuid())
            group = grp.getgrgid(os.getegid()).gr_name
            return cls(me.pw_name, me.pw_uid, group, me.pw_name, me.pw_uid, os.getegid())
        try:
            internal = pwd.getpwnam("dovecot")
            pwd.getpwnam("dovenull")
        except KeyError as exc:
            raise DovecotError(
                "running as root needs the 'dovecot' and 'dovenull' users that Debian's dovecot-core "
                "creates; run `make system-deps`"
            ) from exc
        group = grp.getgrgid(internal.pw_gid).gr_name
        return cls("dovecot", internal.pw_uid, group, "dovenull", internal.pw_uid, internal.pw_gid)


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
    ) -> None:
        self.separator = separator
        self.condstore_qresync = condstore_qresync
        self.uidplus = uidplus
        self.move = move
        self.untrusted_certificate = untrusted_certificate
        self.record_sessions = record_sessions
        self._accounts = _Accounts.for_current_process()
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
        cert = x509.load_pem_x509_certificate(self.server_cert_path.read_bytes())
        return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()

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
                os.chown(path, self._accounts.mail_uid, self._accounts.mail_gid)

    def _prepare(self, directory: Path) -> None:
        if os.geteuid() == 0:
            # Dovecot's unprivileged processes must reach the passwd-file, homes and sockets.
            directory.chmod(0o711)
        (directory / "home").mkdir()
        (directory / "home").chmod(0o755)
        (directory / "state").mkdir()
        (directory / "users").mkdir(mode=0o700)
        os.chown(directory / "users", self._accounts.internal_uid, self._accounts.mail_gid)
        trusted = _shared_ca()
        issuer = _Authority.generate("Postroom untrusted CA") if self.untrusted_certificate else trusted
        cert_pem, key_pem = issuer.issue_server_certificate()
        (directory / "ca.pem").write_bytes(trusted.pem())
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
        acc = self._accounts
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
        acc = self._accounts
        removed = set()
        if not self.condstore_qresync:
            removed |= {"CONDSTORE", "QRESYNC"}
        if not self.uidplus:
            removed.add("UIDPLUS")
        if not self.move:
            removed.add("MOVE")
        capability = " ".join(c for c in DEFAULT_CAPABILITY.split() if c not in removed) if removed else ""
        rawlog_dir = "%h/rawlog" if self.record_sessions else ""
        mailboxes = "\n".join(
            f"  mailbox {name} {{\n    special_use = {flag}\n  }}" for name, flag in SPECIAL_USE.items()
        )
        chroots = "\n".join(f"service {name} {{\n  chroot =\n}}" for name in ("ipc", "old-stats", "aggregator"))
        return f"""\
# Generated by postroom.testing.dovecot for one throwaway test server.
instance_name = postroom-test-{directory.name}
base_dir = {directory}/run
state_dir = {directory}/state
log_path = {directory}/dovecot.log
protocols = imap
listen = {HOST}
login_greeting = {self._greeting}
default_internal_user = {acc.internal_user}
default_internal_group = {acc.internal_group}
default_login_user = {acc.login_user}
first_valid_uid = {acc.mail_uid}
last_valid_uid = {acc.mail_uid}
first_valid_gid = {acc.mail_gid}
last_valid_gid = {acc.mail_gid}

mail_location = maildir:~/Maildir:LAYOUT=fs:DIRNAME={MAILDIR_DIRNAME}
# Throwaway data: skip fsync so loading a large corpus is fast.
mail_fsync = never
mail_max_userip_connections = 100
rawlog_dir = {rawlog_dir}
imap_client_workarounds =
imap_capability = {capability}

ssl = yes
ssl_cert = <{directory}/server.pem
ssl_key = <{directory}/server.key
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
# Fast failures: a wrong password is answered after ~0.5 s (Dovecot's timer granularity), not 2 s.
auth_failure_delay = 0
# TODO(XOAUTH2): add "xoauth2 oauthbearer" to auth_mechanisms and a second passdb with
# driver = oauth2 whose args file points introspection_url at a small local HTTP endpoint
# (a thread in the test process, dynamic port) that maps test tokens to users.

namespace inbox {{
  inbox = yes
  prefix =
  separator = {self.separator}
{mailboxes}
}}

passdb {{
  driver = passwd-file
  args = {directory}/users/%u
}}
userdb {{
  driver = passwd-file
  args = {directory}/users/%u
}}

# No auth penalty: anvil would delay every later login from 127.0.0.1 by up to 15 s once a test
# used a wrong password. Dovecot disables the penalty when it cannot reach this socket.
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}

service imap-login {{
  chroot =
  inet_listener imap {{
    address = {HOST}
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = {HOST}
    port = {imaps_port}
    ssl = yes
  }}
}}
{chroots}
"""

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


def close_imaplib(imap: imaplib.IMAP4) -> None:
    """Close an imaplib connection without logging out (e.g. after a failed STARTTLS)."""
    with contextlib.suppress(OSError):
        imap.shutdown()


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
