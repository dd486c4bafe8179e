"""What a running Postroom holds: settings, the database and the secret box, opened in one place.

The CLI, ``postroom serve`` and the tests all start from :meth:`Runtime.open`, so they read the same
configuration the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from postroom.archive.blobstore import LocalBlobStore
from postroom.config import Settings
from postroom.db import migrate
from postroom.db.engine import make_engine, session_factory, transaction
from postroom.errors import ConfigurationError
from postroom.security.keyring import SecretBox, keys_from_setting, load_or_create_key_file


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    secret_box: SecretBox
    blobs: LocalBlobStore

    @classmethod
    def open(cls, settings: Settings, *, upgrade: bool = False) -> Runtime:
        """Open the database (upgrading its schema if asked) and the secret key."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.resolved_blob_dir.mkdir(parents=True, exist_ok=True)
        keys = (
            keys_from_setting(settings.secret_key)
            if settings.secret_key
            else [load_or_create_key_file(settings.secret_key_file)]
        )
        engine = make_engine(settings.resolved_database_url)
        try:
            if upgrade:
                migrate.upgrade(engine)
            elif not migrate.is_up_to_date(engine):
                raise ConfigurationError(
                    "the database schema is not up to date: run `postroom db upgrade` (or `postroom init`)"
                )
        except OperationalError as exc:
            engine.dispose()
            raise ConfigurationError(
                f"cannot use the database at {engine.url.render_as_string(hide_password=True)}: {exc.orig}"
            ) from exc
        blobs = LocalBlobStore(settings.resolved_blob_dir)
        return cls(settings, engine, session_factory(engine), SecretBox(keys), blobs)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with transaction(self.sessions) as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()
