"""LDAP and Active Directory through ldap3: connect, secure, bind, and a paged search.

=============  ===================================================================
security       steps
=============  ===================================================================
``none``       connect → bind → search
``starttls``   connect → starttls → bind → search
``ldaps``      connect (TCP and TLS) → bind → search
=============  ===================================================================

The server certificate is always verified (``ssl.CERT_REQUIRED``, host name checked in the
handshake by Python's own ``SSLContext``): against the system's CAs, plus the directory's
``tls_trusted_ca`` when it has one. ldap3's own default, ``CERT_NONE``, is never used.

The search uses the simple paged results control (RFC 2696) with the directory's page size, so
Active Directory's 1,000-entries-a-page limit and OpenLDAP's size limits do not cut the list
short. Every ldap3 error is translated here into
:class:`~postroom.errors.SourceError` (or :class:`~postroom.errors.SourceAuthFailed` for a
refused bind) naming the step, with the server's raw answer kept.
"""

from __future__ import annotations

import contextlib
import ssl
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPException

from postroom.domain.connection_test import ConnectionTest, Step, StepStatus
from postroom.domain.directory import DirectorySettings, LdapSecurity
from postroom.domain.mailbox_list import DirectoryEntry
from postroom.errors import SourceAuthFailed, SourceError

PAGED_RESULTS = "1.2.840.113556.1.4.319"
INVALID_CREDENTIALS = 49
_ID_ATTRIBUTES = ("entryUUID", "objectGUID")  # OpenLDAP and most others; Active Directory

TITLES = {
    "connect": "Connection",
    "starttls": "TLS (StartTLS)",
    "bind": "Bind",
    "search": "Search",
}


class LdapDirectory:
    """An LDAP directory as a :class:`~postroom.sources.directory.base.Directory`."""

    def __init__(self, settings: DirectorySettings, secret: Mapping[str, Any]) -> None:
        assert settings.server_name is not None and settings.port is not None and settings.base_dn is not None
        self.settings = settings
        self.host = settings.server_name
        self.port = settings.port
        self.security = settings.security or LdapSecurity.STARTTLS
        self.bind_dn = str(secret["username"]) if secret.get("username") else None
        self.password = str(secret.get("password") or "")
        self.timeout = settings.effective_timeout() or None  # 0: wait as long as it takes (ldap3 wants int)
        self.pages = 0  # pages read by the last listing, for the log and the tests

    @property
    def target(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'ldaps' if self.security is LdapSecurity.LDAPS else 'ldap'}://{host}:{self.port} ({self.security})"

    @property
    def account(self) -> str:
        return self.bind_dn or "(anonymous)"

    # -- connecting --

    def ssl_context(self) -> ssl.SSLContext:
        """The system's CAs (plus the directory's trusted CA), host name checked: never "accept all"."""
        context = ssl.create_default_context()
        if self.settings.tls_trusted_ca:
            context.load_verify_locations(cadata=self.settings.tls_trusted_ca)
        return context

    def _tls(self) -> ldap3.Tls | None:
        return _VerifiedTls(self.ssl_context(), self.host) if self.security.tls else None

    def _server(self) -> ldap3.Server:
        return ldap3.Server(
            self.host,
            port=self.port,
            use_ssl=self.security is LdapSecurity.LDAPS,
            tls=self._tls(),
            get_info=ldap3.NONE,
            connect_timeout=self.timeout,
        )

    def _connection(self) -> ldap3.Connection:
        return ldap3.Connection(
            self._server(),
            user=self.bind_dn,
            password=self.password if self.bind_dn else None,
            authentication=ldap3.SIMPLE if self.bind_dn else ldap3.ANONYMOUS,
            auto_bind=ldap3.AUTO_BIND_NONE,
            read_only=True,
            receive_timeout=self.timeout,
            auto_referrals=False,
            raise_exceptions=False,
        )

    def _open(self, conn: ldap3.Connection) -> None:
        """Connect (and for ldaps, the TLS handshake)."""
        try:
            conn.open()
        except LDAPException as exc:
            raise SourceError("connect", f"cannot connect to {self.target}", raw=_raw(exc)) from exc

    def _start_tls(self, conn: ldap3.Connection) -> None:
        try:
            started = conn.start_tls()
        except LDAPException as exc:
            raise SourceError("starttls", "StartTLS failed", raw=_raw(exc)) from exc
        if not started:
            raise SourceError("starttls", "the server did not start TLS", raw=_result(conn))

    def _bind(self, conn: ldap3.Connection) -> None:
        try:
            bound = conn.bind()
        except LDAPException as exc:
            raise SourceError("bind", f"bind as {self.account} failed", raw=_raw(exc)) from exc
        if not bound:
            error = SourceAuthFailed if conn.result.get("result") == INVALID_CREDENTIALS else SourceError
            raise error("bind", f"the server refused the bind as {self.account}", raw=_result(conn))

    def connect(self) -> ldap3.Connection:
        """A bound connection: opened, secured and authenticated, or a SourceError naming the step."""
        conn = self._connection()
        try:
            self._open(conn)
            if self.security is LdapSecurity.STARTTLS:
                self._start_tls(conn)
            self._bind(conn)
        except BaseException:
            _close(conn)
            raise
        return conn

    # -- reading --

    def _attributes(self) -> list[str]:
        names = [self.settings.mail_attribute or "mail", self.settings.display_name_attribute or "displayName", "cn"]
        return list(dict.fromkeys([*names, *_ID_ATTRIBUTES]))

    def pages_of(self, conn: ldap3.Connection, page_size: int) -> Iterator[list[dict[str, Any]]]:
        """The search's entries, one page (a list of ldap3 entries) at a time."""
        cookie: bytes | None = None
        while True:
            try:
                conn.search(
                    self.settings.base_dn or "",
                    self.settings.filter or "(objectClass=*)",
                    search_scope=ldap3.SUBTREE,
                    attributes=self._attributes(),
                    paged_size=page_size,
                    paged_cookie=cookie,
                )
            except LDAPException as exc:
                raise SourceError("search", f"searching below {self.settings.base_dn} failed", raw=_raw(exc)) from exc
            if conn.result.get("result") != 0:
                raise SourceError(
                    "search", f"the server refused the search below {self.settings.base_dn}", raw=_result(conn)
                )
            self.pages += 1
            yield [item for item in conn.response or [] if item.get("type") == "searchResEntry"]
            control = (conn.result.get("controls") or {}).get(PAGED_RESULTS) or {}
            cookie = (control.get("value") or {}).get("cookie") or None
            if not cookie:
                return

    def _entry(self, item: Mapping[str, Any]) -> DirectoryEntry:
        attributes = item.get("attributes") or {}
        raw = item.get("raw_attributes") or {}
        return DirectoryEntry(
            address=_first_text(attributes, self.settings.mail_attribute or "mail"),
            display_name=_first_text(attributes, self.settings.display_name_attribute or "displayName")
            or _first_text(attributes, "cn")
            or None,
            external_id=_external_id(attributes, raw) or str(item.get("dn", "")),
        )

    def mailboxes(self) -> Iterator[DirectoryEntry]:
        self.pages = 0
        conn = self.connect()
        try:
            for page in self.pages_of(conn, self.settings.page_size or 500):
                yield from (self._entry(item) for item in page)
        finally:
            _close(conn)

    # -- the connection test --

    def test(self) -> ConnectionTest:
        started = datetime.now(UTC)
        conn = self._connection()
        steps: list[Step] = []
        plan: list[tuple[str, Callable[[], str]]] = [("connect", lambda: self._test_open(conn))]
        if self.security is LdapSecurity.STARTTLS:
            plan.append(("starttls", lambda: self._test_start_tls(conn)))
        plan += [("bind", lambda: self._test_bind(conn)), ("search", lambda: self._test_search(conn))]
        failed = False
        try:
            for name, run in plan:
                if failed:
                    steps.append(Step(name, TITLES[name], StepStatus.SKIPPED, "not run: an earlier step failed"))
                    continue
                begun = time.perf_counter()
                try:
                    summary = run()
                except SourceError as exc:
                    failed = True
                    steps.append(
                        Step(
                            name,
                            TITLES[name],
                            StepStatus.FAILED,
                            str(exc).removeprefix(f"{exc.step}: ").split(" (server said: ")[0],
                            duration_ms=(time.perf_counter() - begun) * 1000,
                            error=exc.raw,
                            hint=_hint(name, self, exc),
                        )
                    )
                    continue
                steps.append(
                    Step(
                        name,
                        TITLES[name],
                        StepStatus.OK,
                        summary,
                        duration_ms=(time.perf_counter() - begun) * 1000,
                    )
                )
        finally:
            _close(conn)
        return ConnectionTest(target=self.target, account=self.account, started_at=started, steps=steps)

    def _test_open(self, conn: ldap3.Connection) -> str:
        self._open(conn)
        if self.security is LdapSecurity.LDAPS:
            return f"connected to {self.host}:{self.port} over TLS; the certificate is trusted"
        plain = self.security is LdapSecurity.NONE and self.bind_dn
        warning = "; security is none: the bind password crosses the network readable" if plain else ""
        return f"connected to {self.host}:{self.port}{warning}"

    def _test_start_tls(self, conn: ldap3.Connection) -> str:
        self._start_tls(conn)
        return "TLS started; the certificate is trusted"

    def _test_bind(self, conn: ldap3.Connection) -> str:
        self._bind(conn)
        return f"bound as {self.account}"

    def _test_search(self, conn: ldap3.Connection) -> str:
        self.pages = 0
        first = next(self.pages_of(conn, 1), [])
        if not first:
            raise SourceError("search", f"no entry below {self.settings.base_dn} matches {self.settings.filter}")
        entry = self._entry(first[0])
        return f"the filter matches entries, e.g. {first[0].get('dn')} ({entry.address or 'no address'})"


class _VerifiedTls(ldap3.Tls):
    """TLS through our own ``SSLContext``: Python checks the chain and the host name in the handshake.

    ldap3's own ``Tls`` turns the context's host name check off and checks afterwards with the
    deprecated ``ssl.match_hostname``; here the handshake itself fails on a wrong name.
    """

    def __init__(self, context: ssl.SSLContext, host: str) -> None:
        super().__init__(validate=ssl.CERT_REQUIRED)
        self.context = context
        self.host = host

    def wrap_socket(self, connection: ldap3.Connection, do_handshake: bool = False) -> None:
        connection.socket = self.context.wrap_socket(
            connection.socket, server_side=False, do_handshake_on_connect=do_handshake, server_hostname=self.host
        )


def _first_text(attributes: Mapping[str, Any], name: str) -> str:
    value = attributes.get(name)
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).strip() if value is not None else ""


def _external_id(attributes: Mapping[str, Any], raw: Mapping[str, Any]) -> str:
    uuid_text = _first_text(attributes, "entryUUID")
    if uuid_text:
        return uuid_text.lower()
    guid = raw.get("objectGUID")
    if guid and isinstance(guid[0], bytes) and len(guid[0]) == 16:
        return str(uuid.UUID(bytes_le=guid[0]))  # Active Directory stores the GUID little-endian
    return ""


def _raw(exc: LDAPException) -> str:
    """ldap3's message: some of its errors wrap their text in a tuple; unwrap it."""
    parts: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, tuple | list):
            for item in value:
                walk(item)
        elif str(value):
            parts.append(str(value))

    walk(exc.args)
    return "; ".join(parts) or type(exc).__name__


def _result(conn: ldap3.Connection) -> str:
    """The server's answer as it gave it: the result name and code, and its diagnostic message."""
    result = conn.result or {}
    text = f"{result.get('description', 'error')} ({result.get('result', '?')})"
    message = str(result.get("message") or "").strip()
    return f"{text}: {message}" if message else text


def _hint(step: str, directory: LdapDirectory, exc: SourceError) -> str | None:
    raw = (exc.raw or "").lower()
    if step == "connect" and "certificate" in raw:
        return "the server's certificate is not trusted: add its CA to tls_trusted_ca"
    if step == "connect":
        return f"check server_name and port ({directory.port}) and that the firewall lets Postroom reach them"
    if step == "starttls" and "certificate" in raw:
        return "the server's certificate is not trusted: add its CA to tls_trusted_ca"
    if step == "starttls":
        return "the server does not offer StartTLS: choose ldaps (port 636) or ask for StartTLS to be enabled"
    if step == "bind" and isinstance(exc, SourceAuthFailed):
        return "check the secret: its username is the bind DN (AD also takes user@domain), its password the account's"
    if step == "search":
        return "check base_dn and filter, and that the bind account may read the users"
    return None


def _close(conn: ldap3.Connection) -> None:
    """Unbind; and whatever state a failure left the connection in, close its socket."""
    with contextlib.suppress(Exception):
        conn.unbind()
    sock = getattr(conn, "socket", None)
    if sock is not None:
        with contextlib.suppress(Exception):
            sock.close()
