"""Finding a tenant's thing by what a person types: its ID or its name, both case-insensitive.

Every named thing (profiles, secrets, schedules, locations, filing rules, directory services)
has ``id``, ``tenant_id`` and a case-folded ``name_key``; looking it up by primary key or by the
unique (tenant, name_key) index is one indexed query either way.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from postroom.domain.naming import is_storable, name_key
from postroom.errors import FieldError, InvalidInput, NameTaken, NotFound

Row = TypeVar("Row")
Settings = TypeVar("Settings")


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


def ensure_name_free(
    session: Session, model: type[Any], tenant_id: str, name: str, what: str, own_id: str | None = None
) -> None:
    """:class:`NameTaken` when another of the tenant's ``model`` rows has ``name`` (ignoring case)."""
    clash = session.scalar(select(model).where(model.tenant_id == tenant_id, model.name_key == name_key(name)))
    if clash is not None and clash.id != own_id:
        raise NameTaken(what, name)


def validated_with(reference_errors: list[FieldError], build: Callable[[], Settings]) -> Settings:
    """``build()`` (the domain rules), its errors reported together with the references that
    :func:`resolve_reference` could not find, each field once."""
    try:
        settings = build()
    except InvalidInput as exc:
        seen = {e.field for e in reference_errors}
        raise InvalidInput(reference_errors + [e for e in exc.errors if e.field not in seen]) from None
    if reference_errors:
        raise InvalidInput(reference_errors)
    return settings
