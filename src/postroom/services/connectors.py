"""Connectors on the server: their licenses, path roots and status (decision 0004).

A connector is created with a license (``Sync-license.lic``): the server keeps the secret's key
and SHA-256 only, so the file is shown once. Revoking a license ends its lease at once, and
every later request with it answers :class:`~postroom.errors.LicenseRevoked`. The status an
administrator sees is what the connector last said (host, version, when), whether it holds the
tenant's lease, and how the tenant's deliveries stand per location.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from postroom.config import Settings
from postroom.db.models import Connector, ConnectorLease, Filing, Location, Tenant
from postroom.db.types import utcnow
from postroom.domain.connector import License, new_secret, parse_secret
from postroom.domain.filing import FilingStatus
from postroom.domain.location import SyncPath
from postroom.domain.naming import clean_name, is_storable, name_key
from postroom.errors import FieldError, InvalidInput, LicenseRevoked, NotFound
from postroom.security.tokens import secret_matches
from postroom.services import lookup

MAX_PATH_ROOTS = 100
_SERVER_URL = re.compile(r"https?://[^/\s]+\S*")


@dataclass(frozen=True)
class RootText:
    """A path root as the administrator typed it: ``server`` (as locations name it) is ``local``."""

    server: str
    local: str


def license_server_url(settings: Settings, explicit: str | None = None) -> str:
    """The URL a new license names: ``explicit``, else ``public_url``, else ``http://HOST:PORT``."""
    url = (explicit or settings.public_url or f"http://{settings.host}:{settings.port}").strip()
    if not _SERVER_URL.fullmatch(url):
        raise InvalidInput(FieldError("server_url", "must start with http:// or https:// and name a host"))
    return url.rstrip("/")


def parse_root(text: str, field: str = "root") -> RootText:
    """``SERVER=LOCAL`` (as the CLI takes it) split at the last ``=``: the local side rarely has one."""
    server, sep, local = text.rpartition("=")
    if not sep or not server.strip() or not local.strip():
        raise InvalidInput(
            FieldError(field, f"write a path root as SERVER=LOCAL, e.g. '\\\\fs\\projects=/mnt/projects', not {text!r}")
        )
    return RootText(server.strip(), local.strip())


def validate_path_roots(roots: Sequence[RootText | dict[str, Any]]) -> list[dict[str, str]]:
    """The roots as stored (``[{"server", "local"}]``); one InvalidInput naming every bad one."""
    if len(roots) > MAX_PATH_ROOTS:
        raise InvalidInput(FieldError("path_roots", f"give at most {MAX_PATH_ROOTS} path roots"))
    problems: list[FieldError] = []
    stored: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    for i, root in enumerate(roots):
        server, local = (
            (root.server, root.local) if isinstance(root, RootText) else (root.get("server"), root.get("local"))
        )
        try:
            server_path = SyncPath.parse(server, f"path_roots[{i}].server")
            SyncPath.parse(local, f"path_roots[{i}].local")
        except InvalidInput as exc:
            problems.extend(exc.errors)
            continue
        assert isinstance(server, str) and isinstance(local, str)
        if server_path.key in seen:
            problems.append(
                FieldError(f"path_roots[{i}].server", f"is the same folder as path_roots[{seen[server_path.key]}]")
            )
            continue
        seen[server_path.key] = i
        stored.append({"server": server.strip(), "local": local.strip()})
    if problems:
        raise InvalidInput(problems)
    return stored


def _validate(name: object, path_roots: Sequence[RootText | dict[str, Any]]) -> tuple[str, list[dict[str, str]]]:
    """The cleaned name and stored roots; one InvalidInput naming every bad field of both."""
    problems: list[FieldError] = []
    cleaned, roots = "", []
    try:
        cleaned = clean_name(name)
    except InvalidInput as exc:
        problems += exc.errors
    try:
        roots = validate_path_roots(path_roots)
    except InvalidInput as exc:
        problems += exc.errors
    if problems:
        raise InvalidInput(problems)
    return cleaned, roots


def create_connector(
    session: Session,
    tenant: Tenant,
    name: str,
    path_roots: Sequence[RootText | dict[str, Any]],
    created_by: str,
    server_url: str,
) -> tuple[Connector, str]:
    """A new connector of ``tenant`` and the text of its license file (its secret is in no other place)."""
    name, roots = _validate(name, path_roots)
    lookup.ensure_name_free(session, Connector, tenant.id, name, "connector")
    secret = new_secret()
    connector = Connector(
        tenant_id=tenant.id,
        name=name,
        name_key=name_key(name),
        key=secret.token_id,
        secret_hash=secret.secret_hash,
        path_roots=roots,
        created_by=created_by[:254],
        created_at=utcnow(),
    )
    session.add(connector)
    session.flush()
    text = License(
        server_url=server_url.rstrip("/"),
        tenant=tenant.name,
        connector_id=connector.id,
        name=connector.name,
        issued_at=connector.created_at.isoformat(),
        secret=secret.plaintext,
    ).to_text()
    return connector, text


def list_connectors(session: Session, tenant_id: str) -> list[Connector]:
    return list(session.scalars(select(Connector).where(Connector.tenant_id == tenant_id).order_by(Connector.name_key)))


def get_connector(session: Session, tenant_id: str, key: str) -> Connector:
    """A connector of the tenant by ID, license key or name (all case-insensitive)."""
    key = key.strip()
    if not is_storable(key):
        raise NotFound("connector", key)
    connector = session.scalar(
        select(Connector).where(
            Connector.tenant_id == tenant_id,
            (Connector.id == key.lower()) | (Connector.key == key.lower()) | (Connector.name_key == name_key(key)),
        )
    )
    if connector is None:
        raise NotFound("connector", key)
    return connector


def update_connector(
    session: Session,
    tenant_id: str,
    key: str,
    *,
    name: str | None = None,
    path_roots: Sequence[RootText | dict[str, Any]] | None = None,
) -> Connector:
    """Rename a connector or replace its path roots (the connector reads them from ``/config``)."""
    connector = get_connector(session, tenant_id, key)
    if name is not None:
        name = clean_name(name)
        lookup.ensure_name_free(session, Connector, tenant_id, name, "connector", connector.id)
        connector.name, connector.name_key = name, name_key(name)
    if path_roots is not None:
        connector.path_roots = validate_path_roots(path_roots)
    session.flush()
    return connector


def revoke_connector(session: Session, tenant_id: str, key: str) -> Connector:
    """Revoke the license (once; revoking again keeps the first date) and end its lease now."""
    connector = get_connector(session, tenant_id, key)
    now = utcnow()
    if connector.revoked_at is None:
        connector.revoked_at = now
    session.execute(
        update(ConnectorLease)
        .where(ConnectorLease.connector_id == connector.id, ConnectorLease.expires_at > now)
        .values(expires_at=now)
    )
    session.execute(update(Filing).where(Filing.claimed_by == connector.id).values(claimed_by=None, claimed_until=None))
    session.flush()
    return connector


def authenticate(session: Session, secret: str) -> Connector:
    """The connector whose license holds ``secret``; NotAuthenticated or LicenseRevoked otherwise."""
    key, plain = parse_secret(secret.strip())
    connector = session.scalar(select(Connector).where(Connector.key == key))
    if connector is None or not secret_matches(plain, connector.secret_hash):
        raise LicenseRevoked(
            "this connector's license is not known to this server (it was deleted with its tenant, or is for "
            "another server): create a new license with `postroom connector license create` and replace the file"
        )
    if connector.revoked_at is not None:
        raise LicenseRevoked(
            f"this connector's license was revoked on {connector.revoked_at:%Y-%m-%d %H:%M} UTC: create a new "
            "license with `postroom connector license create` and replace the file"
        )
    return connector


# --- status -------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def backlog(session: Session, tenant_id: str, now: datetime | None = None) -> dict[str, int]:
    """The tenant's deliveries still to do: ``pending``, retries ``due`` now and retries ``waiting``."""
    now = now or utcnow()
    retry = Filing.status.in_([FilingStatus.SKIPPED.value, FilingStatus.FAILED.value])
    due = retry & (Filing.next_attempt_at.is_(None) | (Filing.next_attempt_at <= now))
    row = session.execute(
        select(
            func.count(case((Filing.status == FilingStatus.PENDING.value, 1))),
            func.count(case((due, 1))),
            func.count(case((retry & ~due, 1))),
        ).where(Filing.tenant_id == tenant_id)
    ).one()
    return {"pending": int(row[0]), "retry_due": int(row[1]), "retry_waiting": int(row[2])}


def location_status(session: Session, tenant_id: str) -> list[dict[str, Any]]:
    """Per location of the tenant: how many filings are in each status, and the last error."""
    counts: dict[str, dict[str, int]] = {}
    for location_id, status, count in session.execute(
        select(Filing.location_id, Filing.status, func.count())
        .where(Filing.tenant_id == tenant_id)
        .group_by(Filing.location_id, Filing.status)
    ):
        counts.setdefault(location_id, {})[status] = int(count)
    rows = []
    for location in session.scalars(
        select(Location).where(Location.tenant_id == tenant_id).order_by(Location.name_key)
    ):
        last = session.execute(
            select(Filing.reason, Filing.updated_at)
            .where(
                Filing.location_id == location.id,
                Filing.status.in_([FilingStatus.SKIPPED.value, FilingStatus.FAILED.value]),
            )
            .order_by(Filing.updated_at.desc())
            .limit(1)
        ).first()
        mine = counts.get(location.id, {})
        rows.append(
            {
                "id": location.id,
                "name": location.name,
                "enabled": location.enabled,
                **{status.value: mine.get(status.value, 0) for status in FilingStatus},
                "last_error": last[0] if last else None,
                "last_error_at": _iso(last[1]) if last else None,
            }
        )
    return rows


def connector_to_dict(
    session: Session, connector: Connector, *, now: datetime | None = None, locations: bool = False
) -> dict[str, Any]:
    """What an administrator sees of a connector: its license, what it last said, its lease and backlog."""
    now = now or utcnow()
    lease = session.scalar(
        select(ConnectorLease).where(
            ConnectorLease.connector_id == connector.id,
            ConnectorLease.expires_at > now,
        )
    )
    data: dict[str, Any] = {
        "id": connector.id,
        "key": connector.key,
        "name": connector.name,
        "path_roots": connector.path_roots,
        "created_at": _iso(connector.created_at),
        "created_by": connector.created_by,
        "revoked_at": _iso(connector.revoked_at),
        "last_seen_at": _iso(connector.last_seen_at),
        "host": connector.host,
        "version": connector.version,
        "instance_id": connector.instance_id,
        "lease": None
        if lease is None
        else {
            "fencing_token": lease.fencing_token,
            "host": lease.host,
            "acquired_at": _iso(lease.acquired_at),
            "expires_at": _iso(lease.expires_at),
        },
        "backlog": backlog(session, connector.tenant_id, now),
    }
    if locations:
        data["locations"] = location_status(session, connector.tenant_id)
    return data
