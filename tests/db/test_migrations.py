"""Alembic from the first table: empty → head → base → head on the selected backend, and the
migrations describe exactly what the models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from postroom.db import migrate
from postroom.db.engine import make_engine
from postroom.db.schema import metadata


def test_empty_to_head_and_back(fresh_database_url: str) -> None:
    engine = make_engine(fresh_database_url)
    try:
        assert migrate.current_revision(engine) is None
        migrate.upgrade(engine)
        assert migrate.is_up_to_date(engine)
        tables = set(inspect(engine).get_table_names())
        assert set(metadata.tables) <= tables
        migrate.upgrade(engine)  # a second upgrade changes nothing
        migrate.downgrade(engine, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(engine)
        assert migrate.is_up_to_date(engine)
    finally:
        engine.dispose()


def test_migrations_match_models(fresh_database_url: str) -> None:
    engine = make_engine(fresh_database_url)
    try:
        migrate.upgrade(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
        assert diff == [], f"models and migrations differ; add a migration: {diff}"
    finally:
        engine.dispose()


def test_head_constant_matches_the_migrations(fresh_database_url: str) -> None:
    engine = make_engine(fresh_database_url)
    try:
        assert migrate.head_revision(engine) == migrate.HEAD, "set postroom.db.migrate.HEAD to the new revision"
    finally:
        engine.dispose()
