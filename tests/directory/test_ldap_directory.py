"""The LDAP directory against a real OpenLDAP slapd: paging, TLS trust, bind and search errors."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import ldap3
import pytest

from postroom.domain.connection_test import StepStatus
from postroom.domain.directory import DirectorySettings, validate_new_directory
from postroom.domain.mailbox_list import clean_listing
from postroom.errors import SourceAuthFailed, SourceError
from postroom.sources.directory.ldap import LdapDirectory
from postroom.sources.directory.registry import open_directory
from postroom.testing.processes import free_port
from postroom.testing.slapd import Slapd
from tests.directory.servers import SIZE_LIMIT, USERS


def settings(server: Slapd, **changes: Any) -> DirectorySettings:
    raw: dict[str, Any] = {
        "name": "Test LDAP",
        "type": "ldap",
        "server_name": server.host,
        "port": server.port,
        "security": "none",
        "base_dn": server.base_dn,
        "page_size": 3,
        "timeout": 10,
    }
    return validate_new_directory(raw | changes)


def bound(server: Slapd, **changes: Any) -> LdapDirectory:
    secret = {"username": server.bind_dn, "password": server.bind_password}
    directory = open_directory(settings(server, **changes), secret)
    assert isinstance(directory, LdapDirectory)
    return directory


def test_the_server_caps_a_search_below_the_user_count(slapd: Slapd) -> None:
    """Without paging the directory would be cut short: what a paged search is for."""
    conn = ldap3.Connection(slapd.url, slapd.bind_dn, slapd.bind_password, auto_bind=True)
    try:
        conn.search(slapd.base_dn, "(mail=*)", attributes=["mail"])
        assert conn.result["description"] == "sizeLimitExceeded"
        assert len(conn.entries) == SIZE_LIMIT
    finally:
        conn.unbind()


def test_paged_search_lists_every_user_past_the_server_limit(slapd: Slapd) -> None:
    directory = bound(slapd)
    entries = list(directory.mailboxes())
    assert directory.pages >= 5  # 3 per page
    listing = clean_listing(entries)
    expected = {*slapd.user_addresses(), "disabled@example.test"}
    assert {m.address for m in listing.mailboxes} == expected
    assert listing.read == USERS + 3  # + disabled, shouty (a duplicate in other case), broken
    assert listing.duplicates == 1
    assert len(listing.invalid) == 1 and "'not-an-address' is not a valid e-mail address" in listing.invalid[0]
    anna = next(m for m in listing.mailboxes if m.address == "user01@example.test")
    assert anna.display_name == "User 01"
    assert len(anna.external_id) == 36  # the entryUUID, stable across renames


def test_filter_and_attributes_are_the_directorys_own(slapd: Slapd) -> None:
    directory = bound(
        slapd,
        filter="(&(objectClass=inetOrgPerson)(mail=*)(!(employeeType=disabled)))",
        display_name_attribute="uid",
        page_size=100,
    )
    listing = clean_listing(directory.mailboxes())
    assert "disabled@example.test" not in {m.address for m in listing.mailboxes}
    assert next(m for m in listing.mailboxes if m.address == "user02@example.test").display_name == "user02"
    by_uid = clean_listing(bound(slapd, mail_attribute="uid", filter="(uid=user0*)").mailboxes())
    assert by_uid.mailboxes == [] and len(by_uid.invalid) == 9  # uid is not an address: reported, not raised


def test_a_wrong_password_gives_the_servers_answer(slapd: Slapd) -> None:
    directory = open_directory(settings(slapd), {"username": slapd.bind_dn, "password": "wrong"})
    with pytest.raises(SourceAuthFailed) as caught:
        list(directory.mailboxes())
    assert caught.value.step == "bind"
    assert caught.value.raw == "invalidCredentials (49)"
    test = directory.test()
    assert [s.status for s in test.steps] == [StepStatus.OK, StepStatus.FAILED, StepStatus.SKIPPED]
    assert test.failed_step is not None and test.failed_step.error == "invalidCredentials (49)"
    assert "its username is the bind DN" in (test.failed_step.hint or "")


def test_an_unknown_bind_dn_is_refused_too(slapd: Slapd) -> None:
    secret = {"username": f"cn=nobody,{slapd.base_dn}", "password": "x"}
    with pytest.raises(SourceAuthFailed, match="invalidCredentials"):
        list(open_directory(settings(slapd), secret).mailboxes())


def test_anonymous_may_read_nothing_here(slapd: Slapd) -> None:
    test = open_directory(settings(slapd), {}).test()
    assert test.account == "(anonymous)"
    assert test.failed_step is not None and test.failed_step.name == "search"
    assert (test.failed_step.error or "").startswith("noSuchObject (32)")  # the ACL hides even the base


def test_a_bad_filter_fails_the_search_step(slapd: Slapd) -> None:
    # Past the settings' own check (say a hand-edited row): ldap3 refuses it before sending.
    unchecked = dataclasses.replace(settings(slapd), filter="(&(mail=*)")
    directory = LdapDirectory(unchecked, {"username": slapd.bind_dn, "password": slapd.bind_password})
    with pytest.raises(SourceError) as caught:
        list(directory.mailboxes())
    assert caught.value.step == "search" and "invalid filter" in (caught.value.raw or "")


def test_a_base_dn_that_does_not_exist_gives_the_servers_answer(slapd: Slapd) -> None:
    with pytest.raises(SourceError) as caught:
        list(bound(slapd, base_dn="ou=Nowhere,dc=example,dc=test").mailboxes())
    assert caught.value.step == "search" and (caught.value.raw or "").startswith("noSuchObject (32)")


@pytest.mark.parametrize("security", ["starttls", "ldaps"])
def test_tls_with_the_test_ca(slapd: Slapd, security: str) -> None:
    port = slapd.ldaps_port if security == "ldaps" else slapd.port
    directory = bound(slapd, security=security, port=port, tls_trusted_ca=slapd.ca_pem)
    test = directory.test()
    assert test.ok, test.as_text()
    assert [s.name for s in test.steps] == (
        ["connect", "starttls", "bind", "search"] if security == "starttls" else ["connect", "bind", "search"]
    )
    assert len(clean_listing(directory.mailboxes()).mailboxes) == USERS + 1


@pytest.mark.parametrize("security", ["starttls", "ldaps"])
def test_tls_is_verified_never_accepted_blindly(slapd: Slapd, security: str) -> None:
    port = slapd.ldaps_port if security == "ldaps" else slapd.port
    directory = bound(slapd, security=security, port=port)  # the test CA is not trusted
    test = directory.test()
    failed = test.failed_step
    assert failed is not None and failed.name == ("starttls" if security == "starttls" else "connect")
    assert "CERTIFICATE_VERIFY_FAILED" in (failed.error or "")
    assert "add its CA to tls_trusted_ca" in (failed.hint or "")
    with pytest.raises(SourceError, match="CERTIFICATE_VERIFY_FAILED"):
        list(directory.mailboxes())


def test_a_certificate_from_another_ca_is_refused() -> None:
    with Slapd(users=1, untrusted_certificate=True) as other:
        directory = bound(other, security="ldaps", port=other.ldaps_port, tls_trusted_ca=other.ca_pem)
        failed = directory.test().failed_step
        assert failed is not None and "CERTIFICATE_VERIFY_FAILED" in (failed.error or "")


def test_nothing_listening_fails_the_connect_step(slapd: Slapd) -> None:
    test = bound(slapd, port=free_port(), timeout=2).test()
    assert test.failed_step is not None and test.failed_step.name == "connect"
    assert "check server_name and port" in (test.failed_step.hint or "")


def test_slapd_is_stopped_by_its_pid() -> None:
    server = Slapd(users=1).start()
    pid = server.pid
    server.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
