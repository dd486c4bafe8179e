"""Folder-synchronization profiles: stored, searched, edited and deleted under seed 002's rules.

The rules themselves are pure (``domain/profile.py``); this module adds what needs the database:
unique names per tenant, references to secrets and directory services, and the schedules that
keep a profile from being deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from postroom.db.models import DirectoryService, Profile, Schedule, Secret
from postroom.domain.naming import is_storable, like_contains_pattern, name_key
from postroom.domain.profile import ProfileSettings, allowed_secret_kinds, apply_changes, validate_new_profile
from postroom.errors import FieldError, InUse
from postroom.services import lookup
from postroom.services.secrets import check_kind

_COLUMNS = ("name", "type", "mode", "secret_id", "directory_service_id")


def _resolve_references(
    session: Session, tenant_id: str, raw: Mapping[str, object]
) -> tuple[dict[str, object], list[FieldError]]:
    """Turn secret and directory-service names into IDs; unknown ones become field errors."""
    values = dict(raw)
    errors: list[FieldError] = []
    for field, model, label in (
        ("secret_id", Secret, "secret"),
        ("directory_service_id", DirectoryService, "directory service"),
    ):
        error = lookup.resolve_reference(session, model, tenant_id, values, field, label)
        if error is not None:
            errors.append(error)
    return values, errors


def _check_secret_kind(session: Session, settings: ProfileSettings) -> None:
    needs = f"{settings.type.label} profiles need"
    check_kind(session, settings.secret_id, allowed_secret_kinds(settings.type), needs)


def _store(profile: Profile, settings: ProfileSettings) -> None:
    data = settings.to_dict()
    profile.name = settings.name
    profile.name_key = name_key(settings.name)
    profile.type = settings.type.value
    profile.mode = settings.mode.value
    profile.secret_id = settings.secret_id
    profile.directory_service_id = settings.directory_service_id
    profile.settings = {k: v for k, v in data.items() if k not in _COLUMNS and v is not None}


def settings_of(profile: Profile) -> ProfileSettings:
    """The validated settings of a stored profile."""
    raw: dict[str, object] = dict(profile.settings)
    raw.update({column: getattr(profile, column) for column in _COLUMNS})
    return validate_new_profile(raw, stored=True)


def create_profile(session: Session, tenant_id: str, raw: Mapping[str, object]) -> Profile:
    values, missing = _resolve_references(session, tenant_id, raw)
    settings = lookup.validated_with(missing, lambda: validate_new_profile(values))
    _check_secret_kind(session, settings)
    lookup.ensure_name_free(session, Profile, tenant_id, settings.name, "profile")
    profile = Profile(tenant_id=tenant_id)
    _store(profile, settings)
    session.add(profile)
    session.flush()
    return profile


def get_profile(session: Session, tenant_id: str, key: str) -> Profile:
    """A profile of the tenant by ID (case-insensitive) or exact name (case-insensitive)."""
    return lookup.get(session, Profile, tenant_id, key, "profile")


def update_profile(session: Session, tenant_id: str, key: str, changes: Mapping[str, object]) -> Profile:
    profile = get_profile(session, tenant_id, key)
    values, missing = _resolve_references(session, tenant_id, changes)
    current = settings_of(profile)
    settings = lookup.validated_with(missing, lambda: apply_changes(current, values))
    _check_secret_kind(session, settings)
    lookup.ensure_name_free(session, Profile, tenant_id, settings.name, "profile", profile.id)
    _store(profile, settings)
    session.flush()
    return profile


def schedules_using(session: Session, profile: Profile) -> list[Schedule]:
    return list(session.scalars(select(Schedule).where(Schedule.profile_id == profile.id).order_by(Schedule.name)))


def delete_profile(session: Session, tenant_id: str, key: str) -> None:
    profile = get_profile(session, tenant_id, key)
    schedules = schedules_using(session, profile)
    if schedules:
        names = ", ".join(repr(s.name) for s in schedules)
        raise InUse(
            f"profile {profile.name!r} is used by schedule {names}; delete the schedule first "
            "(a profile can only be deleted while no schedule uses it)"
        )
    session.delete(profile)
    session.flush()


def search_profiles(session: Session, tenant_id: str, query: str | None = None) -> list[Profile]:
    """Seed 002's implicit search: name case-insensitively *contains*, or ID case-insensitively *equals*."""
    stmt = select(Profile).where(Profile.tenant_id == tenant_id).order_by(Profile.name_key)
    if query and not is_storable(query):
        return []  # no name or ID contains it
    if query and query.strip():
        stmt = stmt.where(
            Profile.name_key.like(like_contains_pattern(query), escape="\\") | (Profile.id == query.strip().lower())
        )
    return list(session.scalars(stmt))


def profile_to_dict(session: Session, profile: Profile) -> dict[str, Any]:
    settings = settings_of(profile)
    data: dict[str, Any] = {"id": profile.id, **settings.to_dict()}
    secret = session.get(Secret, profile.secret_id) if profile.secret_id else None
    directory = session.get(DirectoryService, profile.directory_service_id) if profile.directory_service_id else None
    schedules = schedules_using(session, profile)
    data.update(
        type_label=settings.type.label,
        delete_policy_text=str(settings.delete_policy),
        secret_name=secret.name if secret else None,
        directory_service_name=directory.name if directory else None,
        schedules=[{"id": s.id, "name": s.name} for s in schedules],
        deletable=not schedules,
        created_at=profile.created_at.isoformat(),
        updated_at=profile.updated_at.isoformat(),
    )
    return data
