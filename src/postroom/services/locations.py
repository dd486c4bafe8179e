"""Locations: stored, searched, edited and deleted.

The rules are pure (``domain/location.py``); this module adds what needs the database: names
unique per tenant (case-insensitively) and one location per folder — two locations with the same
sync path (compared normalised, ignoring case where Windows does) would file every message twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from postroom.db.models import Location
from postroom.domain.location import FileFormat, LocationSettings, validate_location
from postroom.domain.naming import is_storable, like_contains_pattern, name_key
from postroom.errors import Conflict, NameTaken
from postroom.services import lookup


def settings_of(location: Location) -> LocationSettings:
    return LocationSettings(
        name=location.name,
        sync_path=location.sync_path,
        format=FileFormat(location.format),
        naming_template=location.naming_template,
        enabled=location.enabled,
    )


def _path_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _check_free(session: Session, tenant_id: str, settings: LocationSettings, own_id: str | None = None) -> None:
    clash = session.scalar(
        select(Location).where(Location.tenant_id == tenant_id, Location.name_key == name_key(settings.name))
    )
    if clash is not None and clash.id != own_id:
        raise NameTaken("location", settings.name)
    key = settings.path.key
    same_folder = session.scalar(
        select(Location).where(Location.tenant_id == tenant_id, Location.sync_path_hash == _path_hash(key))
    )
    if same_folder is not None and same_folder.id != own_id:
        raise Conflict(
            f"the sync path is the folder of location {same_folder.name!r} ({same_folder.sync_path}); "
            "two locations with one folder would file every message twice: use that location or another folder"
        )


def _store(location: Location, settings: LocationSettings) -> None:
    key = settings.path.key
    location.name = settings.name
    location.name_key = name_key(settings.name)
    location.sync_path = settings.sync_path
    location.sync_path_key = key
    location.sync_path_hash = _path_hash(key)
    location.format = settings.format.value
    location.naming_template = settings.naming_template
    location.enabled = settings.enabled


def create_location(session: Session, tenant_id: str, raw: Mapping[str, object]) -> Location:
    settings = validate_location(raw)
    _check_free(session, tenant_id, settings)
    location = Location(tenant_id=tenant_id)
    _store(location, settings)
    session.add(location)
    session.flush()
    return location


def get_location(session: Session, tenant_id: str, key: str) -> Location:
    """A location of the tenant by ID (case-insensitive) or exact name (case-insensitive)."""
    return lookup.get(session, Location, tenant_id, key, "location")


def update_location(session: Session, tenant_id: str, key: str, changes: Mapping[str, object]) -> Location:
    """Change the fields given; the result must pass the same rules as a new location."""
    location = get_location(session, tenant_id, key)
    settings = validate_location(changes, settings_of(location))
    _check_free(session, tenant_id, settings, location.id)
    _store(location, settings)
    session.flush()
    return location


def delete_location(session: Session, tenant_id: str, key: str) -> None:
    session.delete(get_location(session, tenant_id, key))
    session.flush()


def search_locations(session: Session, tenant_id: str, query: str | None = None) -> list[Location]:
    """Name case-insensitively *contains* ``query``, or ID case-insensitively *equals* it."""
    stmt = select(Location).where(Location.tenant_id == tenant_id).order_by(Location.name_key)
    if query and not is_storable(query):
        return []  # no name or ID contains it
    if query and query.strip():
        stmt = stmt.where(
            Location.name_key.like(like_contains_pattern(query), escape="\\") | (Location.id == query.strip().lower())
        )
    return list(session.scalars(stmt))


def location_to_dict(location: Location) -> dict[str, Any]:
    settings = settings_of(location)
    path = settings.path
    return {
        "id": location.id,
        **settings.to_dict(),
        "sync_path_kind": path.kind.value,
        "sync_path_normalised": path.normalised,
        "created_at": location.created_at.isoformat(),
        "updated_at": location.updated_at.isoformat(),
    }
