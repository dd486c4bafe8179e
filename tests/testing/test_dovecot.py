"""The real-Dovecot launcher: TLS, capabilities, users, byte-exact mail, folders, lifecycle."""

from __future__ import annotations

import hashlib
import imaplib
import os
import re
import socket
import ssl
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from imapclient import imap_utf7

from postroom.testing import dovecot as launcher
from postroom.testing.dovecot import (
    DEFAULT_CAPABILITY,
    Dovecot,
    DovecotError,
    child_pids,
    close_imaplib,
    dovecot_available,
    imap_utf7_encode,
    quote_mailbox,
    require_dovecot,
)


def capabilities(imap: imaplib.IMAP4) -> set[str]:
    status, data = imap.capability()
    assert status == "OK"
    return set(data[-1].decode().split())


def fetch(imap: imaplib.IMAP4, uid: int, items: str) -> tuple[bytes, bytes]:
    """(response line, literal) of a UID FETCH of one message."""
    status, data = imap.uid("FETCH", str(uid), f"({items})")
    assert status == "OK"
    head, body = data[0]
    assert isinstance(head, bytes)
    assert isinstance(body, bytes)
    return head, body


def listed_names(imap: imaplib.IMAP4) -> dict[str, str]:
    """Raw (modified UTF-7) mailbox name -> its delimiter, from LIST."""
    status, data = imap.list()
    assert status == "OK"
    names = {}
    for line in data:
        assert isinstance(line, bytes)
        match = re.fullmatch(rb'\(([^)]*)\) "(.)" (.+)', line)
        assert match, line
        name = match[3].decode()
        names[name.strip('"').replace('\\"', '"').replace("\\\\", "\\")] = match[2].decode()
    return names


def gone(pid: int) -> bool:
    """The process no longer runs (missing, or a zombie waiting for init to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat[stat.rindex(")") + 2] == "Z"


# --- installation ---


def test_dovecot_is_installed() -> None:
    """Never skipped: without Dovecot the IMAP tests cannot run, and CI must say so."""
    assert dovecot_available(), "Dovecot is missing: run `make system-deps`"
    assert Path(require_dovecot()).is_file()


def test_missing_dovecot_fails_with_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(launcher, "_SEARCH_PATH", str(tmp_path))
    assert not dovecot_available()
    with pytest.raises(DovecotError, match="make system-deps"):
        Dovecot().start()


# --- connecting ---


def test_login_over_plain(dovecot: Dovecot, account: tuple[str, str]) -> None:
    with dovecot.connect_imaplib(*account) as imap:
        assert not isinstance(imap.sock, ssl.SSLSocket)
        assert imap.state == "AUTH"
        assert imap.noop()[0] == "OK"


def test_wrong_password_is_refused_quickly(dovecot: Dovecot, account: tuple[str, str]) -> None:
    name, _ = account
    for _attempt in range(2):  # the second would wait 2 s or more with a per-IP penalty
        started = time.monotonic()
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            dovecot.connect_imaplib(name, "wrong")
        assert time.monotonic() - started < 1.5


def test_starttls_verifies_with_the_generated_ca(dovecot: Dovecot, account: tuple[str, str]) -> None:
    with imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=10) as imap:
        assert "STARTTLS" in imap.capabilities
        imap.starttls(ssl_context=dovecot.ssl_context())
        assert isinstance(imap.sock, ssl.SSLSocket)
        assert imap.sock.version() in {"TLSv1.2", "TLSv1.3"}
        imap.login(*account)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_implicit_tls_verifies(dovecot: Dovecot, account: tuple[str, str], host: str) -> None:
    context = ssl.create_default_context(cafile=str(dovecot.ca_cert_path))
    with imaplib.IMAP4_SSL(host, dovecot.imaps_port, ssl_context=context, timeout=10) as imap:
        assert isinstance(imap.sock, ssl.SSLSocket)
        peer = imap.sock.getpeercert(binary_form=True)
        assert peer is not None
        assert hashlib.sha256(peer).hexdigest() == dovecot.server_cert_sha256
        imap.login(*account)


def test_tls_1_2_is_accepted(dovecot: Dovecot) -> None:
    context = dovecot.ssl_context()
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with imaplib.IMAP4_SSL(dovecot.host, dovecot.imaps_port, ssl_context=context, timeout=10) as imap:
        assert isinstance(imap.sock, ssl.SSLSocket)
        assert imap.sock.version() == "TLSv1.2"


def test_certificate_from_another_ca_fails_verification(untrusted_dovecot: Dovecot) -> None:
    server = untrusted_dovecot
    assert server.ca_cert_path.read_bytes() != server.issuer_ca_cert_path.read_bytes()
    with pytest.raises(ssl.SSLCertVerificationError):
        imaplib.IMAP4_SSL(server.host, server.imaps_port, ssl_context=server.ssl_context(), timeout=10)

    imap = imaplib.IMAP4(server.host, server.imap_port, timeout=10)
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            imap.starttls(ssl_context=server.ssl_context())
    finally:
        close_imaplib(imap)

    # Trusting the CA that really issued it works, so the failure above is the CA's alone.
    issuer = ssl.create_default_context(cafile=str(server.issuer_ca_cert_path))
    with imaplib.IMAP4_SSL(server.host, server.imaps_port, ssl_context=issuer, timeout=10) as imap:
        assert imap.state == "NONAUTH"


def test_instances_share_one_ca_per_process(dovecot: Dovecot, untrusted_dovecot: Dovecot) -> None:
    assert dovecot.ca_cert_path.read_bytes() == untrusted_dovecot.ca_cert_path.read_bytes()
    assert dovecot.issuer_ca_cert_path.read_bytes() == dovecot.ca_cert_path.read_bytes()


# --- capabilities ---


def test_default_capabilities_are_dovecots_own(dovecot: Dovecot, account: tuple[str, str]) -> None:
    """Also guards DEFAULT_CAPABILITY, from which the reduced lists are made, against upgrades."""
    with dovecot.connect_imaplib(*account) as imap:
        advertised = capabilities(imap)
    assert advertised == set(DEFAULT_CAPABILITY.split())
    assert {"CONDSTORE", "QRESYNC", "UIDPLUS", "MOVE"} <= advertised


@pytest.mark.parametrize(
    ("options", "removed"),
    [
        ({"condstore_qresync": False}, {"CONDSTORE", "QRESYNC"}),
        ({"uidplus": False, "move": False}, {"UIDPLUS", "MOVE"}),
    ],
    ids=["no-condstore-qresync", "no-uidplus-move"],
)
def test_extensions_can_be_switched_off(options: dict[str, bool], removed: set[str]) -> None:
    with Dovecot(**options) as server:  # type: ignore[arg-type]
        server.add_user("carol", "pw")
        with imaplib.IMAP4(server.host, server.imap_port, timeout=10) as imap:
            assert not removed & set(imap.capabilities)  # before login
            imap.login("carol", "pw")
            assert capabilities(imap) == set(DEFAULT_CAPABILITY.split()) - removed


# --- users ---


def test_users_added_and_changed_while_running(dovecot: Dovecot) -> None:
    name = f"late-{os.getpid()}"
    dovecot.add_user(name, "first")
    dovecot.connect_imaplib(name, "first").logout()
    other = f"later-{os.getpid()}"
    dovecot.add_user(other, "pw")  # right after a lookup: must be visible at once
    dovecot.connect_imaplib(other, "pw").logout()
    dovecot.add_user(name, "second")
    with pytest.raises(imaplib.IMAP4.error):
        dovecot.connect_imaplib(name, "first")
    dovecot.connect_imaplib(name, "second").logout()


def test_user_names_are_checked(dovecot: Dovecot) -> None:
    with pytest.raises(ValueError, match="user names"):
        dovecot.add_user("../etc", "pw")
    with pytest.raises(ValueError, match="':'"):
        dovecot.add_user("dave", "a:b")


# --- messages ---

MESSAGES = {
    "8-bit with CRLF": (
        b"From: =?utf-8?q?J=C3=BCrgen?= <j@example.org>\r\nSubject: Gr\xc3\xbc\xc3\x9fe\r\n"
        b"Content-Type: text/plain; charset=latin-1\r\n\r\nM\xfcller \xff\xfe\x80 8-bit\r\n"
    ),
    "no final line break": b"Subject: cut\r\n\r\nlast line",
    "bare CR": b"Subject: cr\r\n\r\na\rb\r\n",
    "no header": b"just a body\r\n",
}


@pytest.mark.parametrize("message", MESSAGES.values(), ids=MESSAGES.keys())
def test_append_select_fetch_round_trip_is_byte_exact(
    dovecot: Dovecot, account: tuple[str, str], message: bytes
) -> None:
    uid = dovecot.append(*account, "INBOX", message)
    assert uid is not None
    with dovecot.connect_imaplib(*account) as imap:
        assert imap.select("INBOX", readonly=True)[0] == "OK"
        head, body = fetch(imap, uid, "RFC822.SIZE BODY.PEEK[]")
    assert body == message
    assert f"RFC822.SIZE {len(message)} ".encode() in head


def test_what_dovecot_itself_normalises(dovecot: Dovecot, account: tuple[str, str]) -> None:
    """Appended as given, but Dovecot serves bare LF as CRLF and NUL as 0x80 (IMAP forbids both)."""
    uid_lf = dovecot.append(*account, "INBOX", b"Subject: lf\n\none\ntwo\n")
    uid_nul = dovecot.append(*account, "INBOX", b"Subject: nul\r\n\r\na\x00b\r\n")
    assert uid_lf is not None
    assert uid_nul is not None
    with dovecot.connect_imaplib(*account) as imap:
        imap.select("INBOX", readonly=True)
        assert fetch(imap, uid_lf, "BODY.PEEK[]")[1] == b"Subject: lf\r\n\r\none\r\ntwo\r\n"
        assert fetch(imap, uid_nul, "BODY.PEEK[]")[1] == b"Subject: nul\r\n\r\na\x80b\r\n"


def test_append_keeps_flags_and_internal_date(dovecot: Dovecot, account: tuple[str, str]) -> None:
    when = datetime(2019, 12, 31, 23, 59, 58, tzinfo=UTC)
    uid = dovecot.append(*account, "INBOX", b"Subject: f\r\n\r\nx\r\n", ("\\Seen", "$Label1"), when)
    assert uid is not None
    with dovecot.connect_imaplib(*account) as imap:
        imap.select("INBOX", readonly=True)
        status, data = imap.uid("FETCH", str(uid), "(FLAGS INTERNALDATE)")
    assert status == "OK"
    line = data[0]
    assert isinstance(line, bytes)
    assert set(imaplib.ParseFlags(line)) - {b"\\Recent"} == {b"\\Seen", b"$Label1"}
    parsed = imaplib.Internaldate2tuple(line)
    assert parsed is not None
    assert time.mktime(parsed) == when.timestamp()


# --- folders ---


@pytest.mark.parametrize(
    ("name", "encoded"),
    [
        ("INBOX", "INBOX"),
        ("Projekte/Bücher", "Projekte/B&APw-cher"),
        ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),  # RFC 3501 §5.1.3
        ("a & b", "a &- b"),
        ("Post 📬", "Post &2D3c7A-"),
    ],
)
def test_modified_utf7(name: str, encoded: str) -> None:
    assert imap_utf7_encode(name) == encoded
    assert imap_utf7.encode(name) == encoded.encode()


def test_nested_and_non_ascii_folders(dovecot: Dovecot, account: tuple[str, str]) -> None:
    folders = ["Projekte/Bücher/2024", "日本語", 'Quote " and \\ backslash', "a & b", "cur", "Post 📬"]
    for folder in folders:
        dovecot.create_folder(*account, folder)
    uid = dovecot.append(*account, "Projekte/Bücher/2024", b"Subject: nested\r\n\r\nx\r\n")
    with dovecot.connect_imaplib(*account) as imap:
        names = listed_names(imap)
        assert imap.select(quote_mailbox("Projekte/Bücher/2024"), readonly=True) == ("OK", [b"1"])
        assert fetch(imap, uid or 0, "BODY.PEEK[]")[1] == b"Subject: nested\r\n\r\nx\r\n"
    assert {imap_utf7_encode(folder) for folder in folders} <= set(names)
    assert "Projekte" in names  # the parents exist too
    assert "Projekte/B&APw-cher" in names
    assert set(names.values()) == {"/"}


def test_dot_separator() -> None:
    with Dovecot(separator=".") as server:
        server.add_user("erin", "pw")
        server.create_folder("erin", "pw", "Projekte.Bücher")
        with server.connect_imaplib("erin", "pw") as imap:
            names = listed_names(imap)
    assert names == {"INBOX": ".", "Projekte": ".", "Projekte.B&APw-cher": "."}


# --- several servers, lifecycle, tooling ---


def test_two_instances_at_once(dovecot: Dovecot) -> None:
    with Dovecot() as first, Dovecot() as second:
        ports = {dovecot.imap_port, dovecot.imaps_port, first.imap_port, first.imaps_port}
        ports |= {second.imap_port, second.imaps_port}
        assert len(ports) == 6
        for server in (first, second):
            server.add_user("frank", "pw")
        first.append("frank", "pw", "INBOX", b"Subject: only in first\r\n\r\n")
        with first.connect_imaplib("frank", "pw") as one, second.connect_imaplib("frank", "pw") as two:
            assert one.select("INBOX") == ("OK", [b"1"])
            assert two.select("INBOX") == ("OK", [b"0"])


def test_stop_leaves_no_process_behind() -> None:
    server = Dovecot()
    server.add_user("gina", "pw")
    server.start()
    directory = server.directory
    master = server.pid
    imap = server.connect_imaplib("gina", "pw")  # an open session: an imap process exists
    try:
        imap.select("INBOX")
        processes = [master, *child_pids(master)]
        assert len(processes) > 3
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 2
    finally:
        close_imaplib(imap)
    with pytest.raises(ProcessLookupError):
        os.kill(master, 0)
    deadline = time.monotonic() + 5
    while not all(gone(pid) for pid in processes) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [pid for pid in processes if not gone(pid)] == []
    assert not directory.exists()
    assert not server.running
    server.stop()  # idempotent


def test_start_retries_when_a_port_was_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    squatter = socket.socket()
    try:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        real = launcher._free_ports
        offers = iter([(taken, real()[1])])
        monkeypatch.setattr(launcher, "_free_ports", lambda: next(offers, None) or real())
        with Dovecot() as server:
            assert server.imap_port != taken
            assert "Address already in use" in server.log_tail(200)
            with imaplib.IMAP4(server.host, server.imap_port, timeout=10) as imap:
                assert imap.welcome.startswith(b"* OK")
    finally:
        squatter.close()


def test_client_lines_and_doveadm(dovecot: Dovecot, account: tuple[str, str]) -> None:
    name, _ = account
    imap = dovecot.connect_imaplib(*account)
    try:
        imap.select("INBOX")
        assert any(line.endswith(b" SELECT INBOX\r\n") for line in dovecot.client_lines(name))
        assert name in dovecot.doveadm("who")
        dovecot.doveadm("kick", name)
        with pytest.raises((imaplib.IMAP4.abort, OSError)):
            for _ in range(100):
                imap.noop()
                time.sleep(0.02)
    finally:
        close_imaplib(imap)
