"""Finding a tenant's thing by what a person types: its ID or its name, both case-insensitive.

Every named thing (profiles, secrets, schedules, locations, filing rules, directory services)
has ``id``, ``tenant_id`` and a case-folded ``name_key``; looking it up by primary key or by the
unique (tenant, name_key) index is one indexed query either way.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from postroom.domain.naming import is_storable, name_key
from postroom.errors import FieldError, NotFound

Row = TypeVar("Row")


def find(session: Session, model: type[Row], tenant_id: str, key: str) -> Row | None:
    """The tenant's ``model`` row whose ID or name is ``key``; ``None`` when there is none."""
    key = key.strip()
    if not is_storable(key):
        return None
    table: Any = model
    return session.scalar(
        select(model).where(table.tenant_id == tenant_id, (table.id == key.lower()) | (table.name_key == name_key(key)))
    )


def get(session: Session, model: type[Row], tenant_id: str, key: str, what: str) -> Row:
    """:func:`find`, or :class:`NotFound` naming ``what`` ("profile", "secret", …) and ``key``."""
    row = find(session, model, tenant_id, key)
    if row is None:
        raise NotFound(what, key.strip())
    return row


def resolve_reference(
    session: Session, model: type[Any], tenant_id: str, values: MutableMapping[str, object], field: str, what: str
) -> FieldError | None:
    """Replace the name or ID in ``values[field]`` by the row's ID; a field error when there is no
    such row in the tenant (an empty field is left as it is)."""
    ref = values.get(field)
    if ref is None or (isinstance(ref, str) and not ref.strip()):
        return None
    row = find(session, model, tenant_id, str(ref))
    if row is None:
        return FieldError(field, f"no {what} named or with ID {str(ref).strip()!r} in this tenant")
    values[field] = row.id
    return None
