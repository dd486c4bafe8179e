"""The HTTP client: headers, error mapping (a table), and checked message fetches."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from postroom.connector.client import USER_AGENT, ConnectorClient, error_for
from postroom.connector.errors import ProtocolError, ServerUnreachable
from postroom.connector.protocol import parse_claim
from postroom.domain.connector import License
from postroom.errors import Conflict, LeaseHeld, LeaseLost, LicenseRevoked, NotAuthenticated, NotFound


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (401, b'{"error": "LicenseRevoked", "message": "revoked"}', LicenseRevoked),
        (401, b'{"error": "NotAuthenticated", "message": "x"}', NotAuthenticated),
        (409, b'{"error": "LeaseHeld", "message": "connector fs2 on nas since 10:00"}', LeaseHeld),
        (409, b'{"error": "LeaseLost", "message": "expired"}', LeaseLost),
        (409, b'{"error": "Other", "message": "x"}', Conflict),
        (500, b"Internal Server Error", ServerUnreachable),
        (503, b"", ServerUnreachable),
        (429, b"", ServerUnreachable),
        (404, b'{"error": "NotFound", "message": "delivery d1"}', NotFound),
        (404, b"<html>not here</html>", ProtocolError),
        (400, b'{"error": "InvalidInput", "message": "limit"}', ProtocolError),
    ],
)
def test_error_mapping(status: int, body: bytes, kind: type[Exception]) -> None:
    error = error_for(status, body, "GET /hello")
    assert type(error) is kind


def test_lease_held_keeps_the_servers_words() -> None:
    assert (
        str(error_for(409, b'{"error": "LeaseHeld", "message": "connector fs2 on nas"}', "x")) == "connector fs2 on nas"
    )


def test_headers_and_fencing(license: License) -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/lease"):
            return httpx.Response(200, json={"fencing_token": 42, "expires_at": "x", "lease_seconds": 60})
        return httpx.Response(200, json={"expires_at": "y"})

    with ConnectorClient(license, transport=httpx.MockTransport(handle)) as client:
        with pytest.raises(LeaseLost):
            client.heartbeat()  # no lease yet: nothing is sent
        client.acquire("inst", "host")
        client.heartbeat(backlog_local=3)
    lease, beat = seen
    assert str(lease.url) == "http://postroom.test/api/connector/v1/lease"
    assert lease.headers["Authorization"] == f"Bearer {license.secret}"
    assert lease.headers["User-Agent"] == USER_AGENT
    assert "Postroom-Fencing-Token" not in lease.headers
    assert beat.headers["Postroom-Fencing-Token"] == "42"
    assert beat.content == b'{"backlog_local":3}'


def test_transport_errors_are_server_unreachable(license: License) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno -2] Name or service not known", request=request)

    with (
        ConnectorClient(license, transport=httpx.MockTransport(handle)) as client,
        pytest.raises(ServerUnreachable, match="does not resolve"),
    ):
        client.hello()


RAW = b"Subject: x\r\n\r\nbody\r\n"


def claim(sha256: str, size: int) -> dict[str, object]:
    message = {"sha256": sha256, "size": size, "facts": {"subject": "x"}}
    return {"deliveries": [{"id": "d1", "attempt": 1, "location_id": "L1", "message": message}]}


@pytest.mark.parametrize(
    ("sent", "header", "problem"),
    [
        (RAW, hashlib.sha256(RAW).hexdigest(), None),
        (RAW[:-1], None, "bytes"),
        (RAW.replace(b"x", b"y"), None, "hashes to"),
        (RAW + b"more", None, "more than"),
        (RAW, "0" * 64, "hashes to"),
    ],
)
def test_fetch_checks_size_and_hash(license: License, sent: bytes, header: str | None, problem: str | None) -> None:
    delivery = parse_claim(claim(hashlib.sha256(RAW).hexdigest(), len(RAW)))[0]
    headers = {"Postroom-Content-SHA256": header} if header else {}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=sent, headers=headers))
    with ConnectorClient(license, transport=transport) as client:
        client.fencing_token = 1
        if problem is None:
            message = client.fetch(delivery)
            assert message.read() == RAW and b"".join(message.chunks()) == RAW
            message.close()
        else:
            with pytest.raises(ProtocolError, match=problem):
                client.fetch(delivery)
