"""Shared fixtures. The database backend is chosen by POSTROOM_TEST_DATABASE (sqlite | postgresql)."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from postroom.config import Settings
from postroom.db.models import Tenant
from postroom.runtime import Runtime
from postroom.security.keyring import generate_key
from postroom.services.access import Actor
from postroom.services.tenants import create_tenant
from postroom.testing.databases import backend, delete_all_rows, throwaway_database
from postroom.testing.dovecot import Dovecot
from postroom.testing.server import live_server


def pytest_report_header() -> str:
    return f"postroom database backend: {backend()}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database per test run, migrated to head by the runtime fixture."""
    with throwaway_database(tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture
def fresh_database_url(tmp_path: Path) -> Iterator[str]:
    """An empty database of its own, for migration tests."""
    with throwaway_database(tmp_path) as url:
        yield url


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path_factory.mktemp("data"),
        database_url=database_url,
        secret_key=generate_key(),
    )


@pytest.fixture(scope="session")
def _runtime(settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime.open(settings, upgrade=True)
    yield runtime
    runtime.close()


@pytest.fixture
def runtime(_runtime: Runtime) -> Iterator[Runtime]:
    """The shared runtime; every table is emptied after each test that uses it."""
    yield _runtime
    delete_all_rows(_runtime.engine)


@pytest.fixture
def override_settings(runtime: Runtime) -> Iterator[Callable[..., None]]:
    """``override_settings(name=value, ...)`` changes the shared runtime's settings for one test."""
    shared = runtime.settings

    def override(**changes: Any) -> None:
        object.__setattr__(runtime, "settings", dataclasses.replace(runtime.settings, **changes))

    yield override
    object.__setattr__(runtime, "settings", shared)


@pytest.fixture
def session(runtime: Runtime) -> Iterator[Session]:
    """A session inside one transaction that the test's code commits by leaving the block."""
    with runtime.transaction() as session:
        yield session


@pytest.fixture
def tenant(runtime: Runtime) -> Tenant:
    with runtime.transaction() as session:
        return create_tenant(session, Actor.local_admin(), "acme", "Acme Ltd")


@pytest.fixture(scope="session")
def server_url(_runtime: Runtime) -> Iterator[str]:
    with live_server(_runtime) as url:
        yield url


@pytest.fixture
def http(server_url: str, runtime: Runtime) -> Iterator[httpx.Client]:
    """An unauthenticated client of the real running server."""
    with httpx.Client(base_url=server_url, timeout=30) as client:
        yield client


# --- a real Dovecot (one start per session, ~65 ms) -----------------------------------------


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """A server with every extension on and the default "/" separator."""
    with Dovecot(record_sessions=True) as server:
        yield server


@pytest.fixture(scope="session")
def untrusted_dovecot() -> Iterator[Dovecot]:
    """A server whose certificate is signed by a CA other than its ``ca_cert_path``."""
    with Dovecot(untrusted_certificate=True) as server:
        yield server


@pytest.fixture
def account(dovecot: Dovecot) -> tuple[str, str]:
    """A fresh user (name, password) on the shared server, so tests never see each other's mail."""
    name = f"user-{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(12)
    dovecot.add_user(name, password)
    return name, password
