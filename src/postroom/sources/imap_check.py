"""Test Connection for IMAP: every step on its own, with the server's raw words when one fails.

=========  ======================================================================================
IMAP-SSL   dns → tcp → tls → greeting → capabilities → login → folders
IMAP-TLS   dns → tcp → greeting → tls (STARTTLS) → capabilities → login → folders
=========  ======================================================================================

Each step is done here with the stdlib (``getaddrinfo``, ``create_connection``, ``ssl``) and
:mod:`~postroom.sources.imap_wire`, not through imapclient, which would do the first five in one
call. TLS trust is the sync's own (:meth:`ImapConnection.ssl_context`, ``pinning_problem``), so a
test that passes means a sync can connect. The first failing step ends the test; the rest are
reported as skipped. A failure keeps the raw error (the server's response after its tag, or the
OS or TLS library's text) and, where the cause is clear, a hint; the hint rules are pure
functions in :mod:`~postroom.sources.imap_hints`.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from postroom.domain.connection_test import ConnectionTest, Step, StepStatus
from postroom.sources.certificates import certificate_facts, certificate_notes, days_left
from postroom.sources.imap import SPECIAL_USE, ImapConnection
from postroom.sources.imap_hints import (
    certificate_hint,
    dns_hint,
    greeting_hint,
    login_hint,
    plain_text_tls_hint,
    protocol_name,
    shorten,
    slow_hint,
    tcp_hint,
)
from postroom.sources.imap_wire import (
    Response,
    ServerClosed,
    Wire,
    WireError,
    astring,
    capability_list,
    decode,
    folder_name,
    human_text,
    listed_folders,
    response_code_capabilities,
    status_messages,
)

DEFAULT_TIMEOUT = 60.0  # a profile that waits forever still gets an answer in the dialog
PROBE_TIMEOUT = 3.0  # looking for a plain-text greeting after a failed TLS handshake
EXPIRY_WARNING_DAYS = 14
_PLAIN_TEXT_TLS_REASONS = {"WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE"}
_NOTABLE = ("CONDSTORE", "QRESYNC", "UIDPLUS", "MOVE", "SPECIAL-USE", "ID")

TITLES = {
    "dns": "DNS",
    "tcp": "TCP connection",
    "tls": "TLS",
    "greeting": "Greeting",
    "capabilities": "Capabilities",
    "login": "Login",
    "folders": "Folders and counts",
}


def check_imap(connection: ImapConnection) -> ConnectionTest:
    """Run every step against the server ``connection`` describes; never raises for its failures."""
    return _ImapCheck(connection).run()


# --- the check ---------------------------------------------------------------------------------


@dataclass
class _Outcome:
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class _Failed(Exception):
    def __init__(
        self,
        summary: str,
        error: str,
        hint: str | None = None,
        details: dict[str, Any] | None = None,
        notes: list[str] | None = None,
    ) -> None:
        super().__init__(summary)
        self.outcome = _Outcome(summary, details or {}, notes or [])
        self.error = error
        self.hint = hint


class _ImapCheck:
    def __init__(self, connection: ImapConnection) -> None:
        self.c = connection
        self.timeout = connection.timeout or DEFAULT_TIMEOUT
        self.addresses: list[tuple[Any, ...]] = []  # getaddrinfo results
        self.address: tuple[Any, ...] | None = None  # the one connected to
        self.sock: socket.socket | None = None
        self.wire: Wire | None = None
        self.greeting_capabilities: list[str] = []
        self.capabilities: list[str] = []
        self.preauth = False

    @property
    def target(self) -> str:
        host = f"[{self.c.host}]" if ":" in self.c.host else self.c.host
        return f"{protocol_name(self.c.starttls)} {host}:{self.c.port}"

    def plan(self) -> list[tuple[str, Callable[[], _Outcome]]]:
        # IMAP-TLS: the server greets in plain text and STARTTLS follows; IMAP-SSL: TLS comes first.
        middle: list[tuple[str, Callable[[], _Outcome]]] = [("greeting", self.greeting), ("tls", self.tls)]
        if not self.c.starttls:
            middle.reverse()
        return [
            ("dns", self.dns),
            ("tcp", self.tcp),
            *middle,
            ("capabilities", self.capability),
            ("login", self.login),
            ("folders", self.folders),
        ]

    def run(self) -> ConnectionTest:
        started = datetime.now(UTC)
        steps: list[Step] = []
        try:
            for name, action in self.plan():
                title = "TLS (STARTTLS)" if name == "tls" and self.c.starttls else TITLES[name]
                if steps and not steps[-1].ok:
                    steps.append(Step(name, title, StepStatus.SKIPPED, "skipped: an earlier step failed"))
                    continue
                began = time.perf_counter()
                try:
                    outcome = action()
                except _Failed as failed:
                    steps.append(self._failed(name, title, began, failed))
                    continue
                except (OSError, WireError) as exc:  # what a step did not expect: still attributed to it
                    steps.append(self._failed(name, title, began, self._unexpected(name, exc)))
                    continue
                ms = (time.perf_counter() - began) * 1000
                steps.append(
                    Step(name, title, StepStatus.OK, outcome.summary, ms, details=outcome.details, notes=outcome.notes)
                )
            if steps[-1].ok:
                self._logout()
        finally:
            self._close()
        return ConnectionTest(self.target, self.c.username, started, steps)

    def _failed(self, name: str, title: str, began: float, failed: _Failed) -> Step:
        ms = (time.perf_counter() - began) * 1000
        o = failed.outcome
        return Step(name, title, StepStatus.FAILED, o.summary, ms, failed.error, failed.hint, o.details, o.notes)

    def _unexpected(self, step: str, exc: Exception) -> _Failed:
        if isinstance(exc, TimeoutError):
            return _Failed(f"no answer within {self.timeout:g} s", str(exc) or "timed out", slow_hint(step))
        if isinstance(exc, ServerClosed | ConnectionResetError | BrokenPipeError | ssl.SSLEOFError):
            return _Failed("the server closed the connection", str(exc) or type(exc).__name__)
        return _Failed(f"{TITLES[step]} failed", str(exc) or type(exc).__name__)

    # --- steps -------------------------------------------------------------------------------

    def dns(self) -> _Outcome:
        host = self.c.host
        try:
            found = socket.getaddrinfo(host, self.c.port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise _Failed(f"cannot resolve {host!r}", str(exc), dns_hint(exc)) from exc
        except UnicodeError as exc:  # an IDN label the idna codec refuses
            raise _Failed(f"cannot resolve {host!r}", str(exc), "check the server name") from exc
        self.addresses = found
        ips = list(dict.fromkeys(str(info[4][0]) for info in found))
        if _is_ip(host):
            return _Outcome(f"{host} is an IP address: no lookup needed", {"addresses": ips})
        return _Outcome(f"{host} resolved to {', '.join(ips)}", {"addresses": ips})

    def tcp(self) -> _Outcome:
        failures: list[str] = []
        last: OSError | None = None
        for info in self.addresses:
            ip, port = str(info[4][0]), int(info[4][1])
            try:
                self.sock = socket.create_connection((ip, port), timeout=self.timeout)
            except OSError as exc:
                failures.append(f"{ip} port {port}: {exc or type(exc).__name__}")
                last = exc
                continue
            self.address = info[4]
            local = self.sock.getsockname()
            notes = [f"{f} (tried first)" for f in failures]
            details = {"address": ip, "port": port, "local_address": str(local[0]), "failed_addresses": failures}
            return _Outcome(f"connected to {ip} port {port}", details, notes)
        assert last is not None
        where = f"{self.c.host} port {self.c.port}"
        summary = f"cannot connect to {where}" + (": timed out" if isinstance(last, TimeoutError) else "")
        raise _Failed(summary, "\n".join(failures), tcp_hint(last, self.c.port, self.c.starttls, self.timeout))

    def greeting(self) -> _Outcome:
        assert self.sock is not None
        self.wire = self.wire or Wire(self.sock)
        try:
            response = self.wire.read()
        except TimeoutError as exc:
            raise _Failed(
                f"no greeting within {self.timeout:g} s",
                str(exc) or "timed out",
                greeting_hint(None, self.c.port, self.c.starttls),
            ) from exc
        text = response.text
        if response.tag != b"*" or response.keyword not in (b"OK", b"PREAUTH"):
            raw = (response.tag.decode("utf-8", "replace") + " " + text).strip()
            summary = "the server ended the session" if response.keyword == b"BYE" else "no IMAP greeting"
            raise _Failed(summary, raw, greeting_hint(response, self.c.port, self.c.starttls), {"greeting": raw})
        self.preauth = response.keyword == b"PREAUTH"
        self.greeting_capabilities = response_code_capabilities(text)
        said = human_text(text)
        summary = f'{response.keyword.decode()} "{shorten(said, 160)}"' if said else response.keyword.decode()
        return _Outcome(summary, {"greeting": f"* {text}"}, [f"* {text}"])

    def tls(self) -> _Outcome:
        assert self.sock is not None
        if self.c.starttls:
            self._starttls()
        try:
            tls = self.c.ssl_context().wrap_socket(self.sock, server_hostname=self.c.host)
        except ssl.SSLCertVerificationError as exc:
            raise self._untrusted(exc) from exc
        except (ssl.SSLError, ConnectionResetError) as exc:
            raise self._handshake_failed(exc) from exc
        self.sock = tls
        if self.wire is not None:
            self.wire.attach(tls)
        der = tls.getpeercert(binary_form=True)
        facts = certificate_facts(der) if der else {}
        cipher = tls.cipher()
        details: dict[str, Any] = {
            "version": tls.version(),
            "cipher": cipher[0] if cipher else None,
            "trust": self.c.trust(),
            "certificate": facts,
        }
        notes = [
            f"{tls.version()}, cipher {details['cipher']}",
            *certificate_notes(facts),
            f"trusting {self.c.trust()}",
        ]
        problem = self.c.pinning_problem(der)
        if problem is not None:
            seen = facts.get("sha256")
            raise _Failed(
                "the certificate is not the pinned one",
                problem,
                f"if the server's certificate was renewed, check the new one and pin its fingerprint ({seen}); "
                "otherwise this may not be the server you expect",
                details,
                notes,
            )
        who = facts.get("subject") or "the server"
        judged = f"pinned certificate of {who} matches" if self.c.fingerprint else f"certificate of {who} trusted"
        summary = f"{tls.version()}; {judged}"
        remaining = days_left(facts.get("not_after"))
        if remaining is not None and remaining < EXPIRY_WARNING_DAYS:
            summary += f" — it expires in {remaining} day{'s' if remaining != 1 else ''}"
        return _Outcome(summary, details, notes)

    def capability(self) -> _Outcome:
        response, untagged = self._command(b"CAPABILITY")
        if response.keyword != b"OK":
            raise _Failed("the server refused CAPABILITY", response.text)
        self.capabilities = capability_list(untagged) or response_code_capabilities(response.text)
        upper = _upper(self.capabilities)
        login_by = [c for c in self.capabilities if c.upper().startswith("AUTH=")]
        if "LOGINDISABLED" not in upper:
            login_by.insert(0, "LOGIN")
        revision = next((c for c in self.capabilities if c.upper().startswith("IMAP4REV")), "no IMAP4rev1")
        summary = f"{revision}; {len(self.capabilities)} capabilities; login by {', '.join(login_by) or 'nothing'}"
        notes = [" ".join(self.capabilities)]
        return _Outcome(summary, {"capabilities": self.capabilities}, notes)

    def login(self) -> _Outcome:
        user = self.c.username
        if self.preauth:
            return _Outcome("the server authenticated the connection itself (PREAUTH)", {"user": None})
        oauth = bool(self.c.oauth_token)
        challenge: list[str] = []
        if oauth:
            response = self._xoauth2(challenge)
        elif self.c.authorization_identity:
            response = self._plain()
        else:
            password = (self.c.password or "").encode()
            response, _ = self._command(b"LOGIN", astring(user.encode()), astring(password))
        if response.keyword != b"OK":
            raw = response.text + (f"\n{challenge[-1]}" if challenge else "")
            hint = login_hint(
                raw, oauth=oauth, capabilities=_upper(self.capabilities), acting_as=self.c.authorization_identity
            )
            raise _Failed(f"the server rejected the login of {self.c.who()}", raw, hint, {"user": user})
        after = response_code_capabilities(response.text)
        if not after:
            reply, untagged = self._command(b"CAPABILITY")
            after = capability_list(untagged) if reply.keyword == b"OK" else []
        missing = [c for c in _NOTABLE if c not in _upper(after)]
        summary = f"logged in as {user}" + (" with XOAUTH2" if oauth else "")
        if self.c.authorization_identity:
            summary += f", acting as {self.c.authorization_identity}"
        if missing:
            notes = [f"lacks {', '.join(missing)} (a sync then uses slower or more careful fallbacks)"]
        else:
            notes = [f"offers all of {', '.join(_NOTABLE)}"]
        if after:
            notes.append("capabilities after login: " + " ".join(after))
        return _Outcome(summary, {"user": user, "capabilities": after}, notes)

    def folders(self) -> _Outcome:
        response, untagged = self._command(b"LIST", b'""', b'"*"')
        if response.keyword != b"OK":
            raise _Failed("the server refused to list the folders", response.text)
        folders: list[dict[str, Any]] = []
        notes: list[str] = []
        errors: list[str] = []
        for flags, delimiter, raw_name in listed_folders(untagged):
            name = folder_name(raw_name)
            flag_names = [decode(f) for f in flags]
            selectable = not any(f.lower() in ("\\noselect", "\\nonexistent") for f in flag_names)
            special = next((decode(f) for f in flags if f in SPECIAL_USE), None)
            entry: dict[str, Any] = {"name": name, "selectable": selectable, "special_use": special, "messages": None}
            entry["delimiter"] = decode(delimiter) if delimiter else None
            folders.append(entry)
            label = name + (f" ({special})" if special else "")
            if not selectable:
                notes.append(f"{label}: not selectable")
                continue
            status, data = self._command(b"STATUS", astring(raw_name), b"(MESSAGES)")
            if status.keyword != b"OK":
                entry["error"] = status.text
                errors.append(f"{name}: {status.text}")
                notes.append(f"{label}: STATUS failed: {status.text}")
                continue
            entry["messages"] = status_messages(data)
            notes.append(f"{label}: {_count(entry['messages'] or 0, 'message')}")
        total = sum(f["messages"] or 0 for f in folders)
        details = {"folders": folders, "total_messages": total}
        if errors:
            summary = f"could not count the messages of {_count(len(errors), 'folder')}"
            raise _Failed(summary, "\n".join(errors), None, details, notes)
        unselectable = sum(1 for f in folders if not f["selectable"])
        summary = f"{_count(len(folders), 'folder')}, {_count(total, 'message')}"
        if unselectable:
            summary += f" ({unselectable} of the folders not selectable)"
        return _Outcome(summary, details, notes)

    # --- helpers -----------------------------------------------------------------------------

    def _command(self, name: bytes, *args: Any, **kwargs: Any) -> tuple[Response, list[Response]]:
        assert self.wire is not None
        return self.wire.command(name, *args, **kwargs)

    def _starttls(self) -> None:
        response, _ = self._command(b"STARTTLS")
        if response.keyword != b"OK":
            offered = not self.greeting_capabilities or "STARTTLS" in _upper(self.greeting_capabilities)
            hint = (
                None
                if offered
                else ("the server does not offer STARTTLS: choose IMAP-SSL (usually port 993) if it has it")
            )
            raise _Failed("the server refused STARTTLS", response.text, hint)

    def _xoauth2(self, challenge: list[str]) -> Response:
        token = self.c.oauth_token or ""
        initial = base64.b64encode(f"user={self.c.username}\x01auth=Bearer {token}\x01\x01".encode())
        sasl_ir = "SASL-IR" in _upper(self.capabilities)
        sent = sasl_ir

        def answer(line: bytes) -> bytes:
            nonlocal sent
            if not sent:
                sent = True
                return initial
            with contextlib.suppress(ValueError):
                challenge.append(base64.b64decode(line, validate=True).decode("utf-8", "replace"))
            return b""  # the error details arrive as a challenge; an empty answer ends the exchange

        args = (b"XOAUTH2", initial) if sasl_ir else (b"XOAUTH2",)
        response, _ = self._command(b"AUTHENTICATE", *args, continuation=answer)
        return response

    def _plain(self) -> Response:
        """AUTHENTICATE PLAIN with an authorization identity: log in as the administrator, act as the mailbox."""
        identity = self.c.authorization_identity or ""
        initial = base64.b64encode(f"{identity}\x00{self.c.username}\x00{self.c.password or ''}".encode())
        sasl_ir = "SASL-IR" in _upper(self.capabilities)
        sent = sasl_ir

        def answer(_line: bytes) -> bytes:
            nonlocal sent
            if not sent:
                sent = True
                return initial
            return b"*"  # a second challenge: cancel the exchange (RFC 3501 6.2.2)

        args = (b"PLAIN", initial) if sasl_ir else (b"PLAIN",)
        response, _ = self._command(b"AUTHENTICATE", *args, continuation=answer)
        return response

    def _untrusted(self, exc: ssl.SSLCertVerificationError) -> _Failed:
        der = self._unverified_certificate()
        facts = certificate_facts(der) if der else {}
        names = facts.get("names") or []
        hint = certificate_hint(exc.verify_code, names, facts.get("not_after"), facts.get("sha256"))
        details = {"trust": self.c.trust(), "verify_code": exc.verify_code, "certificate": facts}
        notes = [*certificate_notes(facts), f"trusting {self.c.trust()}"]
        return _Failed(
            f"the certificate of {self.c.host} is not trusted: {exc.verify_message}", str(exc), hint, details, notes
        )

    def _handshake_failed(self, exc: OSError) -> _Failed:
        reason = getattr(exc, "reason", None)
        hint = None
        details: dict[str, Any] = {}
        if not self.c.starttls and (reason in _PLAIN_TEXT_TLS_REASONS or isinstance(exc, ConnectionResetError)):
            greeting = self._plain_greeting()
            details["plain_text_greeting"] = greeting
            if greeting is not None or reason in _PLAIN_TEXT_TLS_REASONS:
                said = (
                    f"* OK {human_text(greeting[2:])}".rstrip() if greeting and greeting.startswith("* ") else greeting
                )
                hint = plain_text_tls_hint(self.c.port, said)
        elif reason in ("TLSV1_ALERT_PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL"):
            hint = "the server and Postroom share no TLS version (the server may offer only TLS 1.0/1.1)"
        elif reason in ("SSLV3_ALERT_HANDSHAKE_FAILURE", "NO_SHARED_CIPHER"):
            hint = "the server and Postroom share no cipher: the server's TLS settings may be outdated"
        return _Failed(f"TLS handshake with {self.c.host} port {self.c.port} failed", str(exc), hint, details)

    def _reconnect(self, timeout: float) -> socket.socket:
        assert self.address is not None
        return socket.create_connection((self.address[0], self.address[1]), timeout=timeout)

    def _unverified_certificate(self) -> bytes | None:
        """The certificate the server shows, fetched again without judging it, to show the user."""
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            with self._reconnect(min(self.timeout, PROBE_TIMEOUT)) as sock:
                if self.c.starttls:
                    wire = Wire(sock)
                    try:
                        wire.read()
                        if wire.command(b"STARTTLS")[0].keyword != b"OK":
                            return None
                    finally:
                        wire.close()
                with context.wrap_socket(sock, server_hostname=self.c.host) as tls:
                    return tls.getpeercert(binary_form=True)
        except (OSError, WireError):
            return None

    def _plain_greeting(self) -> str | None:
        """What the port says in plain text, if anything: a line starting ``* OK`` means IMAP-TLS."""
        try:
            with self._reconnect(min(self.timeout, PROBE_TIMEOUT)) as sock:
                wire = Wire(sock)
                try:
                    response = wire.read()
                finally:
                    wire.close()
        except (OSError, WireError):
            return None
        return (response.tag.decode("utf-8", "replace") + " " + response.text).strip()

    def _logout(self) -> None:
        with contextlib.suppress(OSError, WireError):
            if self.wire is not None:
                self.wire.command(b"LOGOUT")

    def _close(self) -> None:
        if self.wire is not None:
            with contextlib.suppress(OSError):
                self.wire.close()
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()


# --- parsing and formatting --------------------------------------------------------------------


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _upper(capabilities: Sequence[str]) -> list[str]:
    return [c.upper() for c in capabilities]
