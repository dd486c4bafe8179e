"""The JSON of the connector protocol (decision 0004), parsed into typed values; pure, no I/O.

Each ``parse_*`` function takes a decoded JSON document and returns the value, or raises
:class:`ProtocolError` naming the field that is missing or has the wrong type: an answer this
connector cannot use says which server version to match rather than failing somewhere later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from postroom.connector.errors import ProtocolError
from postroom.domain.connector import Outcome, Reason
from postroom.domain.location import FileFormat, PathRoot, SyncPath
from postroom.errors import InvalidInput
from postroom.formats.naming import MessageNameFacts

__all__ = [
    "Config",
    "Delivery",
    "DeliveryResult",
    "Grant",
    "Hello",
    "LeaseHolder",
    "LocationConfig",
    "ResultStatus",
    "parse_claim",
    "parse_config",
    "parse_grant",
    "parse_hello",
    "parse_statuses",
]


def _object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"the server's answer has no {where} object")
    return value


def _text(document: dict[str, Any], name: str, where: str, *, default: str | None = None) -> str:
    value = document.get(name, default)
    if not isinstance(value, str):
        raise ProtocolError(f"the server's {where} has no text field {name!r}")
    return value


def _optional_text(document: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = document.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _int(document: dict[str, Any], name: str, where: str, *, default: int | None = None) -> int:
    value = document.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProtocolError(f"the server's {where} has no whole-number field {name!r}")
    return value


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 time as an aware datetime (a time without offset is UTC); None if absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.utcoffset() is not None else when.replace(tzinfo=UTC)


# ---------------------------------------------------------------- hello and the lease


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds the tenant's lease, as ``hello`` and a 409 ``LeaseHeld`` describe it."""

    connector_id: str | None = None
    name: str | None = None
    instance_id: str | None = None
    host: str | None = None
    since: str | None = None
    expires_at: str | None = None

    def describe(self) -> str:
        who = self.name or self.connector_id or "another connector"
        parts = [f"connector {who!r}"]
        if self.name and self.connector_id:
            parts[0] += f" ({self.connector_id})"
        if self.host:
            parts.append(f"on {self.host}")
        if self.since:
            parts.append(f"since {self.since}")
        if self.expires_at:
            parts.append(f"until {self.expires_at} unless renewed")
        return " ".join(parts)


def parse_holder(value: object) -> LeaseHolder | None:
    """The lease holder of ``hello``'s ``lease`` (its fields flat, or under ``holder``); None when free."""
    if not isinstance(value, dict):
        return None
    holder = value.get("holder") if isinstance(value.get("holder"), dict) else value
    assert isinstance(holder, dict)
    return LeaseHolder(
        connector_id=_optional_text(holder, "connector_id", "id"),
        name=_optional_text(holder, "connector_name", "name"),
        instance_id=_optional_text(holder, "instance_id"),
        host=_optional_text(holder, "host"),
        since=_optional_text(holder, "since", "granted_at") or _optional_text(value, "since", "granted_at"),
        expires_at=_optional_text(holder, "expires_at") or _optional_text(value, "expires_at"),
    )


@dataclass(frozen=True)
class Hello:
    connector_id: str
    connector_name: str
    tenant: str
    server_version: str
    lease_seconds: int
    poll_seconds: int
    lease: LeaseHolder | None


def parse_hello(document: object) -> Hello:
    body = _object(document, "hello")
    connector = _object(body.get("connector"), "connector")
    return Hello(
        connector_id=_text(connector, "id", "connector"),
        connector_name=_text(connector, "name", "connector", default=""),
        tenant=_text(connector, "tenant", "connector", default=""),
        server_version=_text(body, "server_version", "hello", default="unknown"),
        lease_seconds=_int(body, "lease_seconds", "hello", default=60),
        poll_seconds=_int(body, "poll_seconds", "hello", default=30),
        lease=parse_holder(body.get("lease")),
    )


@dataclass(frozen=True)
class Grant:
    fencing_token: int
    expires_at: str
    lease_seconds: int


def parse_grant(document: object) -> Grant:
    body = _object(document, "lease")
    return Grant(
        fencing_token=_int(body, "fencing_token", "lease"),
        expires_at=_text(body, "expires_at", "lease", default=""),
        lease_seconds=_int(body, "lease_seconds", "lease", default=60),
    )


# ---------------------------------------------------------------- config


@dataclass(frozen=True)
class LocationConfig:
    id: str
    name: str
    sync_path: str
    format: FileFormat
    naming_template: str
    enabled: bool = True


@dataclass(frozen=True)
class Config:
    """The tenant's locations by ID, and the path roots the server keeps for this connector."""

    locations: dict[str, LocationConfig]
    path_roots: tuple[PathRoot, ...] = ()
    problems: tuple[str, ...] = ()  # server path roots this connector could not read (logged)


def parse_root(server: object, local: object, where: str = "path root") -> PathRoot:
    """A path root; :class:`InvalidInput` naming ``where`` when a side is not a sync path."""
    return PathRoot(
        SyncPath.parse(server, field=f"{where} server side"), SyncPath.parse(local, field=f"{where} local side")
    )


def parse_config(document: object) -> Config:
    body = _object(document, "config")
    locations: dict[str, LocationConfig] = {}
    raw_locations = body.get("locations")
    if not isinstance(raw_locations, list):
        raise ProtocolError("the server's config has no list 'locations'")
    for raw in raw_locations:
        item = _object(raw, "location")
        format_name = _text(item, "format", "location", default="msg")
        try:
            file_format = FileFormat(format_name)
        except ValueError:
            raise ProtocolError(f"the server's location has format {format_name!r}, not eml or msg") from None
        location = LocationConfig(
            id=_text(item, "id", "location"),
            name=_text(item, "name", "location", default=""),
            sync_path=_text(item, "sync_path", "location"),
            format=file_format,
            naming_template=_text(item, "naming_template", "location", default="{date} {subject}"),
            enabled=bool(item.get("enabled", True)),
        )
        locations[location.id] = location
    roots, problems = [], []
    raw_roots = body.get("path_roots") or []
    for raw in raw_roots if isinstance(raw_roots, list) else []:
        item = _object(raw, "path root")
        try:
            roots.append(parse_root(item.get("server"), item.get("local"), "the server's path root"))
        except InvalidInput as exc:
            problems.append(str(exc))
    return Config(locations, tuple(roots), tuple(problems))


# ---------------------------------------------------------------- deliveries


@dataclass(frozen=True)
class Delivery:
    """One claimed filing: which attempt it is, where it goes, and the facts its name is made of."""

    id: str
    attempt: int
    location_id: str
    sha256: str
    size: int
    facts: MessageNameFacts

    @property
    def mtime(self) -> datetime | None:
        return self.facts.date or self.facts.received


def _facts(sha256: str, raw: object) -> MessageNameFacts:
    facts = raw if isinstance(raw, dict) else {}

    def text(name: str) -> str:
        value = facts.get(name)
        return value if isinstance(value, str) else ""

    return MessageNameFacts(
        content_sha256=sha256,
        date=parse_time(facts.get("date")),
        received=parse_time(facts.get("received")),
        subject=text("subject"),
        from_address=text("from_address"),
        from_name=text("from_name"),
        to=text("to"),
        folder=text("folder"),
        message_id=text("message_id") or None,
    )


def parse_claim(document: object) -> list[Delivery]:
    body = _object(document, "claim")
    raw_deliveries = body.get("deliveries")
    if not isinstance(raw_deliveries, list):
        raise ProtocolError("the server's claim has no list 'deliveries'")
    deliveries = []
    for raw in raw_deliveries:
        item = _object(raw, "delivery")
        message = _object(item.get("message"), "delivery message")
        sha256 = _text(message, "sha256", "delivery message").lower()
        try:
            facts = _facts(sha256, message.get("facts"))
        except ValueError as exc:
            raise ProtocolError(f"the server's delivery {item.get('id')!r} is unusable: {exc}") from None
        deliveries.append(
            Delivery(
                id=_text(item, "id", "delivery"),
                attempt=_int(item, "attempt", "delivery"),
                location_id=_text(item, "location_id", "delivery"),
                sha256=sha256,
                size=_int(message, "size", "delivery message"),
                facts=facts,
            )
        )
    return deliveries


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class DeliveryResult:
    """What became of one attempt at a delivery; the JSON form is what the journal keeps too."""

    delivery_id: str
    attempt: int
    outcome: Outcome
    path: str | None = None
    size: int | None = None
    sha256: str | None = None
    reason: Reason | None = None
    error: str | None = field(default=None)

    @property
    def key(self) -> tuple[str, int]:
        return self.delivery_id, self.attempt

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "delivery_id": self.delivery_id,
            "attempt": self.attempt,
            "outcome": str(self.outcome),
        }
        for name in ("path", "size", "sha256", "error"):
            value = getattr(self, name)
            if value is not None:
                document[name] = value
        if self.reason is not None:
            document["reason"] = str(self.reason)
        return document

    @classmethod
    def from_json(cls, document: object) -> DeliveryResult:
        """A result as :meth:`to_json` wrote it; ValueError/KeyError/TypeError when it is not one."""
        if not isinstance(document, dict):
            raise TypeError("a result is a JSON object")
        size = document.get("size")
        return cls(
            delivery_id=str(document["delivery_id"]),
            attempt=int(document["attempt"]),
            outcome=Outcome(document["outcome"]),
            path=document.get("path"),
            size=int(size) if size is not None else None,
            sha256=document.get("sha256"),
            reason=Reason(document["reason"]) if document.get("reason") else None,
            error=document.get("error"),
        )


class ResultStatus(StrEnum):
    APPLIED = "applied"  # the filing took this result
    UNCHANGED = "unchanged"  # already had it (a result sent twice)
    UNKNOWN = "unknown"  # no such delivery or attempt any more: nothing to keep it for


def parse_statuses(document: object) -> dict[str, ResultStatus]:
    """The server's answer to a results batch: each delivery's status, by delivery ID."""
    body = _object(document, "results")
    raw = body.get("results")
    if not isinstance(raw, list):
        raise ProtocolError("the server's answer to results has no list 'results'")
    statuses = {}
    for item in raw:
        entry = _object(item, "result status")
        try:
            statuses[_text(entry, "delivery_id", "result status")] = ResultStatus(str(entry.get("status")))
        except ValueError:
            raise ProtocolError(f"the server answered result status {entry.get('status')!r}") from None
    return statuses
