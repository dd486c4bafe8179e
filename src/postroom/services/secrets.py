"""Secrets: stored encrypted, shown only by their summary, never returned in clear."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from postroom.db.models import DirectoryService, Profile, Secret
from postroom.domain.naming import clean_name, is_storable, like_contains_pattern, name_key
from postroom.domain.secret import SecretKind, parse_secret
from postroom.errors import FieldError, InUse, InvalidInput
from postroom.security.keyring import SecretBox
from postroom.services import lookup


def check_kind(session: Session, secret_id: str | None, allowed: frozenset[SecretKind], needs: str) -> None:
    """The referenced secret is of an ``allowed`` kind; otherwise a ``secret_id`` field error
    saying ``needs`` ("IMAP profiles need", …) a secret of which kind, and what it is."""
    if secret_id is None:
        return
    secret = session.get(Secret, secret_id)
    assert secret is not None
    if SecretKind(secret.kind) not in allowed:
        names = " or ".join(sorted(k.label for k in allowed))
        raise InvalidInput(
            FieldError(
                "secret_id", f"{needs} a secret of kind {names}; {secret.name!r} is {SecretKind(secret.kind).label}"
            )
        )


def create_secret(
    session: Session, box: SecretBox, tenant_id: str, name: str, kind: str, values: Mapping[str, object]
) -> Secret:
    errors: list[FieldError] = []
    try:
        name = clean_name(name)
    except InvalidInput as exc:
        errors += exc.errors
    try:
        parsed = parse_secret(kind, values)
    except InvalidInput as exc:
        raise InvalidInput(errors + exc.errors) from None
    if errors:
        raise InvalidInput(errors)
    lookup.ensure_name_free(session, Secret, tenant_id, name, "secret")
    secret = Secret(
        tenant_id=tenant_id,
        name=name,
        name_key=name_key(name),
        kind=parsed.kind.value,
        ciphertext=box.encrypt(parsed.payload),
        summary=parsed.summary,
        expires_at=parsed.expires_at,
    )
    session.add(secret)
    session.flush()
    return secret


def get_secret(session: Session, tenant_id: str, key: str) -> Secret:
    """A secret of the tenant by ID or (case-insensitive) name."""
    return lookup.get(session, Secret, tenant_id, key, "secret")


def update_secret(
    session: Session,
    box: SecretBox,
    tenant_id: str,
    key: str,
    *,
    name: str | None = None,
    values: Mapping[str, object] | None = None,
) -> Secret:
    """Rename a secret and/or replace its values (the kind stays; all values are given again)."""
    secret = get_secret(session, tenant_id, key)
    if name is not None:
        new_name = clean_name(name)
        lookup.ensure_name_free(session, Secret, tenant_id, new_name, "secret", secret.id)
        secret.name, secret.name_key = new_name, name_key(new_name)
    if values is not None:
        parsed = parse_secret(secret.kind, values)
        secret.ciphertext = box.encrypt(parsed.payload)
        secret.summary = parsed.summary
        secret.expires_at = parsed.expires_at
    session.flush()
    return secret


def delete_secret(session: Session, tenant_id: str, key: str) -> None:
    secret = get_secret(session, tenant_id, key)
    users = [p.name for p in session.scalars(select(Profile).where(Profile.secret_id == secret.id))]
    users += [d.name for d in session.scalars(select(DirectoryService).where(DirectoryService.secret_id == secret.id))]
    if users:
        raise InUse(f"secret {secret.name!r} is used by {', '.join(sorted(users))}; change those first")
    session.delete(secret)
    session.flush()


def list_secrets(session: Session, tenant_id: str, search: str | None = None) -> list[Secret]:
    query = select(Secret).where(Secret.tenant_id == tenant_id).order_by(Secret.name_key)
    if search and not is_storable(search):
        return []  # no name or ID contains it
    if search and search.strip():
        query = query.where(
            Secret.name_key.like(like_contains_pattern(search), escape="\\") | (Secret.id == search.strip().lower())
        )
    return list(session.scalars(query))


def reveal(box: SecretBox, secret: Secret) -> dict[str, Any]:
    """The decrypted values, for the code that connects to a mail system. Never for display."""
    return box.decrypt(secret.ciphertext)


def secret_to_dict(secret: Secret) -> dict[str, object]:
    kind = SecretKind(secret.kind)
    return {
        "id": secret.id,
        "name": secret.name,
        "kind": kind.value,
        "kind_label": kind.label,
        "summary": dict(secret.summary),
        "expires_at": secret.expires_at.isoformat() if secret.expires_at else None,
        "created_at": secret.created_at.isoformat(),
        "updated_at": secret.updated_at.isoformat(),
    }
