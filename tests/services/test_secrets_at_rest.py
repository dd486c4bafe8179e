"""No secret value may appear in clear in the database: grep the SQLite file (and its WAL), or
every row of every table on PostgreSQL, for each value stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import make_url, text

from postroom.db.models import Tenant
from postroom.db.schema import metadata
from postroom.runtime import Runtime
from postroom.services import secrets
from postroom.testing.certificates import self_signed
from postroom.testing.databases import backend


def _stored_bytes(runtime: Runtime) -> bytes:
    url = make_url(runtime.settings.resolved_database_url)
    if backend() == "sqlite":
        with runtime.engine.connect() as conn:  # make sure nothing is only in memory
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        assert url.database
        data = b""
        for suffix in ("", "-wal"):
            path = Path(url.database + suffix)
            data += path.read_bytes() if path.exists() else b""
        # Closing any descriptor of the file drops every POSIX lock SQLite holds on it in this
        # process: start the pool afresh so no connection carries on without its locks.
        runtime.engine.dispose()
        return data
    dump = []
    with runtime.engine.connect() as conn:
        for table in metadata.sorted_tables:
            rows = conn.execute(text(f'SELECT CAST(row_to_json(t) AS text) FROM "{table.name}" t'))
            dump += [row[0] for row in rows]
    return "\n".join(dump).encode()


def test_no_secret_value_is_stored_in_clear(runtime: Runtime, tenant: Tenant) -> None:
    cert_pem, key_pem = self_signed("postroom-test", days=30)
    key_body = "".join(key_pem.splitlines()[1:-1])[:40]
    values = {
        "basic": {"username": "anna.user", "password": "Correct-Horse-Battery-7731"},
        "oauth": {
            "access_token": "ya29.ACCESS-TOKEN-5c1f0e",
            "refresh_token": "1//REFRESH-TOKEN-9a8b7c",
            "account": "anna@example.com",
        },
        "certificate": {"pem": cert_pem + key_pem},
        "google-service-account": {
            "json": {
                "type": "service_account",
                "project_id": "postroom-test",
                "private_key_id": "abc123",
                "private_key": key_pem,
                "client_email": "sync@postroom-test.iam.gserviceaccount.com",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        },
    }
    with runtime.transaction() as session:
        for kind, vals in values.items():
            secrets.create_secret(session, runtime.secret_box, tenant.id, f"secret {kind}", kind, vals)
    stored = _stored_bytes(runtime)
    assert b"anna.user" in stored  # the grep works: a summary value is there in clear
    for needle in ("Correct-Horse-Battery-7731", "ACCESS-TOKEN-5c1f0e", "REFRESH-TOKEN-9a8b7c", key_body):
        assert needle.encode() not in stored, f"{needle!r} is stored in clear"
    with runtime.transaction() as session:
        for secret in secrets.list_secrets(session, tenant.id):
            assert "PRIVATE KEY" not in json.dumps(secrets.secret_to_dict(secret))
        basic = secrets.get_secret(session, tenant.id, "secret basic")
        assert secrets.reveal(runtime.secret_box, basic)["password"] == "Correct-Horse-Battery-7731"


@pytest.mark.parametrize("kind", ["basic"])
def test_replacing_values_reencrypts(runtime: Runtime, tenant: Tenant, kind: str) -> None:
    with runtime.transaction() as session:
        secret = secrets.create_secret(
            session, runtime.secret_box, tenant.id, "login", kind, {"username": "u", "password": "first-pass"}
        )
        before = secret.ciphertext
        secrets.update_secret(
            session,
            runtime.secret_box,
            tenant.id,
            "LOGIN",
            values={"username": "u", "password": "second-pass"},
        )
        assert secret.ciphertext != before
        assert secrets.reveal(runtime.secret_box, secret)["password"] == "second-pass"
