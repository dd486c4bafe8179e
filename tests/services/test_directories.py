"""Directory services against the database and a real slapd: references, tenants, reading, syncing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.directory.servers import USERS, slapd

from postroom.db.archive import ArchiveMailbox
from postroom.db.models import Tenant
from postroom.domain.process import ProcessStatus, ProcessType
from postroom.errors import InUse, InvalidInput, NameTaken, NotFound, SourceAuthFailed
from postroom.runtime import Runtime
from postroom.services import directories, processes, profiles
from postroom.services import secrets as secret_service
from postroom.services.access import Actor
from postroom.services.tenants import create_tenant
from postroom.testing.slapd import Slapd

__all__ = ["slapd"]

STATIC = {"name": "Board", "type": "static", "entries": "address,display name\nanna@example.com,Anna\nbob@example.com"}


def ldap_fields(server: Slapd, **changes: object) -> dict[str, object]:
    return {
        "name": "Head office",
        "type": "ldap",
        "server_name": server.host,
        "port": server.port,
        "security": "starttls",
        "tls_trusted_ca": server.ca_pem,
        "base_dn": server.base_dn,
        "secret_id": "LDAP bind",
        "page_size": 4,
        **changes,
    }


def bind_secret(runtime: Runtime, tenant: Tenant, server: Slapd, password: str | None = None) -> str:
    with runtime.transaction() as session:
        values = {"username": server.bind_dn, "password": password or server.bind_password}
        return secret_service.create_secret(session, runtime.secret_box, tenant.id, "LDAP bind", "basic", values).id


def log_of(runtime: Runtime, tenant: Tenant, request_id: str | None) -> dict[str, Any]:
    with runtime.transaction() as session:
        return processes.process_to_dict(
            session, processes.get_process(session, tenant.id, request_id or ""), details=True
        )


def create(runtime: Runtime, tenant: Tenant, raw: dict[str, Any]) -> dict[str, Any]:
    with runtime.transaction() as session:
        return directories.directory_to_dict(session, directories.create_directory(session, tenant.id, raw))


def test_create_stores_settings_and_the_secret_by_reference(runtime: Runtime, tenant: Tenant, slapd: Slapd) -> None:
    secret_id = bind_secret(runtime, tenant, slapd)
    data = create(runtime, tenant, ldap_fields(slapd))
    assert (data["type"], data["type_label"], data["secret_id"], data["secret_name"]) == (
        "ldap",
        "LDAP / Active Directory",
        secret_id,
        "LDAP bind",
    )
    assert data["bind_dn"] == slapd.bind_dn
    assert (data["filter"], data["mail_attribute"], data["page_size"]) == ("(&(objectClass=person)(mail=*))", "mail", 4)
    assert "entries" not in data and data["deletable"] is True
    static = create(runtime, tenant, STATIC)
    assert static["entry_count"] == 2 and "server_name" not in static
    assert static["entries"][0] == {"address": "anna@example.com", "display_name": "Anna"}


def test_secret_must_exist_in_the_tenant_and_be_a_username_password(
    runtime: Runtime, tenant: Tenant, slapd: Slapd
) -> None:
    with runtime.transaction() as session:
        other = create_tenant(session, Actor.local_admin(), "other")
        secret_service.create_secret(
            session, runtime.secret_box, other.id, "LDAP bind", "basic", {"username": "x", "password": "y"}
        )
        secret_service.create_secret(session, runtime.secret_box, tenant.id, "token", "oauth", {"access_token": "t"})
    with pytest.raises(InvalidInput) as caught:
        create(runtime, tenant, ldap_fields(slapd, port=0))
    assert {e.field: e.message for e in caught.value.errors} == {
        "secret_id": "no secret named or with ID 'LDAP bind' in this tenant",
        "port": "must be a whole number between 1 and 65535",
    }
    with pytest.raises(InvalidInput, match="bind with a secret of kind Basic authentication"):
        create(runtime, tenant, ldap_fields(slapd, secret_id="token"))


def test_names_unique_lookup_search_and_tenant_isolation(session: Session, tenant: Tenant) -> None:
    board = directories.create_directory(session, tenant.id, STATIC)
    with pytest.raises(NameTaken, match="directory service named 'BOARD'"):
        directories.create_directory(session, tenant.id, {**STATIC, "name": "BOARD"})
    directories.create_directory(session, tenant.id, {"name": "Contractors", "type": "static"})
    assert directories.get_directory(session, tenant.id, "board").id == board.id
    assert directories.get_directory(session, tenant.id, f" {board.id.upper()} ").id == board.id

    def names(query: str | None) -> list[str]:
        return [d.name for d in directories.search_directories(session, tenant.id, query)]

    assert names(None) == ["Board", "Contractors"]
    assert names("TRACT") == ["Contractors"]
    assert names(board.id.upper()) == ["Board"]
    assert names("\x00") == []

    other = create_tenant(session, Actor.local_admin(), "other")
    with pytest.raises(NotFound, match="directory service 'Board' not found"):
        directories.get_directory(session, other.id, "Board")
    with pytest.raises(NotFound):
        directories.get_directory(session, other.id, board.id)
    assert directories.search_directories(session, other.id) == []
    directories.create_directory(session, other.id, STATIC)  # names are per tenant


def test_edit_is_partial_validated_and_keeps_the_type(session: Session, tenant: Tenant) -> None:
    board = directories.create_directory(session, tenant.id, STATIC)
    directories.update_directory(session, tenant.id, "Board", {"name": "The board"})
    settings = directories.settings_of(board)
    assert (settings.name, len(settings.entries)) == ("The board", 2)
    directories.update_directory(session, tenant.id, board.id, {"entries": "carol@example.com"})
    assert [e.address for e in directories.settings_of(board).entries] == ["carol@example.com"]
    with pytest.raises(InvalidInput, match="type: cannot be changed"):
        directories.update_directory(session, tenant.id, board.id, {"type": "ldap"})
    with pytest.raises(InvalidInput, match="line 2: 'x' is not an e-mail address"):
        directories.update_directory(session, tenant.id, board.id, {"entries": "a@example.com\nx"})


def test_delete_is_refused_while_a_profile_uses_it(runtime: Runtime, tenant: Tenant, slapd: Slapd) -> None:
    bind_secret(runtime, tenant, slapd)
    create(runtime, tenant, ldap_fields(slapd))
    profile = {
        "name": "Everyone",
        "type": "imap",
        "mode": "multiple",
        "server_name": "mail.example.test",
        "protocol": "IMAP-SSL",
        "secret_id": "LDAP bind",
        "directory_service_id": "head office",
    }
    with runtime.transaction() as session:
        profiles.create_profile(session, tenant.id, profile)
    with runtime.transaction() as session, pytest.raises(InUse, match="used by profile 'Everyone'"):
        directories.delete_directory(session, tenant.id, "Head office")
    with runtime.transaction() as session:
        data = directories.directory_to_dict(session, directories.get_directory(session, tenant.id, "Head office"))
        assert (data["used_by"], data["deletable"]) == (["profile 'Everyone'"], False)
        profiles.delete_profile(session, tenant.id, "Everyone")
        directories.delete_directory(session, tenant.id, "Head office")
        with pytest.raises(NotFound):
            directories.get_directory(session, tenant.id, "Head office")


def test_list_mailboxes_reads_the_real_directory(runtime: Runtime, tenant: Tenant, slapd: Slapd) -> None:
    bind_secret(runtime, tenant, slapd)
    create(runtime, tenant, ldap_fields(slapd))
    listing = directories.list_mailboxes(runtime, tenant.id, "head office")
    assert [m.address for m in listing.mailboxes][:2] == ["disabled@example.test", "user01@example.test"]
    assert (len(listing.mailboxes), listing.duplicates, len(listing.invalid)) == (USERS + 1, 1, 1)
    create(runtime, tenant, STATIC)
    assert [m.address for m in directories.list_mailboxes(runtime, tenant.id, "Board").mailboxes] == [
        "anna@example.com",
        "bob@example.com",
    ]


def test_synchronize_users_is_a_process_that_creates_archive_mailboxes(
    runtime: Runtime, tenant: Tenant, slapd: Slapd
) -> None:
    bind_secret(runtime, tenant, slapd)
    directory_id = create(runtime, tenant, ldap_fields(slapd))["id"]
    first = directories.synchronize_users(runtime, tenant.id, "Head office")
    assert first.status is ProcessStatus.SUCCEEDED
    assert (first.read, first.mailboxes, first.created, first.duplicates, first.invalid) == (
        USERS + 3,
        USERS + 1,
        USERS + 1,
        1,
        1,
    )
    with runtime.transaction() as session:
        mailboxes = session.scalars(select(ArchiveMailbox).where(ArchiveMailbox.tenant_id == tenant.id)).all()
        assert len(mailboxes) == USERS + 1
        assert next(m for m in mailboxes if m.address == "user03@example.test").display_name == "User 03"
    log = log_of(runtime, tenant, first.request_id)
    assert (log["type"], log["status"], log["max_severity"]) == (ProcessType.DIRECTORY_SYNC, "succeeded", "warning")
    assert (log["configuration_id"], log["configuration_name"]) == (directory_id, "Head office")
    texts = [m["text"] for m in log["messages"]]
    assert texts[0].startswith("synchronizing users of 'Head office'")
    assert any("left out:" in t and "not-an-address" in t for t in texts)
    assert texts[-1] == (
        f"done: {USERS + 3} entries read, {USERS + 1} mailboxes ({USERS + 1} new archive mailboxes), "
        "1 duplicates dropped, 1 without a valid address"
    )
    again = directories.synchronize_users(runtime, tenant.id, directory_id)
    assert (again.status, again.created, again.mailboxes) == (ProcessStatus.SUCCEEDED, 0, USERS + 1)


def test_a_failing_directory_sync_is_a_failed_process_with_the_servers_words(
    runtime: Runtime, tenant: Tenant, slapd: Slapd
) -> None:
    bind_secret(runtime, tenant, slapd, password="wrong")
    create(runtime, tenant, ldap_fields(slapd))
    result = directories.synchronize_users(runtime, tenant.id, "Head office")
    assert result.status is ProcessStatus.FAILED
    assert result.error is not None and "invalidCredentials (49)" in result.error
    log = log_of(runtime, tenant, result.request_id)
    assert (log["status"], log["max_severity"]) == ("failed", "error")
    assert "bind: the server refused the bind" in log["messages"][-1]["text"]
    with pytest.raises(SourceAuthFailed):
        directories.list_mailboxes(runtime, tenant.id, "Head office")


def test_the_connection_test_is_kept_in_the_process_log(runtime: Runtime, tenant: Tenant, slapd: Slapd) -> None:
    bind_secret(runtime, tenant, slapd)
    create(runtime, tenant, ldap_fields(slapd))
    result = directories.check_directory(runtime, tenant.id, "Head office")
    assert result.ok, result.as_text()
    assert [s.name for s in result.steps] == ["connect", "starttls", "bind", "search"]
    log = log_of(runtime, tenant, result.request_id)
    assert (log["type"], log["status"]) == ("connection-test", "succeeded")
    assert [m["text"].split(":")[0] for m in log["messages"]][1:] == [
        "Connection",
        "TLS (StartTLS)",
        "Bind",
        "Search",
    ]
