"""Typed settings: environment variables ``POSTROOM_*`` over an optional TOML file over defaults.

The embedded defaults need nothing installed: a data directory holding a SQLite database (WAL),
a blob folder and the secret-encryption key. At scale, point ``POSTROOM_DATABASE_URL`` at
PostgreSQL and give every machine the same ``POSTROOM_SECRET_KEY``.

Every setting is a field of the frozen ``Settings`` dataclass; ``setting()`` records its bounds and
its documentation (docs/configuration.md, which a test keeps in step). Values from the environment
and the file arrive as text or TOML values and are converted here, by the field's type. This
module avoids pydantic on purpose: a sync that finds nothing new is mostly start-up time, and
pydantic-settings with pydantic's model machinery was ~70 ms of it, for ~25 settings.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from postroom.errors import ConfigurationError

CONFIG_FILE_ENV = "POSTROOM_CONFIG"
ENV_PREFIX = "POSTROOM_"


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/postroom``, or ``~/.local/share/postroom``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "postroom"


def setting(
    default: Any = None,
    *,
    doc: str,
    factory: Callable[[], Any] | None = None,
    low: float | None = None,
    high: float | None = None,
    above: float | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    choices: tuple[str, ...] = (),
    secret: bool = False,
) -> Any:
    """A settings field: its default, bounds (``low <= value <= high``, ``value > above``) and text."""
    rules = {
        "doc": doc,
        "low": low,
        "high": high,
        "above": above,
        "min_length": min_length,
        "max_length": max_length,
        "choices": choices,
    }
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=rules, repr=not secret)
    return dataclasses.field(default=default, metadata=rules, repr=not secret)


@dataclass(frozen=True)
class Settings:
    """Every setting, documented in docs/configuration.md (a test keeps the two in step).

    Constructed directly (tests, benchmarks) or by ``load_settings``; either way every value is
    converted to its field's type and checked, and all problems are reported in one error.
    """

    data_dir: Path = setting(
        factory=default_data_dir,
        doc="Folder for the SQLite database, the blob store and the secret key.",
    )
    database_url: str | None = setting(
        None,
        doc="SQLAlchemy URL; empty means SQLite at DATA_DIR/postroom.db. PostgreSQL: "
        "postgresql+psycopg://user@host/dbname.",
    )
    blob_dir: Path | None = setting(None, doc="Folder of the archive's message blobs; empty means DATA_DIR/blobs.")
    secret_key: str | None = setting(
        None,
        secret=True,
        doc="Fernet key(s), comma-separated, newest first, that encrypt secrets. Empty means DATA_DIR/secret.key,"
        " created with 0600 permissions on first start.",
    )
    host: str = setting("127.0.0.1", doc="Address `postroom serve` listens on.")
    port: int = setting(8025, low=0, high=65535, doc="Port `postroom serve` listens on.")
    admin_email: str = setting("admin@localhost", doc="E-mail (login) of the first administrator.")
    admin_password: str | None = setting(
        None,
        secret=True,
        doc="Password of the first administrator; empty means one is generated and printed once.",
    )
    tenant: str | None = setting(None, doc="Tenant the CLI works on when --tenant is not given.")
    log_level: str = setting(
        "info", choices=("debug", "info", "warning", "error"), doc="Logging level: debug, info, warning, error."
    )
    sync_connections: int = setting(
        3,
        low=1,
        high=16,
        doc="Folders of one mailbox fetched at once during a sync, each on its own connection (1-16).",
    )
    mailboxes_in_parallel: int = setting(
        4,
        low=1,
        high=64,
        doc="Mailboxes of one multiple-mailbox run synchronized at once (1-64).",
    )
    mailboxes_per_server: int = setting(
        8,
        low=1,
        high=256,
        doc="Mailboxes one process synchronizes at once from the same mail server, across all its runs (1-256); "
        "each uses up to SYNC_CONNECTIONS connections.",
    )
    public_url: str | None = setting(
        None,
        doc="The URL connectors and people reach the server at, written into connector licenses; empty means "
        "http://HOST:PORT.",
    )
    connector_lease_seconds: int = setting(
        60,
        low=5,
        high=3600,
        doc="How long a connector's lease lasts without a heartbeat; another connector of the tenant takes over "
        "after it (5-3600).",
    )
    connector_poll_seconds: int = setting(
        15,
        low=1,
        high=3600,
        doc="How often an idle connector asks for deliveries, unless started with --interval (1-3600); keep it "
        "well under the lease time.",
    )
    connector_retry_seconds: int = setting(
        60,
        low=1,
        high=86400,
        doc="Delay before a skipped or failed delivery is offered again; it doubles per attempt, up to an hour "
        "(1-86400).",
    )
    redis_url: str | None = setting(
        None,
        doc="Redis URL of the task queue (redis://host:6379/0); empty means a SQLite queue in DATA_DIR/queue.db, "
        "which only the processes of one machine can share.",
    )
    queue_name: str = setting(
        "postroom",
        min_length=1,
        max_length=100,
        doc="Name of the task queue (the Redis key prefix); processes sharing one queue use the same name.",
    )
    workers: int = setting(
        2,
        low=0,
        high=64,
        doc="Runs `postroom serve` executes at once in its own worker threads (0: none, leave the queue to "
        "`postroom worker` processes); `postroom worker --workers` overrides it.",
    )
    run_lease_seconds: int = setting(
        120,
        low=2,
        high=3600,
        doc="How long a run's lock on its profile lasts without a heartbeat; a run whose worker died is queued "
        "again after it (2-3600).",
    )
    run_retry_seconds: int = setting(
        30,
        low=0,
        high=3600,
        doc="Delay before a run that failed to reach its mail server is tried again; it doubles per attempt, "
        "three retries (0-3600).",
    )
    scheduler_seconds: float = setting(
        15.0,
        high=900,
        above=0,
        doc="How often `postroom serve` looks for due schedules and for runs whose worker died.",
    )

    def __post_init__(self) -> None:
        problems = []
        for spec in dataclasses.fields(self):
            try:
                object.__setattr__(self, spec.name, _converted(spec, getattr(self, spec.name)))
            except _Invalid as exc:
                problems.append(f"{spec.name}: {exc}")
        if problems:
            raise ConfigurationError(
                f"invalid settings ({ENV_PREFIX}* variables or {CONFIG_FILE_ENV} file): " + "; ".join(problems)
            )

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'postroom.db'}"

    @property
    def resolved_blob_dir(self) -> Path:
        return self.blob_dir or self.data_dir / "blobs"

    @property
    def secret_key_file(self) -> Path:
        return self.data_dir / "secret.key"


SETTING_NAMES = tuple(spec.name for spec in dataclasses.fields(Settings))


class _Invalid(ValueError):
    pass


def _converted(spec: dataclasses.Field[Any], value: Any) -> Any:
    """``value`` (text from the environment, a TOML value, or already typed) as the field's type."""
    kind = str(spec.type)
    optional = kind.endswith(" | None")
    kind = kind.removesuffix(" | None")
    if isinstance(value, str) and not value.strip() and kind != "str":
        value = None  # an empty variable means the default, never "" (Path("") is the current folder)
    if value is None:
        if spec.name == "data_dir":
            return default_data_dir()
        if optional:
            return None
        raise _Invalid("must be given")
    rules = spec.metadata
    if kind == "Path":
        if not isinstance(value, str | os.PathLike):
            raise _Invalid(f"must be a folder path, not {value!r}")
        return Path(value)
    if kind == "str":
        if not isinstance(value, str):
            raise _Invalid(f"must be text, not {value!r}")
        if optional and not value.strip():
            return None
        if rules["choices"]:
            if value.strip().lower() not in rules["choices"]:
                raise _Invalid(f"must be one of {', '.join(rules['choices'])}, not {value!r}")
            return value.strip().lower()
        if rules["min_length"] is not None and len(value) < rules["min_length"]:
            raise _Invalid(f"must be at least {rules['min_length']} character(s) long")
        if rules["max_length"] is not None and len(value) > rules["max_length"]:
            raise _Invalid(f"must be at most {rules['max_length']} characters long")
        return value
    number = _number(value, whole=kind == "int")
    low, high, above = rules["low"], rules["high"], rules["above"]
    if (low is not None and number < low) or (high is not None and number > high):
        raise _Invalid(f"must be from {low} to {high}, not {value!r}")
    if above is not None and not number > above:
        raise _Invalid(
            f"must be more than {above}" + (f" and at most {high}" if high is not None else "") + f", not {value!r}"
        )
    return number


def _number(value: Any, *, whole: bool) -> int | float:
    if isinstance(value, bool):
        raise _Invalid(f"must be a number, not {value!r}")
    if whole:
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise _Invalid(f"must be a whole number, not {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    else:
        try:
            number = float(str(value).strip())
        except ValueError:
            raise _Invalid(f"must be a number, not {value!r}") from None
    if not math.isfinite(number):
        raise _Invalid(f"must be a finite number, not {value!r}")
    return number


def load_settings(**overrides: Any) -> Settings:
    """The settings: ``overrides`` over ``POSTROOM_*`` variables over the ``POSTROOM_CONFIG`` TOML
    file over the defaults; every problem in one clear ConfigurationError."""
    values: dict[str, Any] = {}
    config_file = os.environ.get(CONFIG_FILE_ENV)
    if config_file:
        values.update(_read_config_file(Path(config_file)))
    for name in SETTING_NAMES:
        variable = os.environ.get(ENV_PREFIX + name.upper())
        if variable is not None:
            values[name] = variable
    unknown = sorted(set(overrides) - set(SETTING_NAMES))
    if unknown:
        raise TypeError(f"load_settings() got unknown settings: {', '.join(unknown)}")
    values.update(overrides)
    return Settings(**values)


def _read_config_file(path: Path) -> dict[str, Any]:
    where = f"{CONFIG_FILE_ENV}={path}"
    if not path.is_file():
        raise ConfigurationError(f"{where}: no such file")
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise ConfigurationError(f"{where}: not a readable TOML file: {exc}") from exc
    unknown = sorted(set(data) - set(SETTING_NAMES))
    if unknown:
        raise ConfigurationError(
            f"{where}: {', '.join(unknown)}: not a setting; the settings are listed in docs/configuration.md "
            "(names in lower case, as in POSTROOM_DATA_DIR -> data_dir)"
        )
    return data
