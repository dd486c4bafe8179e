"""A small stateful stand-in for the server side of decision 0004, as an httpx transport.

For the agent's unit tests, where faults are wanted on demand (the end-to-end tests use the real
server): it keeps deliveries, a lease with a fencing token, and the results it was sent. ``down``
makes every request fail to connect; a delivery in ``gone`` has no bytes (a 404 part), one in
``garbled`` arrives with other bytes than claimed.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx

SECRET = "prc_0123456789ab_" + "A" * 43


@dataclass
class FakeDelivery:
    id: str
    location_id: str
    raw: bytes
    facts: dict[str, Any]
    attempt: int = 0
    status: str = "pending"


@dataclass
class FakeServer:
    locations: list[dict[str, Any]] = field(default_factory=list)
    path_roots: list[dict[str, str]] = field(default_factory=list)
    deliveries: dict[str, FakeDelivery] = field(default_factory=dict)
    results: list[dict[str, Any]] = field(default_factory=list)
    holder: dict[str, Any] | None = None
    token: int = 0
    revoked: bool = False
    down: bool = False
    requests: list[str] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)
    garbled: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, delivery_id: str, location_id: str, raw: bytes, **facts: Any) -> None:
        self.deliveries[delivery_id] = FakeDelivery(delivery_id, location_id, raw, facts)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        with self.lock:
            path = request.url.path.removeprefix("/api/connector/v1")
            self.requests.append(f"{request.method} {path}")
            if request.headers.get("Authorization") != f"Bearer {SECRET}":
                return _error(401, "NotAuthenticated", "unknown credential")
            if self.revoked:
                return _error(401, "LicenseRevoked", "the license was revoked")
            return self._route(request, path)

    def _fenced(self, request: httpx.Request) -> bool:
        return self.holder is not None and request.headers.get("Postroom-Fencing-Token") == str(self.token)

    def _route(self, request: httpx.Request, path: str) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        if path == "/hello":
            return httpx.Response(
                200,
                json={
                    "connector": {"id": "c1", "name": "fileserver", "tenant": "acme"},
                    "server_version": "test",
                    "lease_seconds": 60,
                    "poll_seconds": 30,
                    "lease": self.holder,
                },
            )
        if path == "/lease" and request.method == "POST":
            if self.holder is not None and self.holder["instance_id"] != body["instance_id"]:
                return _error(409, "LeaseHeld", f"connector 'other' on {self.holder['host']} holds the lease")
            self.token += 1
            self.holder = {
                "connector_id": "c1",
                "name": "fileserver",
                "instance_id": body["instance_id"],
                "host": body["host"],
            }
            return httpx.Response(200, json={"fencing_token": self.token, "expires_at": "later", "lease_seconds": 60})
        if path == "/config":
            return httpx.Response(200, json={"locations": self.locations, "path_roots": self.path_roots})
        if not self._fenced(request):
            return _error(409, "LeaseLost", "not the current lease")
        if path == "/lease" and request.method == "DELETE":
            self.holder = None
            return httpx.Response(204)
        if path == "/heartbeat":
            return httpx.Response(200, json={"expires_at": "later"})
        if path == "/deliveries/claim":
            due = [d for d in self.deliveries.values() if d.status == "pending"][: body["limit"]]
            for d in due:
                d.attempt += 1
                d.status = "claimed"
            return httpx.Response(200, json={"deliveries": [_claimed(d) for d in due]})
        if match := re.fullmatch(r"/deliveries/([^/]+)/message", path):
            d = self.deliveries[match[1]]
            headers = {"Postroom-Content-SHA256": hashlib.sha256(d.raw).hexdigest(), "Content-Type": "message/rfc822"}
            return httpx.Response(200, content=d.raw, headers=headers)
        if path == "/deliveries/messages":
            return httpx.Response(200, content=b"".join(self._parts(body["ids"])))
        if path == "/deliveries/results":
            statuses = []
            for result in body["results"]:
                self.results.append(result)
                d = self.deliveries.get(result["delivery_id"])
                if d is None:
                    statuses.append({"delivery_id": result["delivery_id"], "status": "unknown"})
                    continue
                d.status = result["outcome"]
                statuses.append({"delivery_id": d.id, "status": "applied"})
            return httpx.Response(200, json={"results": statuses})
        return _error(404, "NotFound", path)

    def _parts(self, ids: list[str]) -> list[bytes]:
        parts = []
        for delivery_id in ids:
            d = self.deliveries.get(delivery_id)
            if d is None or d.id in self.gone:
                error = {"status": 404, "error": "NotFound", "message": f"no delivery {delivery_id!r}"}
                parts.append(_line({"id": delivery_id, "error": error}))
                continue
            raw = d.raw.replace(b"a", b"b") if d.id in self.garbled else d.raw
            parts.append(_line({"id": d.id, "size": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}) + raw)
        return [*parts, _line({"end": True, "count": len(ids)})]


def _line(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode() + b"\n"


def _claimed(d: FakeDelivery) -> dict[str, Any]:
    message = {"sha256": hashlib.sha256(d.raw).hexdigest(), "size": len(d.raw), "facts": d.facts}
    return {"id": d.id, "attempt": d.attempt, "location_id": d.location_id, "message": message}


def _error(status: int, kind: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": kind, "message": message})
