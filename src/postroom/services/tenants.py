"""Tenants: the organisations one Postroom installation serves, each isolated from the others."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from postroom.db.models import Tenant
from postroom.domain.naming import clean_text
from postroom.errors import AccessDenied, FieldError, InvalidInput, NameTaken
from postroom.services.access import Actor

DISPLAY_NAME_LENGTH = 200
_TENANT_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def clean_tenant_name(value: str) -> str:
    name = value.strip().lower()
    if not _TENANT_NAME.fullmatch(name):
        raise InvalidInput(
            FieldError(
                "name",
                "must be 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-' "
                "(it appears in URLs, e.g. /api/v1/tenants/acme)",
            )
        )
    return name


def create_tenant(session: Session, actor: Actor, name: str, display_name: str | None = None) -> Tenant:
    if not actor.superadmin:
        raise AccessDenied("only a system administrator can create tenants")
    errors: list[FieldError] = []
    try:
        name = clean_tenant_name(name)
    except InvalidInput as exc:
        errors += exc.errors
    try:
        display_name = clean_text(display_name or "", "display_name", DISPLAY_NAME_LENGTH)
    except InvalidInput as exc:
        errors += exc.errors
    if errors:
        raise InvalidInput(errors)
    if session.scalar(select(Tenant).where(Tenant.name == name)):
        raise NameTaken("tenant", name)
    tenant = Tenant(name=name, display_name=display_name or name)
    session.add(tenant)
    session.flush()
    return tenant


def list_tenants(session: Session, actor: Actor) -> list[Tenant]:
    query = select(Tenant).order_by(Tenant.name)
    if not actor.superadmin:
        query = query.where(Tenant.id.in_(list(actor.roles)))
    return list(session.scalars(query))


def tenant_to_dict(tenant: Tenant) -> dict[str, object]:
    return {
        "id": tenant.id,
        "name": tenant.name,
        "display_name": tenant.display_name,
        "created_at": tenant.created_at.isoformat(),
    }
