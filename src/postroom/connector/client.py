"""The connector's HTTP client: one method per route of ``/api/connector/v1/`` (decision 0004).

Every request carries ``Authorization: Bearer <license secret>`` and
``User-Agent: postroom-connector/<version>``; the fenced ones add ``Postroom-Fencing-Token``.
Errors are translated here, at the edge (:func:`error_for` for answers, :func:`unreachable` for
transport failures), so the agent only ever sees :mod:`postroom.errors` and
:mod:`postroom.connector.errors`:

=====================================  ==========================================
the server answers                     raised
=====================================  ==========================================
401 ``LicenseRevoked``                 :class:`~postroom.errors.LicenseRevoked`
401 (anything else)                    :class:`~postroom.errors.NotAuthenticated`
409 ``LeaseHeld`` / ``LeaseLost``      :class:`~postroom.errors.LeaseHeld` / ``LeaseLost``
404 on a message                       :class:`~postroom.errors.NotFound`
5xx, 429; DNS, TCP, TLS, timeouts      :class:`ServerUnreachable`
anything else unexpected               :class:`ProtocolError`
=====================================  ==========================================

A message is streamed into a :class:`FetchedMessage` (memory up to 8 MiB, a temporary file
beyond), and its size and SHA-256 are checked against the claim and the
``Postroom-Content-SHA256`` header before anyone may write it.
"""

from __future__ import annotations

import hashlib
import json
import ssl
import tempfile
from collections.abc import Iterator, Sequence
from typing import IO, Any

import httpx

from postroom import __version__
from postroom.connector.errors import ProtocolError, ServerUnreachable
from postroom.connector.protocol import (
    Config,
    Delivery,
    DeliveryResult,
    Grant,
    Hello,
    ResultStatus,
    parse_claim,
    parse_config,
    parse_grant,
    parse_hello,
    parse_statuses,
)
from postroom.domain.connector import License
from postroom.errors import (
    Conflict,
    LeaseHeld,
    LeaseLost,
    LicenseRevoked,
    NotAuthenticated,
    NotFound,
    PostroomError,
)

__all__ = ["API", "USER_AGENT", "ConnectorClient", "FetchedMessage", "error_for", "unreachable"]

API = "/api/connector/v1"
USER_AGENT = f"postroom-connector/{__version__}"
FENCING_HEADER = "Postroom-Fencing-Token"
SHA256_HEADER = "Postroom-Content-SHA256"
MAX_CLAIM = 500
MAX_RESULTS = 500
MAX_FETCH = 100  # deliveries per batched fetch (the server's limit)
_SPOOL_BYTES = 8 << 20
_CHUNK = 1 << 16


def error_for(status: int, body: bytes, what: str) -> PostroomError:
    """The error an answer with ``status`` and ``body`` (``{"error", "message"}``) means for ``what``."""
    kind, message = "", ""
    try:
        document = json.loads(body)
        if isinstance(document, dict):
            kind, message = str(document.get("error") or ""), str(document.get("message") or "")
    except ValueError:
        message = body[:200].decode("utf-8", "replace").strip()
    said = message or kind or f"HTTP {status}"
    if status == 401:
        if kind == "LicenseRevoked":
            return LicenseRevoked(f"the server refused the license: {said}")
        return NotAuthenticated(f"the server did not accept the license: {said}")
    if status == 409 and kind == "LeaseHeld":
        return LeaseHeld(said)
    if status == 409 and kind == "LeaseLost":
        return LeaseLost(said)
    if status == 409:
        return Conflict(said)
    if status >= 500 or status == 429:
        return ServerUnreachable(f"the server failed to answer {what} (HTTP {status}: {said})")
    if status == 404 and kind:
        return NotFound("delivery", said)
    if status == 404:
        return ProtocolError(
            f"the server has no {what} (HTTP 404): check server_url in the license, "
            "and that the server is a Postroom version with the connector API v1"
        )
    return ProtocolError(f"the server refused {what} (HTTP {status} {kind}: {said})")


def unreachable(exc: httpx.TransportError, url: str) -> ServerUnreachable:
    """A transport failure explained in a user's terms: name resolution, connection, TLS, timeout."""
    text = str(exc) or type(exc).__name__
    causes = []
    cause: BaseException | None = exc
    while cause is not None:
        causes.append(cause)
        cause = cause.__cause__ or cause.__context__
    if any(isinstance(c, ssl.SSLCertVerificationError) for c in causes) or "CERTIFICATE_VERIFY_FAILED" in text:
        what = "the server's TLS certificate is not trusted here (install the issuing CA, or check the URL)"
    elif any(isinstance(c, ssl.SSLError) for c in causes) or "SSL" in text:
        what = "the TLS handshake failed (is it an https:// server on that port?)"
    elif isinstance(exc, httpx.TimeoutException):
        what = "the server did not answer in time (a firewall dropping packets, or an overloaded server)"
    elif "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        what = "the server's host name does not resolve (check server_url in the license and DNS)"
    elif "Connection refused" in text:
        what = "the connection was refused (nothing listens there: check the URL's host and port)"
    elif isinstance(exc, httpx.ConnectError):
        what = "no connection could be made (network, firewall or proxy)"
    else:
        what = "the connection failed"
    return ServerUnreachable(f"cannot reach {url}: {what} ({text})")


class FetchedMessage:
    """A message's bytes held for writing: in memory when small, in a temporary file otherwise."""

    def __init__(self, spool: IO[bytes], size: int, sha256: str) -> None:
        self._spool = spool
        self.size = size
        self.sha256 = sha256

    def chunks(self) -> Iterator[bytes]:
        self._spool.seek(0)
        while block := self._spool.read(1 << 20):
            yield block

    def read(self) -> bytes:
        self._spool.seek(0)
        return self._spool.read()

    def close(self) -> None:
        self._spool.close()


class ConnectorClient:
    """The server, as its connector sees it; thread-safe (messages are fetched from a pool)."""

    def __init__(
        self,
        license: License,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.license = license
        self.fencing_token: int | None = None
        self._http = httpx.Client(
            base_url=license.server_url + API,
            headers={"Authorization": f"Bearer {license.secret}", "User-Agent": USER_AGENT},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ConnectorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ plumbing

    def _fence(self) -> dict[str, str]:
        if self.fencing_token is None:
            raise LeaseLost("this connector holds no lease")
        return {FENCING_HEADER: str(self.fencing_token)}

    def _call(self, method: str, path: str, *, fenced: bool = False, body: Any = None) -> Any:
        what = f"{method} {path}"
        headers = self._fence() if fenced else {}
        try:
            response = self._http.request(method, path, headers=headers, json=body)
        except httpx.TransportError as exc:
            raise unreachable(exc, self.license.server_url) from exc
        if response.status_code >= 300:
            raise error_for(response.status_code, response.content, what)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ProtocolError(
                f"the server's answer to {what} is not JSON (is server_url a Postroom server?)"
            ) from None

    # ------------------------------------------------------------ routes

    def hello(self) -> Hello:
        return parse_hello(self._call("GET", "/hello"))

    def acquire(self, instance_id: str, host: str) -> Grant:
        """Take the tenant's lease (409 :class:`LeaseHeld` naming the holder); remember its token."""
        grant = parse_grant(
            self._call("POST", "/lease", body={"instance_id": instance_id, "host": host, "version": __version__})
        )
        self.fencing_token = grant.fencing_token
        return grant

    def heartbeat(self, backlog_local: int | None = None) -> str:
        """Renew the lease; its new expiry (as the server wrote it)."""
        body = {} if backlog_local is None else {"backlog_local": backlog_local}
        answer = self._call("POST", "/heartbeat", fenced=True, body=body)
        return str(answer.get("expires_at", "")) if isinstance(answer, dict) else ""

    def release(self) -> None:
        """Give the lease back so a successor need not wait for it to expire."""
        if self.fencing_token is None:
            return
        self._call("DELETE", "/lease", fenced=True)
        self.fencing_token = None

    def config(self) -> Config:
        return parse_config(self._call("GET", "/config"))

    def claim(self, limit: int) -> list[Delivery]:
        return parse_claim(
            self._call("POST", "/deliveries/claim", fenced=True, body={"limit": max(1, min(limit, MAX_CLAIM))})
        )

    def report(self, results: Sequence[DeliveryResult]) -> dict[str, ResultStatus]:
        """Send results (in requests of at most 500); each delivery's status by ID."""
        statuses: dict[str, ResultStatus] = {}
        for start in range(0, len(results), MAX_RESULTS):
            batch = [r.to_json() for r in results[start : start + MAX_RESULTS]]
            statuses |= parse_statuses(self._call("POST", "/deliveries/results", fenced=True, body={"results": batch}))
        return statuses

    def fetch(self, delivery: Delivery) -> FetchedMessage:
        """The delivery's EML bytes, checked against the claim's size and SHA-256."""
        path = f"/deliveries/{delivery.id}/message"
        what = f"GET {path}"
        spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 (handed on)
        try:
            with self._http.stream("GET", path, headers=self._fence()) as response:
                if response.status_code >= 300:
                    raise error_for(response.status_code, response.read(), what)
                size, digest = self._receive(response, spool, delivery)
            self._check(response, delivery, size, digest)
        except httpx.TransportError as exc:
            spool.close()
            raise unreachable(exc, self.license.server_url) from exc
        except BaseException:
            spool.close()
            raise
        return FetchedMessage(spool, size, digest)

    def fetch_many(self, deliveries: Sequence[Delivery]) -> list[FetchedMessage | PostroomError]:
        """The EML bytes of several deliveries in one request, in their order, each checked like
        :meth:`fetch`'s; a delivery the server has no bytes for is its error in its place
        (:class:`NotFound`, :class:`Conflict`, or :class:`ProtocolError` for a broken part)."""
        path = "/deliveries/messages"
        what = f"POST {path}"
        got: list[FetchedMessage | PostroomError] = []
        try:
            with self._http.stream(
                "POST", path, headers=self._fence(), json={"ids": [d.id for d in deliveries[:MAX_FETCH]]}
            ) as response:
                if response.status_code >= 300:
                    raise error_for(response.status_code, response.read(), what)
                frames = _Frames(response.iter_bytes(_CHUNK), what)
                for delivery in deliveries[:MAX_FETCH]:
                    got.append(self._part(frames, delivery, what))
                end = frames.header()
                if end.get("end") is not True or end.get("count") != len(got):
                    raise ProtocolError(f"the server's answer to {what} does not end as the protocol says: {end}")
        except httpx.TransportError as exc:
            _close(got)
            raise unreachable(exc, self.license.server_url) from exc
        except BaseException:
            _close(got)
            raise
        return got

    @staticmethod
    def _part(frames: _Frames, delivery: Delivery, what: str) -> FetchedMessage | PostroomError:
        header = frames.header()
        if header.get("id") != delivery.id:
            raise ProtocolError(f"the server's answer to {what} has {header.get('id')!r} where {delivery.id} belongs")
        error = header.get("error")
        if isinstance(error, dict):
            status = error.get("status")
            return error_for(status if isinstance(status, int) else 500, json.dumps(error).encode(), what)
        size, sha256 = header.get("size"), str(header.get("sha256", "")).lower()
        if not isinstance(size, int) or size < 0:
            raise ProtocolError(f"the server's answer to {what} gives delivery {delivery.id} no size")
        spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 (handed on)
        try:
            digest = frames.copy(size, spool)
        except BaseException:
            spool.close()
            raise
        if size != delivery.size or digest != delivery.sha256 or sha256 != digest:
            spool.close()
            return ProtocolError(
                f"the message of delivery {delivery.id} arrived with {size} bytes hashing to {digest}, "
                f"not the {delivery.size} bytes hashing to {delivery.sha256} claimed: a broken transfer"
            )
        return FetchedMessage(spool, size, digest)

    @staticmethod
    def _receive(response: httpx.Response, spool: IO[bytes], delivery: Delivery) -> tuple[int, str]:
        digest, size = hashlib.sha256(), 0
        for chunk in response.iter_bytes(_CHUNK):
            size += len(chunk)
            if size > delivery.size:
                raise ProtocolError(
                    f"the server sent more than the {delivery.size} bytes claimed for delivery {delivery.id}"
                )
            digest.update(chunk)
            spool.write(chunk)
        return size, digest.hexdigest()

    @staticmethod
    def _check(response: httpx.Response, delivery: Delivery, size: int, digest: str) -> None:
        encoded = "Content-Encoding" in response.headers  # then Content-Length counts the encoded bytes
        length = None if encoded else response.headers.get("Content-Length")
        header_sha = response.headers.get(SHA256_HEADER, "").lower()
        if size != delivery.size or (length is not None and length.isdigit() and int(length) != size):
            raise ProtocolError(
                f"the message of delivery {delivery.id} arrived with {size} bytes, "
                f"not the {delivery.size} claimed (Content-Length {length}): a broken transfer"
            )
        if digest != delivery.sha256 or (header_sha and header_sha != digest):
            raise ProtocolError(
                f"the message of delivery {delivery.id} hashes to {digest}, not {delivery.sha256}: a broken transfer"
            )


def _close(got: Sequence[FetchedMessage | PostroomError]) -> None:
    for item in got:
        if isinstance(item, FetchedMessage):
            item.close()


class _Frames:
    """Reads the framed stream of ``POST deliveries/messages``: JSON header lines and exact byte runs."""

    MAX_LINE = 64 * 1024

    def __init__(self, chunks: Iterator[bytes], what: str) -> None:
        self._chunks = chunks
        self._buffer = b""
        self._what = what

    def _more(self) -> None:
        chunk = next(self._chunks, None)
        if chunk is None:
            raise ProtocolError(f"the server's answer to {self._what} stopped short: a broken transfer")
        self._buffer += chunk

    def header(self) -> dict[str, Any]:
        while (end := self._buffer.find(b"\n")) < 0:
            if len(self._buffer) > self.MAX_LINE:
                raise ProtocolError(f"the server's answer to {self._what} has an over-long header line")
            self._more()
        line, self._buffer = self._buffer[:end], self._buffer[end + 1 :]
        try:
            document = json.loads(line)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise ProtocolError(f"the server's answer to {self._what} has a header that is not a JSON object")
        return document

    def copy(self, size: int, sink: IO[bytes]) -> str:
        """Move the next ``size`` bytes into ``sink``; their SHA-256."""
        digest = hashlib.sha256()
        left = size
        while left:
            if not self._buffer:
                self._more()
            piece = self._buffer[:left] if len(self._buffer) > left else self._buffer
            self._buffer = self._buffer[len(piece) :]
            digest.update(piece)
            sink.write(piece)
            left -= len(piece)
        return digest.hexdigest()
