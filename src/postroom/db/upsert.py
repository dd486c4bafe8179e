"""``INSERT … ON CONFLICT DO NOTHING`` in the dialect of the session's database.

Only the dialect in use is imported: PostgreSQL's pulls in asyncio and its drivers' modules,
which a SQLite installation's every command would otherwise pay for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session


def insert_ignoring_conflicts(session: Session, model: Any, index_elements: Sequence[str] | None = None) -> Any:
    """An insert of ``model`` rows that skips those clashing with the unique ``index_elements``
    (with any unique constraint when ``None``)."""
    keys = list(index_elements) if index_elements is not None else None
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(model).on_conflict_do_nothing(index_elements=keys)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(model).on_conflict_do_nothing(index_elements=keys)
