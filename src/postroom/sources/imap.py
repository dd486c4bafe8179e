"""IMAP, through imapclient: the first ``MailSource``.

Change tracking per folder, cheapest first:

* ``STATUS`` (one round trip) tells whether anything changed at all: same UIDVALIDITY, UIDNEXT,
  MESSAGES and HIGHESTMODSEQ means nothing to do.
* New mail is ``UID SEARCH UID last+1:*``, described by one ``UID FETCH`` of size, internal date,
  flags and the Message-ID header (enough to recognise a moved message without downloading it).
* With QRESYNC (RFC 7162) the ``SELECT`` itself answers which known messages vanished and whose
  flags changed, in the same round trip.
* Without it, changed flags come from a ``MODSEQ`` search (CONDSTORE) when the server has it, and
  expunged mail is found by diffing the folder's UID set, only when MESSAGES says that some
  message went away.
* A different UIDVALIDITY voids the cursor: the whole folder is listed again and the engine
  re-links what it already has.

Message bytes are fetched with ``BODY.PEEK[]`` (never marks mail read) on explicit UID sets:
imapclient 4.x raises on ``1:*`` fetches once the server has answered.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import imapclient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError
from imapclient.imap_utf7 import decode as decode_utf7
from imapclient.response_parser import parse_fetch_response, parse_response

from postroom import __version__
from postroom.domain.message import normalise_message_id
from postroom.errors import SourceAuthFailed, SourceError
from postroom.sources.base import Cursor, FolderChanges, RemoteMessage, SourceFolder

SPECIAL_USE = (b"\\Sent", b"\\Trash", b"\\Junk", b"\\Drafts", b"\\Archive", b"\\All", b"\\Flagged")
MESSAGE_ID_FIELD = b"BODY[HEADER.FIELDS (MESSAGE-ID)]"
DESCRIBE = ["RFC822.SIZE", "INTERNALDATE", "FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]
_MESSAGE_ID = re.compile(rb"^message-id:\s*(.*?)\s*$", re.I | re.M | re.S)


_TLS_CONTEXTS: dict[str, tuple[float, ssl.SSLContext]] = {}  # by trust: "pinned", a CA's PEM, "" (system)
_TLS_CONTEXTS_LOCK = threading.Lock()
_TLS_CONTEXT_SECONDS = 600.0
_TLS_CONTEXTS_MAX = 64


@dataclass(frozen=True)
class ImapConnection:
    """Everything needed to open one IMAP mailbox."""

    host: str
    port: int
    starttls: bool  # IMAP-TLS: plain connection upgraded by STARTTLS; IMAP-SSL: implicit TLS
    username: str
    password: str | None = None
    oauth_token: str | None = None  # XOAUTH2 instead of a password
    # Multiple-mailbox mode: log in as ``username`` (an administrator, a Dovecot master user, a
    # Cyrus admin) and act as this mailbox, by the authorization identity of SASL PLAIN (RFC 4616).
    authorization_identity: str | None = None
    timeout: float | None = 60.0
    trusted_ca_pem: str | None = None
    fingerprint: str | None = None  # SHA-256 of the server certificate, lower-case hex

    def who(self) -> str:
        """The login in words: ``'admin'``, or ``'admin' as 'alice@example.com'``."""
        if self.authorization_identity:
            return f"{self.username!r} as {self.authorization_identity!r}"
        return repr(self.username)

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context for this trust, shared by the connections of this process for a while.

        Loading the system's CAs costs ~20 ms per context: a multiple-mailbox run connects to
        the same server once per mailbox and folder connection. A context is never changed after
        it is made, so sharing it between threads is safe; it is made again after
        ``_TLS_CONTEXT_SECONDS``, so a long-running worker sees renewed system CAs.
        """
        key = "pinned" if self.fingerprint else self.trusted_ca_pem or ""
        now = time.monotonic()
        with _TLS_CONTEXTS_LOCK:
            cached = _TLS_CONTEXTS.get(key)
            if cached is not None and now - cached[0] < _TLS_CONTEXT_SECONDS:
                return cached[1]
        context = self._new_ssl_context()
        with _TLS_CONTEXTS_LOCK:
            if len(_TLS_CONTEXTS) >= _TLS_CONTEXTS_MAX:
                _TLS_CONTEXTS.clear()
            _TLS_CONTEXTS[key] = (now, context)
        return context

    def _new_ssl_context(self) -> ssl.SSLContext:
        if self.fingerprint:
            # Pinning: the chain is not judged, the exact certificate is (checked after the handshake).
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        context = ssl.create_default_context()
        if self.trusted_ca_pem:
            context.load_verify_locations(cadata=self.trusted_ca_pem)
        return context

    def trust(self) -> str:
        """Which certificates :meth:`ssl_context` accepts, in words."""
        if self.fingerprint:
            return "only the pinned certificate"
        if self.trusted_ca_pem:
            return "the system's CAs and the profile's trusted CA"
        return "the system's CAs"

    def pinning_problem(self, der: bytes | None) -> str | None:
        """Why the server certificate ``der`` (DER) breaks the pin; None if it matches or nothing is pinned."""
        if not self.fingerprint:
            return None
        seen = certificate_sha256(der) if der else None
        if seen == self.fingerprint:
            return None
        return f"the certificate of {self.host} has SHA-256 fingerprint {seen}, not the pinned {self.fingerprint}"


def certificate_sha256(der: bytes) -> str:
    """A certificate's SHA-256 fingerprint as profiles store it: lower-case hex of its DER bytes."""
    return hashlib.sha256(der).hexdigest()


def _utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _message_id(header: Any) -> str | None:
    if not isinstance(header, bytes):
        return None
    match = _MESSAGE_ID.search(header.replace(b"\r\n", b"\n").replace(b"\n ", b" ").replace(b"\n\t", b" "))
    if not match:
        return None
    raw = match.group(1)
    try:  # the same decoding extract_metadata uses, so both sides recognise the same message
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", "replace")
    return normalise_message_id(text)


def _flags(value: Any) -> frozenset[str]:
    return frozenset(_text(flag) for flag in value or ()) - {"\\Recent"}


def _uid_set(text: str) -> set[int]:
    """``1,4:6`` → {1, 4, 5, 6}; ranges may be written high:low (RFC 3501 sequence-set)."""
    uids: set[int] = set()
    for part in text.strip().split(","):
        low, _, high = part.strip().partition(":")
        if not low:
            continue
        first, last = int(low), int(high or low)
        uids.update(range(min(first, last), max(first, last) + 1))
    return uids


def _chunks(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


class ImapSource:
    """One IMAP mailbox. Open with :meth:`connect`; every vendor error leaves as a SourceError."""

    def __init__(self, connection: ImapConnection, *, fetch_batch_bytes: int = 4 << 20) -> None:
        self.connection = connection
        self.fetch_batch_bytes = fetch_batch_bytes
        self._client: imapclient.IMAPClient | None = None
        self._selected: tuple[str, bool] | None = None
        self._status: dict[str, dict[bytes, int]] = {}
        self.capabilities: frozenset[str] = frozenset()
        self.reconnect_attempts = 3
        self.reconnects = 0  # how often a lost connection was re-established during this session

    # --- connection ------------------------------------------------------------------------------

    def connect(self) -> ImapSource:
        c = self.connection
        try:
            client = imapclient.IMAPClient(
                c.host, port=c.port, ssl=not c.starttls, ssl_context=c.ssl_context(), timeout=c.timeout
            )
        except ssl.SSLCertVerificationError as exc:
            raise SourceError("tls", f"the certificate of {c.host} is not trusted: {exc.verify_message}") from exc
        except ssl.SSLError as exc:
            raise SourceError("tls", f"TLS with {c.host}:{c.port} failed", str(exc)) from exc
        except socket.gaierror as exc:
            raise SourceError("dns", f"cannot resolve {c.host!r}", str(exc)) from exc
        except TimeoutError as exc:
            raise SourceError("tcp", f"no answer from {c.host}:{c.port} within {c.timeout} s") from exc
        except OSError as exc:
            raise SourceError("tcp", f"cannot connect to {c.host}:{c.port}", str(exc)) from exc
        except IMAPClientError as exc:
            raise SourceError("greeting", f"{c.host}:{c.port} did not greet as an IMAP server", str(exc)) from exc
        self._client = client
        client.normalise_times = False
        # imapclient turns on imaplib's debug output and hands it to a logger: imaplib then formats
        # every fetched message as text before the logger drops it (a fifth of a full sync's time).
        if not logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG):
            client._imap.debug = 0
        try:
            if c.starttls:
                try:
                    client.starttls(c.ssl_context())
                except ssl.SSLCertVerificationError as exc:
                    raise SourceError(
                        "tls", f"the certificate of {c.host} is not trusted: {exc.verify_message}"
                    ) from exc
                except (ssl.SSLError, IMAPClientError) as exc:
                    raise SourceError("tls", f"STARTTLS with {c.host}:{c.port} failed", str(exc)) from exc
            self._check_fingerprint()
            self._login()
            self.capabilities = frozenset(_text(cap).upper() for cap in client.capabilities())
            if "ID" in self.capabilities:
                client.id_({"name": "Postroom", "version": __version__})
            if "ENABLE" in self.capabilities:  # QRESYNC implies CONDSTORE (RFC 7162 3.2.3)
                wanted = [ext for ext in ("QRESYNC", "CONDSTORE") if ext in self.capabilities]
                if wanted:
                    client.enable(wanted[0])
        except BaseException:
            self.close()
            raise
        return self

    def _check_fingerprint(self) -> None:
        if not self.connection.fingerprint:
            return
        sock = self.client._imap.sock
        der = sock.getpeercert(binary_form=True) if isinstance(sock, ssl.SSLSocket) else None
        problem = self.connection.pinning_problem(der)
        if problem is not None:
            raise SourceError("tls", problem)

    def _login(self) -> None:
        c, client = self.connection, self.client
        try:
            if c.oauth_token:
                client.oauth2_login(c.username, c.oauth_token)
            elif c.authorization_identity:
                client.plain_login(c.username, c.password or "", authorization_identity=c.authorization_identity)
            else:
                client.login(c.username, c.password or "")
        except LoginError as exc:
            if c.oauth_token:
                what = (
                    f"{c.host} rejected the XOAUTH2 login of {c.username!r}: the access token may have expired "
                    "or lack IMAP access; renew the secret's token"
                )
            else:
                what = f"{c.host} rejected the login of {c.who()}"
            raise SourceAuthFailed("login", what, str(exc)) from exc
        except IMAPClientError as exc:
            raise SourceError("login", f"login to {c.host} failed", str(exc)) from exc

    @property
    def client(self) -> imapclient.IMAPClient:
        if self._client is None:
            raise SourceError("connection", "not connected")
        return self._client

    def close(self) -> None:
        client, self._client, self._selected = self._client, None, None
        if client is None:
            return
        try:
            client.logout()
        except (IMAPClientError, OSError):
            with contextlib.suppress(IMAPClientError, OSError):
                client.shutdown()

    def fork(self) -> ImapSource:
        """A second connection with the same settings (servers limit connections per user: Dovecot's
        default is 10 per user and address)."""
        return ImapSource(self.connection, fetch_batch_bytes=self.fetch_batch_bytes).connect()

    def __enter__(self) -> ImapSource:
        return self.connect() if self._client is None else self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _call(
        self, step: str, what: str, method: str | Callable[..., Any], *args: Any, retry: bool = True, **kwargs: Any
    ) -> Any:
        """Call an imapclient method; on a lost connection reconnect, reselect and try again."""
        attempts = self.reconnect_attempts + 1 if retry else 1
        for attempt in range(1, attempts + 1):
            try:
                if callable(method):  # a composite call of ours, given the current client
                    return method(self.client, *args, **kwargs)
                return getattr(self.client, method)(*args, **kwargs)
            except (IMAPClientAbortError, OSError) as exc:  # the connection broke (OSError covers TLS, timeouts)
                if attempt == attempts:
                    if isinstance(exc, TimeoutError):
                        raise SourceError(step, f"{what}: no answer within {self.connection.timeout} s") from exc
                    raise SourceError(step, f"{what}: the connection was lost", str(exc)) from exc
                self._reconnect(attempt)
            except IMAPClientError as exc:
                raise SourceError(step, what, str(exc)) from exc
        raise AssertionError("unreachable")

    def _reconnect(self, attempt: int) -> None:
        selected = self._selected
        client, self._client, self._selected = self._client, None, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.shutdown()
        time.sleep(min(0.2 * 2**attempt, 5.0))
        self.connect()
        self.reconnects += 1
        if selected is not None:
            self._select(selected[0], writable=selected[1])

    # --- folders ---------------------------------------------------------------------------------

    def list_folders(self) -> list[SourceFolder]:
        self._status.clear()
        listing = None
        if "LIST-STATUS" in self.capabilities:  # RFC 5819: every folder's STATUS in the one LIST
            listing = self._call("list", "listing folders with their status", self._list_with_status)
        if listing is None:
            listing = self._call("list", "listing folders", "list_folders")
        folders = []
        for flags, delimiter, name in listing:
            name = _text(name)
            sep = _text(delimiter) if delimiter else None
            path = tuple(name.split(sep)) if sep else (name,)
            selectable = not any(f.lower() in (b"\\noselect", b"\\nonexistent") for f in flags)
            special = next((_text(f) for f in flags if f in SPECIAL_USE), None)
            identity = None
            if selectable:
                status = self._status.get(name) or self._folder_status(name)
                identity = f"uidvalidity:{status[b'UIDVALIDITY']}"
            folders.append(SourceFolder(name, path, special, selectable, identity))
        return folders

    def _status_items(self) -> list[bytes]:
        what = [b"MESSAGES", b"UIDNEXT", b"UIDVALIDITY"]
        if "CONDSTORE" in self.capabilities:
            what.append(b"HIGHESTMODSEQ")
        return what

    def _list_with_status(self, client: Any) -> list[tuple[Any, Any, Any]] | None:
        """``LIST "" "*" RETURN (STATUS (...))`` through imaplib, parsed with imapclient's parser.

        imapclient has no LIST-STATUS call; its own LIST parsing is reused. None: use plain LIST.
        """
        imap = client._imap
        what = b" ".join(self._status_items()).decode()
        typ, data = imap._simple_command("LIST", '""', '"*"', "RETURN", f"(STATUS ({what}))")
        if typ != "OK":
            return None
        _typ, listing = imap._untagged_response(typ, data, "LIST")
        _typ, statuses = imap._untagged_response(typ, data, "STATUS")
        for item in statuses or ():
            if item in (None, b""):
                continue
            parsed = parse_response([item])
            name = decode_utf7(parsed[0]) if isinstance(parsed[0], bytes) else str(parsed[0])
            items = parsed[-1]
            self._status[name] = {bytes(items[i]).upper(): int(items[i + 1]) for i in range(0, len(items) - 1, 2)}
        return client._proc_folder_list(listing)  # type: ignore[no-any-return]

    def _folder_status(self, name: str) -> dict[bytes, int]:
        what = self._status_items()
        status = self._call("list", f"status of folder {name!r}", "folder_status", name, what)
        self._status[name] = {k: int(v) for k, v in status.items()}
        return self._status[name]

    def _select(self, name: str, *, writable: bool = False) -> None:
        if self._selected == (name, writable):
            return
        self._call("select", f"opening folder {name!r}", "select_folder", name, readonly=not writable)
        self._selected = (name, writable)

    # --- changes ---------------------------------------------------------------------------------

    def changes(self, folder: SourceFolder, cursor: Cursor | None) -> FolderChanges:
        status = self._status.get(folder.key) or self._folder_status(folder.key)
        uidvalidity, uidnext, messages = status[b"UIDVALIDITY"], status[b"UIDNEXT"], status[b"MESSAGES"]
        modseq = status.get(b"HIGHESTMODSEQ")
        fresh: Cursor = {
            "uidvalidity": uidvalidity,
            "uidnext": uidnext,
            "messages": messages,
            "modseq": modseq,
        }
        if cursor and cursor.get("uidvalidity") == uidvalidity:
            unchanged = cursor.get("uidnext") == uidnext and cursor.get("messages") == messages
            if unchanged and (modseq is None or cursor.get("modseq") == modseq):
                return FolderChanges(cursor={**cursor, **fresh})
            return self._incremental(folder, cursor, fresh)
        return self._full(folder, fresh, reset=cursor is not None and bool(cursor))

    def _full(self, folder: SourceFolder, fresh: Cursor, *, reset: bool) -> FolderChanges:
        self._select(folder.key)
        uids = sorted(self._call("list", f"listing {folder.key!r}", "search", "ALL"))
        fresh["last_uid"] = uids[-1] if uids else 0
        return FolderChanges(cursor=fresh, reset=reset, new=self._describe(uids), present={str(u) for u in uids})

    def _incremental(self, folder: SourceFolder, cursor: Cursor, fresh: Cursor) -> FolderChanges:
        last_uid = int(cursor.get("last_uid", 0))
        old_modseq = cursor.get("modseq")
        qresync = self._qresync_ready(cursor, fresh) and last_uid > 0
        if qresync:  # RFC 7162: the SELECT itself answers what vanished and whose flags changed
            vanished, flags = self._call(
                "list", f"changes in {folder.key!r}", self._qresync_select, folder.key, cursor, last_uid
            )
            self._selected = (folder.key, False)
        else:
            self._select(folder.key)
        found = self._call("list", f"new mail in {folder.key!r}", "search", ["UID", f"{last_uid + 1}:*"])
        new_uids = sorted(u for u in found if u > last_uid)  # "n:*" always includes the highest UID
        changes = FolderChanges(cursor={**fresh, "last_uid": max([last_uid, *new_uids])})
        changes.new = self._describe(new_uids)
        if qresync:
            changes.vanished = {str(uid) for uid in vanished}
            changes.flag_changes = {str(uid): value for uid, value in flags.items() if uid not in vanished}
            return changes
        if old_modseq and fresh.get("modseq") and fresh["modseq"] != old_modseq and last_uid:
            criteria = ["UID", f"1:{last_uid}", "MODSEQ", str(int(old_modseq) + 1)]
            touched = sorted(self._call("list", f"changed mail in {folder.key!r}", "search", criteria))
            changed: dict[int, dict[bytes, Any]] = {}
            for chunk in _chunks([u for u in touched if u <= last_uid], 1000):
                changed.update(self._call("list", f"changed flags in {folder.key!r}", "fetch", chunk, ["FLAGS"]))
            changes.flag_changes = {str(uid): _flags(data.get(b"FLAGS")) for uid, data in changed.items()}
        if int(fresh["messages"]) != int(cursor.get("messages", 0)) + len(new_uids):
            uids = self._call("list", f"listing {folder.key!r}", "search", "ALL")
            changes.present = {str(u) for u in uids}
        return changes

    def _qresync_ready(self, cursor: Cursor, fresh: Cursor) -> bool:
        return bool("QRESYNC" in self.capabilities and cursor.get("modseq") and fresh.get("modseq"))

    def _qresync_select(
        self, client: Any, name: str, cursor: Cursor, last_uid: int
    ) -> tuple[set[int], dict[int, frozenset[str]]]:
        """``EXAMINE name (QRESYNC (uidvalidity modseq 1:last_uid))``: the UIDs that vanished and the
        new flags of known messages changed since ``modseq``.

        imapclient's select_folder takes no parameters, so the command goes through imaplib, whose
        SELECT bookkeeping is repeated here; the FETCH lines are parsed with imapclient's parser.
        """
        imap = client._imap
        imap.untagged_responses = {}
        imap.is_readonly = True
        qresync = f"(QRESYNC ({int(cursor['uidvalidity'])} {int(cursor['modseq'])} 1:{last_uid}))"
        typ, data = imap._simple_command("EXAMINE", client._normalise_folder(name), qresync)
        if typ != "OK":
            imap.state = "AUTH"
            raise IMAPClientError(f"EXAMINE with QRESYNC failed: {_text(data[-1] if data else typ)}")
        imap.state = "SELECTED"
        vanished: set[int] = set()
        for line in imap.untagged_responses.pop("VANISHED", []):
            text = _text(line)
            if text.upper().startswith("(EARLIER)"):
                vanished |= _uid_set(text[len("(EARLIER)") :])
        flags: dict[int, frozenset[str]] = {}
        fetched = [line for line in imap.untagged_responses.pop("FETCH", []) if line]
        if fetched:
            for uid, item in parse_fetch_response(fetched, normalise_times=False, uid_is_key=True).items():
                if uid <= last_uid and b"FLAGS" in item:
                    flags[uid] = _flags(item[b"FLAGS"])
        return vanished, flags

    def _describe(self, uids: Sequence[int]) -> list[RemoteMessage]:
        described = []
        for chunk in _chunks(uids, 500):
            data = self._call("list", "describing messages", "fetch", chunk, DESCRIBE)
            for uid in chunk:
                item = data.get(uid)
                if item is None:  # expunged meanwhile
                    continue
                described.append(
                    RemoteMessage(
                        id=str(uid),
                        size=int(item[b"RFC822.SIZE"]) if b"RFC822.SIZE" in item else None,
                        internal_date=_utc(item.get(b"INTERNALDATE")),
                        flags=_flags(item.get(b"FLAGS")),
                        message_id=_message_id(item.get(MESSAGE_ID_FIELD)),
                    )
                )
        return described

    # --- bytes -----------------------------------------------------------------------------------

    def fetch(self, folder: SourceFolder, messages: Sequence[RemoteMessage]) -> Iterator[tuple[RemoteMessage, bytes]]:
        self._select(folder.key)
        batch: list[RemoteMessage] = []
        size = 0
        for message in messages:
            batch.append(message)
            size += message.size or 0
            if size >= self.fetch_batch_bytes or len(batch) >= 200:
                yield from self._fetch_batch(folder, batch)
                batch, size = [], 0
        if batch:
            yield from self._fetch_batch(folder, batch)

    def _fetch_batch(self, folder: SourceFolder, batch: list[RemoteMessage]) -> Iterator[tuple[RemoteMessage, bytes]]:
        uids = [int(m.id) for m in batch]
        data = self._call("fetch", f"fetching from {folder.key!r}", "fetch", uids, ["BODY.PEEK[]"])
        for message in batch:
            raw = data.get(int(message.id), {}).get(b"BODY[]")
            if isinstance(raw, bytes):
                yield message, raw

    # --- deleting --------------------------------------------------------------------------------

    def delete(self, folder: SourceFolder, ids: Sequence[str]) -> list[str]:
        """Flag exactly these UIDs \\Deleted and expunge only them.

        With UIDPLUS that is ``UID EXPUNGE``. Without it a plain EXPUNGE would also remove any
        message someone else flagged \\Deleted, so it is done only when no other message in the
        folder carries the flag; otherwise the messages stay flagged and nothing is reported removed.
        """
        if not ids:
            return []
        uids = sorted(int(i) for i in ids)
        self._select(folder.key, writable=True)
        uidplus = "UIDPLUS" in self.capabilities
        if not uidplus:
            flagged = set(self._call("delete", "checking \\Deleted flags", "search", "DELETED"))
            if flagged - set(uids):  # someone else's deleted mail: a plain EXPUNGE would take it too
                return []
        self._call("delete", f"flagging messages in {folder.key!r}", "add_flags", uids, [imapclient.DELETED], True)
        if uidplus:
            self._call("delete", f"expunging in {folder.key!r}", "uid_expunge", uids)
        else:
            self._call("delete", f"expunging in {folder.key!r}", "expunge", retry=False)  # re-check first
        remaining = set(self._call("delete", "checking the result", "search", ["UID", ",".join(map(str, uids))]))
        self._status.pop(folder.key, None)
        return [str(uid) for uid in uids if uid not in remaining]
