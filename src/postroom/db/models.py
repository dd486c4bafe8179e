"""SQLAlchemy models. Every change here comes with an Alembic migration (a test compares them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from postroom.db.types import UTCDateTime, new_id, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


def _id() -> Mapped[str]:
    return mapped_column(String(36), primary_key=True, default=new_id)


def _tenant_fk() -> Mapped[str]:
    return mapped_column(String(36), ForeignKey("tenants.id", ondelete="CASCADE"), index=True)


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(String(63), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = _id()
    email: Mapped[str] = mapped_column(String(254))
    email_key: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    is_superadmin: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(back_populates="user", cascade="all, delete-orphan")


class Membership(Base):
    """A user's role in one tenant: ``admin`` manages it, ``user`` works in it."""

    __tablename__ = "memberships"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(20))

    user: Mapped[User] = relationship(back_populates="memberships")


class ApiToken(Base):
    """An API token; only the SHA-256 of its secret part is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(12), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Secret(Base):
    """A credential: ``ciphertext`` is Fernet-encrypted JSON; ``summary`` holds only what may be shown."""

    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("tenant_id", "name_key"),)

    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant_fk()
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(40))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DirectoryService(Base):
    """Where the mailboxes of a multiple-mailbox profile come from (LDAP, Entra ID, a static list)."""

    __tablename__ = "directory_services"
    __table_args__ = (UniqueConstraint("tenant_id", "name_key"),)

    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant_fk()
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(40))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secret_id: Mapped[str | None] = mapped_column(ForeignKey("secrets.id", ondelete="RESTRICT"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Profile(Base):
    """A folder-synchronization profile; type-specific fields live in ``settings``."""

    __tablename__ = "profiles"
    __table_args__ = (UniqueConstraint("tenant_id", "name_key"),)

    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant_fk()
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100), index=True)
    type: Mapped[str] = mapped_column(String(40))
    mode: Mapped[str] = mapped_column(String(20))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secret_id: Mapped[str | None] = mapped_column(ForeignKey("secrets.id", ondelete="RESTRICT"), default=None)
    directory_service_id: Mapped[str | None] = mapped_column(
        ForeignKey("directory_services.id", ondelete="RESTRICT"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Schedule(Base):
    """When a profile (or directory sync) runs.

    ``next_run_at`` is when the scheduler queues it next (``None``: never again, or paused);
    ``last_run_at`` and ``last_process_id`` name the last run it queued.
    """

    __tablename__ = "schedules"
    __table_args__ = (UniqueConstraint("tenant_id", "name_key"),)

    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant_fk()
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(40))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    profile_id: Mapped[str | None] = mapped_column(
        ForeignKey("profiles.id", ondelete="RESTRICT"), index=True, default=None
    )
    directory_service_id: Mapped[str | None] = mapped_column(
        ForeignKey("directory_services.id", ondelete="RESTRICT"), default=None
    )
    recurrence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    next_run_at: Mapped[datetime | None] = mapped_column(index=True, default=None)
    last_run_at: Mapped[datetime | None] = mapped_column(default=None)
    last_process_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("processes.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ProfileRun(Base):
    """The lock that keeps two runs of one profile from overlapping, across processes and machines.

    One row per profile that ever ran. ``process_id`` is the run holding it (``None``: free);
    ``holder`` names the worker, and ``expires_at`` is renewed by its heartbeat, so the lock of a
    worker that was killed runs out and the scheduler queues that run again.
    """

    __tablename__ = "profile_runs"

    profile_id: Mapped[str] = mapped_column(String(36), ForeignKey("profiles.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[str] = _tenant_fk()
    process_id: Mapped[str | None] = mapped_column(String(36), default=None)
    schedule_id: Mapped[str | None] = mapped_column(String(36), default=None)
    holder: Mapped[str | None] = mapped_column(String(255), default=None)
    acquired_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime | None] = mapped_column(index=True, default=None)


class Location(Base):
    """A project folder that messages are filed to (``domain/location.py`` has the rules).

    ``sync_path`` is kept as registered; ``sync_path_key`` is its comparison form, and its SHA-256
    (``sync_path_hash``) is what keeps two locations of a tenant off the same folder: a unique
    index cannot hold a 4096-character path on PostgreSQL (B-tree entries stop near 2700 bytes).
    """

    __tablename__ = "locations"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name_key"),
        UniqueConstraint("tenant_id", "sync_path_hash", name="uq_locations_tenant_id_sync_path_hash"),
    )

    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant_fk()
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100), index=True)
    sync_path: Mapped[str] = mapped_column(Text)
    sync_path_key: Mapped[str] = mapped_column(Text)
    sync_path_hash: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(10), default="msg")
    naming_template: Mapped[str] = mapped_column(String(500))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Filing(Base):
    """A message filed to a location, and the delivery of it that the connector will claim.

    One per (location, message): filing the same message there again finds this row. ``status``
    starts ``pending``; the connector moves it to ``written``, ``present`` (the same bytes were
    already there), ``skipped`` or ``failed`` (with ``reason``, retried from ``next_attempt_at``).
    A claim sets ``claimed_by`` and ``claimed_until`` and counts the attempt in ``attempts``; a
    result answers the attempt it names, and only while the claim is the connector's.
    """

    __tablename__ = "filings"
    __table_args__ = (
        UniqueConstraint("location_id", "message_id"),
        Index("ix_filings_tenant_status", "tenant_id", "status"),
    )

    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant_fk()
    location_id: Mapped[str] = mapped_column(String(36), ForeignKey("locations.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("messages.id", ondelete="RESTRICT"), index=True
    )
    source: Mapped[str] = mapped_column(String(10))
    filed_by: Mapped[str] = mapped_column(String(254))
    filed_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    written_path: Mapped[str | None] = mapped_column(Text, default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    claimed_by: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("connectors.id", ondelete="SET NULL"), default=None
    )
    claimed_until: Mapped[datetime | None] = mapped_column(default=None)
    size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Connector(Base):
    """A sync connector's license: ``key`` (the secret's first part) finds it, ``secret_hash`` proves it.

    ``path_roots`` maps sync paths as the server registers them to folders the connector reaches
    (``[{"server": "smb://fs/projects", "local": "/mnt/projects"}]``). ``host``, ``version`` and
    ``instance_id`` are what it said when it last took or renewed the lease (``last_seen_at``).
    """

    __tablename__ = "connectors"
    __table_args__ = (UniqueConstraint("tenant_id", "name_key"),)

    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant_fk()
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(12), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    path_roots: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(254))
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None)
    host: Mapped[str | None] = mapped_column(String(255), default=None)
    version: Mapped[str | None] = mapped_column(String(100), default=None)
    instance_id: Mapped[str | None] = mapped_column(String(100), default=None)


class ConnectorLease(Base):
    """Who may deliver a tenant's filings now (``scope`` ``*``: all its locations).

    The row stays when a lease ends (released, expired, taken over), so ``fencing_token`` only
    ever grows: every grant adds one, and a request carrying an older token is refused.
    """

    __tablename__ = "connector_leases"

    tenant_id: Mapped[str] = mapped_column(String(36), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    scope: Mapped[str] = mapped_column(String(100), primary_key=True)
    connector_id: Mapped[str] = mapped_column(String(36), ForeignKey("connectors.id", ondelete="CASCADE"), index=True)
    instance_id: Mapped[str] = mapped_column(String(100))
    host: Mapped[str] = mapped_column(String(255))
    fencing_token: Mapped[int] = mapped_column(BigInteger)
    acquired_at: Mapped[datetime] = mapped_column()
    renewed_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()


class FilingRule(Base):
    """A rule that files matching archived messages to a location (``domain/filing_rule.py``).

    ``conditions`` holds the validated conditions by name (folder, sender, recipient, subject,
    project_code); every one must match.
    """

    __tablename__ = "filing_rules"
    __table_args__ = (UniqueConstraint("tenant_id", "name_key"),)

    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant_fk()
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100), index=True)
    location_id: Mapped[str] = mapped_column(String(36), ForeignKey("locations.id", ondelete="CASCADE"), index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    conditions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Process(Base):
    """One run (a sync, a directory sync, a connection test); sub-processes point at their parent."""

    __tablename__ = "processes"
    __table_args__ = (
        Index("ix_processes_tenant_started", "tenant_id", "started_at"),
        Index("ix_processes_tenant_type", "tenant_id", "type"),
    )

    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _tenant_fk()
    request_id: Mapped[str] = mapped_column(String(40), unique=True)
    type: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    max_severity: Mapped[int] = mapped_column(SmallInteger)
    configuration_id: Mapped[str | None] = mapped_column(String(36), default=None)
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("processes.id", ondelete="CASCADE"), index=True, default=None
    )
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    # Renewed while the process runs where nothing else watches it (directory syncs); a running
    # process past it lost its worker, and the scheduler ends it (services/processes.py).
    alive_until: Mapped[datetime | None] = mapped_column(index=True, default=None)

    messages: Mapped[list[ProcessMessage]] = relationship(
        back_populates="process", cascade="all, delete-orphan", order_by="ProcessMessage.id"
    )


class ProcessMessage(Base):
    __tablename__ = "process_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    process_id: Mapped[str] = mapped_column(ForeignKey("processes.id", ondelete="CASCADE"), index=True)
    time: Mapped[datetime] = mapped_column(default=utcnow)
    severity: Mapped[int] = mapped_column(SmallInteger)
    text: Mapped[str] = mapped_column(Text)

    process: Mapped[Process] = relationship(back_populates="messages")
