"""Directory services: field rules per type, static lists from CSV, and cleaning what a directory lists."""

from __future__ import annotations

from typing import Any

import pytest

from postroom.domain.directory import (
    DEFAULT_FILTER,
    DirectoryType,
    LdapSecurity,
    apply_changes,
    validate_new_directory,
)
from postroom.domain.mailbox_list import (
    DirectoryEntry,
    StaticEntry,
    clean_listing,
    normalise_address,
    parse_static_csv,
)
from postroom.errors import InvalidInput
from postroom.testing.certificates import self_signed

LDAP = {"name": "Head office", "type": "ldap", "server_name": "dc1.example.com", "base_dn": "dc=example,dc=com"}


def errors_of(raw: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        validate_new_directory(raw)
    return {e.field: e.message for e in caught.value.errors}


def test_ldap_defaults() -> None:
    settings = validate_new_directory(LDAP)
    assert settings.type is DirectoryType.LDAP
    assert (settings.security, settings.port) == (LdapSecurity.STARTTLS, 389)
    assert (settings.filter, settings.mail_attribute, settings.display_name_attribute) == (
        DEFAULT_FILTER,
        "mail",
        "displayName",
    )
    assert (settings.page_size, settings.effective_timeout(), settings.tls_trusted_ca) == (500, 30, None)
    assert validate_new_directory({**LDAP, "security": "LDAPS"}).port == 636
    assert validate_new_directory({**LDAP, "security": "none", "port": "3268"}).port == 3268


def test_to_dict_round_trips() -> None:
    settings = validate_new_directory({**LDAP, "timeout": 0, "page_size": 3, "filter": "(uid=*)"})
    assert validate_new_directory(settings.to_dict()) == settings
    static = validate_new_directory({"name": "List", "type": "static", "entries": "a@example.com,Anna"})
    assert validate_new_directory(static.to_dict()) == static


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("server_name", "ldap://dc1.example.com", "without ldap://"),
        ("server_name", "ldaps://dc1.example.com:636", "without ldap://"),
        ("server_name", "dc1.example.com:389", "without port"),
        ("server_name", "dc1 example.com", "must not contain spaces"),
        ("server_name", "dc1.example.com/x", "without a path"),
        ("server_name", "-bad-.example", "host name"),
        ("port", 0, "between 1 and 65535"),
        ("port", 65536, "between 1 and 65535"),
        ("port", "389x", "between 1 and 65535"),
        ("security", "ssl", "none, starttls or ldaps"),
        ("timeout", -1, "between 0 and"),
        ("base_dn", "example.com", "distinguished name like dc=example,dc=com"),
        ("base_dn", "dc=", "distinguished name"),
        ("filter", "mail=*", "wrap it in parentheses, e.g. (mail=*)"),
        ("filter", "(&(mail=*)(uid=a)", "( without its )"),
        ("filter", "(mail=*))", ") without its ("),
        ("filter", "(a=b)(c=d)", "not a valid LDAP filter"),
        ("filter", "(=x)", "without an attribute name"),
        ("mail_attribute", "e mail", "name of the LDAP attribute"),
        ("display_name_attribute", "display_name", "name of the LDAP attribute"),
        ("page_size", 0, "between 1 and 10000"),
        ("page_size", 10001, "between 1 and 10000"),
        ("tls_trusted_ca", "not a certificate", "PEM text"),
        ("entries", "a@example.com", "not used by LDAP / Active Directory"),
        ("colour", "red", "unknown field"),
    ],
)
def test_ldap_rules_say_what_to_fix(field: str, value: object, says: str) -> None:
    assert says in errors_of({**LDAP, field: value})[field]


def test_every_broken_rule_at_once_and_required_fields() -> None:
    errors = errors_of({"type": "ldap", "port": 0, "filter": "x"})
    assert set(errors) == {"name", "server_name", "port", "base_dn", "filter"}
    assert errors["server_name"].startswith("is required")
    assert "must be one of: ldap, static" in errors_of({"name": "x", "type": "nis"})["type"]
    assert errors_of({"name": "x"})["type"].startswith("is required")


def test_values_are_cleaned() -> None:
    settings = validate_new_directory(
        {**LDAP, "server_name": " [::1] ", "base_dn": "OU=Staff, DC=Example , DC=com", "filter": " (uid=*) "}
    )
    assert (settings.server_name, settings.base_dn, settings.filter) == ("::1", "OU=Staff,DC=Example,DC=com", "(uid=*)")
    active_directory = "(&(objectCategory=person)(mail=*)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))"
    assert validate_new_directory({**LDAP, "filter": active_directory}).filter == active_directory


def test_trusted_ca_is_certificates_only() -> None:
    cert, key = self_signed("Example Root CA", ca=True)
    assert validate_new_directory({**LDAP, "tls_trusted_ca": cert}).tls_trusted_ca == cert
    assert "private key" in errors_of({**LDAP, "tls_trusted_ca": cert + key})["tls_trusted_ca"]


def test_static_takes_no_ldap_fields() -> None:
    errors = errors_of({"name": "List", "type": "static", "server_name": "x", "secret_id": "s"})
    assert errors == {
        "secret_id": "not used by Static list directory services",
        "server_name": "not used by Static list directory services",
    }
    assert validate_new_directory({"name": "Empty", "type": "static"}).entries == ()


def test_edit_keeps_the_type_and_follows_the_security_default_port() -> None:
    current = validate_new_directory(LDAP)
    assert apply_changes(current, {"security": "ldaps"}).port == 636
    assert apply_changes(validate_new_directory({**LDAP, "port": 1389}), {"security": "ldaps"}).port == 1389
    assert apply_changes(current, {"filter": None}).filter == DEFAULT_FILTER  # cleared: the default again
    assert apply_changes(current, {"type": "LDAP", "name": "Renamed"}).name == "Renamed"
    with pytest.raises(InvalidInput, match="type: cannot be changed"):
        apply_changes(current, {"type": "static"})
    with pytest.raises(InvalidInput, match="base_dn: is required"):
        apply_changes(current, {"base_dn": ""})


# --- static lists --------------------------------------------------------------------------------

CSV_CASES = [
    # text, entries
    ("anna@example.com", [("anna@example.com", None)]),
    ("anna@Example.COM, Anna Smith\n\n# a comment\nbob@example.com,", [
        ("anna@example.com", "Anna Smith"), ("bob@example.com", None)
    ]),
    ("Email;Name\nanna@example.com;Anna", [("anna@example.com", "Anna")]),
    ("\ufeffName,E-mail,Department\nAnna,anna@example.com,Sales", [("anna@example.com", "Anna")]),
    ("E-mail,Department,Display Name\nanna@example.com,Sales,Anna", [("anna@example.com", "Anna")]),
    ('address,display_name\n"smith@example.com","Smith, Anna"', [("smith@example.com", "Smith, Anna")]),
    ("address\tdisplay name\nanna@example.com\tAnna", [("anna@example.com", "Anna")]),
    ("", []),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), CSV_CASES)
def test_static_csv(text: str, expected: list[tuple[str, str | None]]) -> None:
    assert parse_static_csv(text) == tuple(StaticEntry(a, n) for a, n in expected)


def test_static_csv_reports_every_bad_line_in_order() -> None:
    text = "a@example.com,A\nnope,B\nA@EXAMPLE.com\n,no address\nc@example.com,C,extra\nd@example.com,D\x07"
    with pytest.raises(InvalidInput) as caught:
        parse_static_csv(text)
    assert [e.message for e in caught.value.errors] == [
        "line 2: 'nope' is not an e-mail address like user@example.com",
        "line 3: A@example.com is listed already (line 1)",
        "line 4: the address is missing",
        "line 5: has 3 columns; give address,display name (or a header)",
        "line 6: display name must not contain control characters (such as tabs or line breaks)",
    ]
    assert {e.field for e in caught.value.errors} == {"entries"}


def test_static_entries_as_a_list() -> None:
    settings = validate_new_directory(
        {"name": "L", "type": "static", "entries": ["a@example.com", {"address": "b@example.com", "display_name": "B"}]}
    )
    assert settings.entries == (StaticEntry("a@example.com"), StaticEntry("b@example.com", "B"))
    with pytest.raises(InvalidInput, match="entry 2: must be an address"):
        validate_new_directory({"name": "L", "type": "static", "entries": ["a@example.com", 5]})


# --- what a directory lists ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [("Anna.Smith@Example.COM", "Anna.Smith@example.com"), ("  bob@example.com ", "bob@example.com")],
)
def test_normalise_address(raw: str, normalised: str) -> None:
    assert normalise_address(raw) == normalised


@pytest.mark.parametrize("bad", ["", "anna", "anna@", "@example.com", "a b@example.com", "a@b@example.com"])
def test_normalise_address_refuses(bad: str) -> None:
    with pytest.raises(InvalidInput):
        normalise_address(bad)


def test_clean_listing_normalises_drops_duplicates_and_reports_invalid() -> None:
    listing = clean_listing(
        [
            DirectoryEntry("zed@Example.com", "Zed", "id-1"),
            DirectoryEntry("anna@example.com", "Anna", "id-2"),
            DirectoryEntry("ANNA@EXAMPLE.COM", "Anna again", "id-3"),
            DirectoryEntry("", None, "uid=nomail,ou=People"),
            DirectoryEntry("not-an-address", "Broken", "id-5"),
        ]
    )
    assert [(m.address, m.display_name, m.external_id) for m in listing.mailboxes] == [
        ("anna@example.com", "Anna", "id-2"),
        ("zed@example.com", "Zed", "id-1"),
    ]
    assert (listing.read, listing.duplicates) == (5, 1)
    assert listing.invalid == [
        "uid=nomail,ou=People: has no e-mail address",
        "id-5: 'not-an-address' is not a valid e-mail address",
    ]
    assert listing.to_dict()["count"] == 2
