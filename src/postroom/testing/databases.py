"""Throwaway databases for tests: a SQLite file, or a fresh PostgreSQL database dropped afterwards.

The backend is chosen with ``POSTROOM_TEST_DATABASE`` (``sqlite``, the default, or ``postgresql``);
the PostgreSQL server is ``POSTROOM_TEST_POSTGRES_URL`` (default: the local one, trust auth).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, delete, text
from sqlalchemy.engine import make_url

from postroom.db.schema import metadata

BACKEND_ENV = "POSTROOM_TEST_DATABASE"
POSTGRES_ENV = "POSTROOM_TEST_POSTGRES_URL"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def backend() -> str:
    name = os.environ.get(BACKEND_ENV, "sqlite").strip().lower()
    if name not in {"sqlite", "postgresql"}:
        raise RuntimeError(f"{BACKEND_ENV} must be sqlite or postgresql, not {name!r}")
    return name


@contextmanager
def throwaway_database(folder: Path) -> Iterator[str]:
    """Yield the URL of an empty database of the selected backend; remove it afterwards."""
    if backend() == "sqlite":
        yield f"sqlite:///{folder / f'test-{secrets.token_hex(4)}.db'}"
        return
    server_url = make_url(os.environ.get(POSTGRES_ENV, DEFAULT_POSTGRES))
    name = f"postroom_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield server_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def delete_all_rows(engine: Engine) -> None:
    """Empty every table (children first), keeping the schema and its Alembic revision."""
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(delete(table))
