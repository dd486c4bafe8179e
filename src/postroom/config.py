"""Typed settings: environment variables ``POSTROOM_*`` over an optional TOML file over defaults.

The embedded defaults need nothing installed: a data directory holding a SQLite database (WAL),
a blob folder and the secret-encryption key. At scale, point ``POSTROOM_DATABASE_URL`` at
PostgreSQL and give every machine the same ``POSTROOM_SECRET_KEY``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from postroom.errors import ConfigurationError

CONFIG_FILE_ENV = "POSTROOM_CONFIG"


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/postroom``, or ``~/.local/share/postroom``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "postroom"


class Settings(BaseSettings):
    """Every setting, documented in docs/configuration.md (a test keeps the two in step)."""

    model_config = SettingsConfigDict(env_prefix="POSTROOM_", extra="forbid")

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Folder for the SQLite database, the blob store and the secret key.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; empty means SQLite at DATA_DIR/postroom.db. "
        "PostgreSQL: postgresql+psycopg://user@host/dbname.",
    )
    blob_dir: Path | None = Field(
        default=None, description="Folder of the archive's message blobs; empty means DATA_DIR/blobs."
    )
    secret_key: str | None = Field(
        default=None,
        description="Fernet key(s), comma-separated, newest first, that encrypt secrets. Empty means "
        "DATA_DIR/secret.key, created with 0600 permissions on first start.",
    )
    host: str = Field(default="127.0.0.1", description="Address `postroom serve` listens on.")
    port: int = Field(default=8025, ge=0, le=65535, description="Port `postroom serve` listens on.")
    admin_email: str = Field(default="admin@localhost", description="E-mail (login) of the first administrator.")
    admin_password: str | None = Field(
        default=None,
        description="Password of the first administrator; empty means one is generated and printed once.",
    )
    tenant: str | None = Field(default=None, description="Tenant the CLI works on when --tenant is not given.")
    log_level: str = Field(default="info", description="Logging level: debug, info, warning, error.")
    sync_connections: int = Field(
        default=3,
        ge=1,
        le=16,
        description="Folders of one mailbox fetched at once during a sync, each on its own connection (1-16).",
    )
    mailboxes_in_parallel: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Mailboxes of one multiple-mailbox run synchronized at once (1-64).",
    )
    mailboxes_per_server: int = Field(
        default=8,
        ge=1,
        le=256,
        description="Mailboxes one process synchronizes at once from the same mail server, across all its runs "
        "(1-256); each uses up to SYNC_CONNECTIONS connections.",
    )
    public_url: str | None = Field(
        default=None,
        description="The URL connectors and people reach the server at, written into connector licenses; "
        "empty means http://HOST:PORT.",
    )
    connector_lease_seconds: int = Field(
        default=60,
        ge=5,
        le=3600,
        description="How long a connector's lease lasts without a heartbeat; another connector of the tenant "
        "takes over after it (5-3600).",
    )
    connector_poll_seconds: int = Field(
        default=15,
        ge=1,
        le=3600,
        description="How often an idle connector asks for deliveries, unless started with --interval (1-3600); "
        "keep it well under the lease time.",
    )
    connector_retry_seconds: int = Field(
        default=60,
        ge=1,
        le=86400,
        description="Delay before a skipped or failed delivery is offered again; it doubles per attempt, "
        "up to an hour (1-86400).",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis URL of the task queue (redis://host:6379/0); empty means a SQLite queue in "
        "DATA_DIR/queue.db, which only the processes of one machine can share.",
    )
    queue_name: str = Field(
        default="postroom",
        min_length=1,
        max_length=100,
        description="Name of the task queue (the Redis key prefix); processes sharing one queue use the same name.",
    )
    workers: int = Field(
        default=2,
        ge=0,
        le=64,
        description="Runs `postroom serve` executes at once in its own worker threads (0: none, leave the "
        "queue to `postroom worker` processes); `postroom worker --workers` overrides it.",
    )
    run_lease_seconds: int = Field(
        default=120,
        ge=2,
        le=3600,
        description="How long a run's lock on its profile lasts without a heartbeat; a run whose worker died "
        "is queued again after it (2-3600).",
    )
    run_retry_seconds: int = Field(
        default=30,
        ge=0,
        le=3600,
        description="Delay before a run that failed to reach its mail server is tried again; it doubles per "
        "attempt, three retries (0-3600).",
    )
    scheduler_seconds: float = Field(
        default=15.0,
        gt=0,
        le=900,
        description="How often `postroom serve` looks for due schedules and for runs whose worker died.",
    )

    @field_validator("data_dir", "blob_dir", mode="before")
    @classmethod
    def _blank_is_default(cls, value: object, info: ValidationInfo) -> object:
        # Path("") is ".", the current folder: an empty POSTROOM_BLOB_DIR= must mean the default.
        if isinstance(value, str) and not value.strip():
            return default_data_dir() if info.field_name == "data_dir" else None
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.lower() not in {"debug", "info", "warning", "error"}:
            raise ValueError("must be one of debug, info, warning, error")
        return value.lower()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_FILE_ENV)
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'postroom.db'}"

    @property
    def resolved_blob_dir(self) -> Path:
        return self.blob_dir or self.data_dir / "blobs"

    @property
    def secret_key_file(self) -> Path:
        return self.data_dir / "secret.key"


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning pydantic's errors into one clear ConfigurationError."""
    from pydantic import ValidationError

    config_file = os.environ.get(CONFIG_FILE_ENV)
    if config_file and not Path(config_file).is_file():
        raise ConfigurationError(f"{CONFIG_FILE_ENV}={config_file}: no such file")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigurationError(
            f"invalid settings (POSTROOM_* variables or {CONFIG_FILE_ENV} file): {problems}"
        ) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        if not config_file:
            raise
        raise ConfigurationError(f"{CONFIG_FILE_ENV}={config_file}: not a readable TOML file: {exc}") from exc
