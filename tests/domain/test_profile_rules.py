"""Folder-synchronization profile rules (seed 002): fields per type and mode, values, edits."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postroom.domain.delete_policy import DeletePolicy, DeleteWhen, SpanUnit, parse_delete_policy, parse_span
from postroom.domain.profile import (
    DEFAULT_TIMEOUT_SECONDS,
    MAX_TIMEOUT_SECONDS,
    ImapProtocol,
    Mode,
    ProfileSettings,
    ProfileType,
    allowed_secret_kinds,
    apply_changes,
    fields_for,
    required_fields,
    validate_new_profile,
)
from postroom.domain.secret import SecretKind
from postroom.errors import FieldError, InvalidInput
from postroom.testing.certificates import self_signed

APP_ID = "11111111-2222-3333-4444-555555555555"
TENANT_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


CA_PEM, CA_KEY_PEM = self_signed("Example Root CA", ca=True)
SERVER_PEM, _ = self_signed("mail.example.com", ca=False)  # self-signed servers are common
FINGERPRINT = "0123456789abcdef" * 4

VALID: dict[str, dict[str, Any]] = {
    "imap-single": {
        "name": "Sales IMAP",
        "type": "imap",
        "mode": "single",
        "mailbox": "sales@example.com",
        "server_name": "mail.example.com",
        "protocol": "IMAP-SSL",
        "secret_id": "sec-imap",
    },
    "imap-multiple": {
        "name": "All IMAP",
        "type": "imap",
        "mode": "multiple",
        "directory_service_id": "dir-1",
        "server_name": "mail.example.com",
        "protocol": "IMAP-TLS",
        "secret_id": "sec-imap",
    },
    "exchange-single": {
        "name": "Exchange",
        "type": "exchange",
        "mode": "single",
        "mailbox": "boss@example.com",
        "server_name": "exchange.example.com",
        "secret_id": "sec-ex",
    },
    "exchange-own-ca": {
        "name": "Exchange on premises",
        "type": "exchange",
        "mode": "single",
        "mailbox": "boss@example.com",
        "server_name": "exchange.example.com",
        "secret_id": "sec-ex",
        "tls_trusted_ca": CA_PEM,
        "tls_fingerprint": FINGERPRINT,
    },
    "m365-single": {
        "name": "M365",
        "type": "microsoft365",
        "mode": "single",
        "mailbox": "user@contoso.com",
        "application_id": APP_ID,
        "directory_id": TENANT_ID,
        "secret_id": "sec-cert",
    },
    "m365-multiple": {
        "name": "M365 all",
        "type": "microsoft365",
        "mode": "multiple",
        "directory_service_id": "entra",
        "synchronize_users": True,
        "application_id": APP_ID,
        "directory_id": TENANT_ID,
        "secret_id": "sec-cert",
    },
    "google-single": {
        "name": "Google",
        "type": "google-workspace",
        "mode": "single",
        "mailbox": "user@example.org",
        "source_mailbox": "shared@example.org",
        "secret_id": "sec-google",
    },
    "google-multiple": {
        "name": "Google all",
        "type": "google-workspace",
        "mode": "multiple",
        "directory_service_id": "gdir",
        "secret_id": "sec-google",
    },
    "outlook-single": {"name": "My Outlook.com", "type": "outlook-com", "mode": "single"},
}


def raw(base: str, **changes: object) -> dict[str, Any]:
    return {**VALID[base], **changes}


def rejected(values: dict[str, Any]) -> list[FieldError]:
    with pytest.raises(InvalidInput) as caught:
        validate_new_profile(values)
    return caught.value.errors


def assert_rejects(values: dict[str, Any], field: str, *rule_words: str) -> None:
    errors = [e for e in rejected(values) if e.field == field]
    assert errors, f"no error for {field}"
    for word in rule_words:
        assert any(word in e.message for e in errors), (word, errors)


# --- types, modes and their fields -----------------------------------------------------------


@pytest.mark.parametrize("base", VALID)
def test_valid_profiles_are_accepted_and_round_trip_through_to_dict(base: str) -> None:
    profile = validate_new_profile(VALID[base])
    assert validate_new_profile(profile.to_dict()) == profile
    assert json.loads(json.dumps(profile.to_dict())) == profile.to_dict()


@pytest.mark.parametrize(
    ("type_", "label"),
    [
        (ProfileType.IMAP, "IMAP"),
        (ProfileType.EXCHANGE, "Exchange Server"),
        (ProfileType.MICROSOFT365, "Microsoft 365"),
        (ProfileType.GOOGLE_WORKSPACE, "Google Workspace"),
        (ProfileType.OUTLOOK_COM, "Microsoft Outlook.com"),
    ],
)
def test_type_labels(type_: ProfileType, label: str) -> None:
    assert type_.label == label


COMMON = {"name", "type", "mode", "delete_policy", "secret_id"}
TLS = {"tls_trusted_ca", "tls_fingerprint"}


@pytest.mark.parametrize(
    ("type_", "mode", "fields", "required"),
    [
        (
            ProfileType.IMAP,
            Mode.SINGLE,
            COMMON | TLS | {"mailbox", "server_name", "port", "protocol", "timeout"},
            {"name", "type", "mode", "secret_id", "mailbox", "server_name", "protocol"},
        ),
        (
            ProfileType.IMAP,
            Mode.MULTIPLE,
            COMMON | TLS | {"directory_service_id", "synchronize_users", "server_name", "port", "protocol", "timeout"},
            {"name", "type", "mode", "secret_id", "directory_service_id", "server_name", "protocol"},
        ),
        (
            ProfileType.EXCHANGE,
            Mode.SINGLE,
            COMMON | TLS | {"mailbox", "server_name", "timeout"},
            {"name", "type", "mode", "secret_id", "mailbox", "server_name"},
        ),
        (
            ProfileType.MICROSOFT365,
            Mode.SINGLE,
            COMMON | {"mailbox", "source_mailbox", "application_id", "directory_id"},
            {"name", "type", "mode", "secret_id", "mailbox", "application_id", "directory_id"},
        ),
        (
            ProfileType.MICROSOFT365,
            Mode.MULTIPLE,
            COMMON | {"directory_service_id", "synchronize_users", "application_id", "directory_id"},
            {"name", "type", "mode", "secret_id", "directory_service_id", "application_id", "directory_id"},
        ),
        (
            ProfileType.GOOGLE_WORKSPACE,
            Mode.SINGLE,
            COMMON | {"mailbox", "source_mailbox"},
            {"name", "type", "mode", "secret_id", "mailbox"},
        ),
        (
            ProfileType.GOOGLE_WORKSPACE,
            Mode.MULTIPLE,
            COMMON | {"directory_service_id", "synchronize_users"},
            {"name", "type", "mode", "secret_id", "directory_service_id"},
        ),
        (ProfileType.OUTLOOK_COM, Mode.SINGLE, COMMON | {"mailbox"}, {"name", "type", "mode"}),
    ],
)
def test_fields_per_type_and_mode(type_: ProfileType, mode: Mode, fields: set[str], required: set[str]) -> None:
    assert fields_for(type_, mode) == fields
    assert required_fields(type_, mode) == required


@pytest.mark.parametrize(
    ("type_", "kinds"),
    [
        (ProfileType.IMAP, {SecretKind.BASIC, SecretKind.OAUTH}),
        (ProfileType.EXCHANGE, {SecretKind.BASIC}),
        (ProfileType.MICROSOFT365, {SecretKind.CERTIFICATE}),
        (ProfileType.GOOGLE_WORKSPACE, {SecretKind.GOOGLE_SERVICE_ACCOUNT}),
        (ProfileType.OUTLOOK_COM, {SecretKind.OAUTH}),
    ],
)
def test_allowed_secret_kinds(type_: ProfileType, kinds: set[SecretKind]) -> None:
    assert allowed_secret_kinds(type_) == kinds


@pytest.mark.parametrize(
    ("base", "field"),
    [
        (base, field)
        for base, values in VALID.items()
        for field in sorted(required_fields(ProfileType(values["type"]), Mode(values["mode"])) - {"type", "mode"})
    ],
)
def test_each_required_field_is_required(base: str, field: str) -> None:
    assert_rejects(raw(base, **{field: ""}), field, "is required")
    values = raw(base)
    del values[field]
    assert_rejects(values, field, "is required")


@pytest.mark.parametrize(
    ("values", "field", "rule"),
    [
        ({"name": "x", "mode": "single"}, "type", "is required: one of: imap, exchange"),
        ({"name": "x", "type": "imap"}, "mode", "is required: single or multiple"),
        (raw("imap-single", type="pop3"), "type", "must be one of: imap, exchange, microsoft365"),
        (raw("imap-single", mode="both"), "mode", "must be single or multiple"),
        (
            raw("outlook-single", mode="multiple"),
            "mode",
            "Microsoft Outlook.com profiles are single-mailbox only",
        ),
        (raw("imap-single", colour="blue"), "colour", "unknown field"),
        (raw("imap-single", mailbox=None), "mailbox", "is required in single-mailbox mode"),
        (raw("imap-multiple", directory_service_id=""), "directory_service_id", "multiple-mailbox mode"),
        (raw("exchange-single", secret_id=None), "secret_id", "is required for Exchange Server profiles"),
    ],
)
def test_type_and_mode_rules(values: dict[str, Any], field: str, rule: str) -> None:
    assert_rejects(values, field, rule)


def test_outlook_multiple_is_rejected_once_even_with_a_directory_service() -> None:
    errors = rejected(raw("outlook-single", mode="multiple", directory_service_id="dir-1"))
    assert [e.field for e in errors] == ["mode"]


def test_outlook_mailbox_and_secret_are_optional_until_authorized() -> None:
    profile = validate_new_profile(VALID["outlook-single"])
    assert (profile.mailbox, profile.secret_id) == (None, None)
    authorized = validate_new_profile(raw("outlook-single", mailbox="me@outlook.com", secret_id="oauth-1"))
    assert (authorized.mailbox, authorized.secret_id) == ("me@outlook.com", "oauth-1")


@pytest.mark.parametrize(
    ("base", "field", "value", "rule"),
    [
        ("imap-single", "application_id", APP_ID, "not used by IMAP profiles"),
        ("imap-single", "source_mailbox", "x@example.com", "not used by IMAP profiles"),
        ("m365-single", "port", "993", "not used by Microsoft 365 profiles"),
        ("m365-single", "server_name", "mail.example.com", "not used by Microsoft 365 profiles"),
        ("m365-single", "timeout", 30, "not used by Microsoft 365 profiles"),
        ("exchange-single", "protocol", "IMAP-SSL", "not used by Exchange Server profiles"),
        ("exchange-single", "port", 443, "not used by Exchange Server profiles"),
        ("google-single", "timeout", "30", "not used by Google Workspace profiles"),
        ("m365-single", "tls_trusted_ca", CA_PEM, "not used by Microsoft 365 profiles"),
        ("m365-multiple", "tls_fingerprint", FINGERPRINT, "not used by Microsoft 365 profiles"),
        ("google-single", "tls_fingerprint", FINGERPRINT, "not used by Google Workspace profiles"),
        ("outlook-single", "tls_trusted_ca", CA_PEM, "not used by Microsoft Outlook.com profiles"),
        (
            "outlook-single",
            "server_name",
            "outlook.office365.com",
            "not used by Microsoft Outlook.com profiles",
        ),
        ("imap-single", "directory_service_id", "dir-1", "only used in multiple-mailbox mode"),
        ("imap-single", "synchronize_users", "true", "only used in multiple-mailbox mode"),
        ("imap-multiple", "mailbox", "x@example.com", "only used in single-mailbox mode"),
        ("m365-multiple", "source_mailbox", "x@example.com", "only used in single-mailbox mode"),
    ],
)
def test_values_for_unused_fields_are_rejected(base: str, field: str, value: object, rule: str) -> None:
    assert_rejects(raw(base, **{field: value}), field, rule)


@pytest.mark.parametrize(
    ("base", "field", "value"),
    [
        ("m365-single", "port", ""),
        ("m365-single", "server_name", None),
        ("imap-single", "synchronize_users", False),
        ("imap-single", "synchronize_users", "false"),
        ("imap-multiple", "mailbox", "  "),
    ],
)
def test_empty_values_for_unused_fields_are_ignored(base: str, field: str, value: object) -> None:
    assert validate_new_profile(raw(base, **{field: value})) == validate_new_profile(VALID[base])


def test_all_errors_are_reported_at_once() -> None:
    errors = rejected(raw("imap-single", port="abc", server_name="imaps://mail.example.com", timeout=-5))
    assert [e.field for e in errors] == ["server_name", "port", "timeout"]
    assert "; ".join(map(str, errors)).startswith("server_name: enter the host name only")


def test_an_empty_form_names_what_is_missing() -> None:
    assert [e.field for e in rejected({})] == ["name", "type", "mode"]


# --- values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "cleaned"),
    [(" Sales ", "Sales"), ("Ünïcödé", "Ünïcödé"), ("n" * 100, "n" * 100)],
)
def test_name_accepted(value: str, cleaned: str) -> None:
    assert validate_new_profile(raw("imap-single", name=value)).name == cleaned


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("   ", "is required"),
        ("n" * 101, "at most 100 characters"),
        ("a\nb", "control characters"),
        (5, "text"),
    ],
)
def test_name_rejected(value: object, rule: str) -> None:
    assert_rejects(raw("imap-single", name=value), "name", rule)


@pytest.mark.parametrize(
    ("protocol", "port", "expected_protocol", "expected_port"),
    [
        ("IMAP-SSL", None, ImapProtocol.SSL, 993),
        ("imap-ssl", "", ImapProtocol.SSL, 993),
        (" IMAP-TLS ", None, ImapProtocol.TLS, 143),
        ("IMAP-TLS", "10143", ImapProtocol.TLS, 10143),
        ("IMAP-SSL", 0, ImapProtocol.SSL, 0),
        ("IMAP-SSL", " 65535 ", ImapProtocol.SSL, 65535),
    ],
)
def test_protocol_and_port_accepted(
    protocol: str, port: object, expected_protocol: ImapProtocol, expected_port: int
) -> None:
    profile = validate_new_profile(raw("imap-single", protocol=protocol, port=port))
    assert (profile.protocol, profile.port) == (expected_protocol, expected_port)


@pytest.mark.parametrize("value", ["IMAP", "ssl", "pop3", "IMAPS", 993])
def test_protocol_rejected(value: object) -> None:
    assert_rejects(raw("imap-single", protocol=value), "protocol", "IMAP-SSL or IMAP-TLS")


@pytest.mark.parametrize("value", [1.5, "1.5", "abc", -1, "-1", 65536, "65536", True, [993], "9 93"])
def test_port_rejected(value: object) -> None:
    assert_rejects(raw("imap-single", port=value), "port", "must be a whole number between 0 and 65535")


@given(st.integers(0, 65535), st.booleans())
def test_any_port_in_range_is_accepted(port: int, as_text: bool) -> None:
    profile = validate_new_profile(raw("imap-single", port=str(port) if as_text else port))
    assert profile.port == port


@given(st.integers(max_value=-1) | st.integers(min_value=65536), st.booleans())
def test_any_port_out_of_range_is_rejected(port: int, as_text: bool) -> None:
    assert_rejects(raw("imap-single", port=str(port) if as_text else port), "port", "between 0 and 65535")


@pytest.mark.parametrize(
    ("value", "stored", "effective"),
    [
        (None, None, DEFAULT_TIMEOUT_SECONDS),
        ("", None, DEFAULT_TIMEOUT_SECONDS),
        (0, 0, 0),
        ("30", 30, 30),
        (MAX_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS),
    ],
)
def test_timeout_accepted(value: object, stored: int | None, effective: int) -> None:
    profile = validate_new_profile(raw("exchange-single", timeout=value))
    assert (profile.timeout, profile.effective_timeout()) == (stored, effective)


@pytest.mark.parametrize("value", [-1, MAX_TIMEOUT_SECONDS + 1, "1.5", 1.5, "sixty", False])
def test_timeout_rejected(value: object) -> None:
    assert_rejects(
        raw("imap-single", timeout=value),
        "timeout",
        "whole number of seconds between 0 and 2147483, or empty for the default (60)",
    )


@given(st.integers(0, MAX_TIMEOUT_SECONDS))
def test_any_timeout_in_range_is_accepted(timeout: int) -> None:
    assert validate_new_profile(raw("imap-single", timeout=timeout)).timeout == timeout


@given(st.integers(max_value=-1) | st.integers(min_value=MAX_TIMEOUT_SECONDS + 1))
def test_any_timeout_out_of_range_is_rejected(timeout: int) -> None:
    assert_rejects(raw("imap-single", timeout=timeout), "timeout", "between 0 and 2147483")


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("mail.example.com", "mail.example.com"),
        (" MAIL.Example.COM ", "MAIL.Example.COM"),
        ("localhost", "localhost"),
        ("mail-01.example.com", "mail-01.example.com"),
        ("mail.example.com.", "mail.example.com."),
        ("a" * 63 + ".example.com", "a" * 63 + ".example.com"),
        ("192.0.2.10", "192.0.2.10"),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:DB8::1]", "2001:db8::1"),
        ("bücher.example", "bücher.example"),
    ],
)
def test_server_name_accepted(value: str, stored: str) -> None:
    assert validate_new_profile(raw("imap-single", server_name=value)).server_name == stored


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("imaps://mail.example.com", "without protocol (imaps://)"),
        ("https://outlook.office365.com/EWS/Exchange.asmx", "without protocol"),
        ("mail.example.com:993", "without port (:993)"),
        ("192.0.2.10:143", "without port"),
        ("[::1]:993", "without port"),
        ("mail.example.com/imap", "without a path"),
        ("mail example.com", "must not contain spaces"),
        ("mail.example.com\tx", "must not contain spaces"),
        ("-mail.example.com", "must be a host name"),
        ("mail-.example.com", "must be a host name"),
        ("mail_1.example.com", "must be a host name"),
        ("mail..example.com", "must be a host name"),
        ("a" * 64 + ".example.com", "must be a host name"),
        ("a." * 127 + "com", "must be a host name"),
        ("1.2.3.999", "must be a host name"),
        ("[mail.example.com]", "must be a host name"),
        ("mail.example.com:", "must be a host name"),
        (993, "must be a host name"),
    ],
)
def test_server_name_rejected(value: object, rule: str) -> None:
    assert_rejects(raw("exchange-single", server_name=value), "server_name", rule)


@pytest.mark.parametrize(
    ("base", "value", "stored"),
    [
        ("imap-single", CA_PEM, CA_PEM),
        ("imap-multiple", SERVER_PEM, SERVER_PEM),  # any certificate, not only a CA's
        ("exchange-single", CA_PEM + SERVER_PEM, CA_PEM + SERVER_PEM),
        ("imap-single", CA_PEM.replace("\n", "\r\n"), CA_PEM),
        (  # what `openssl s_client -showcerts` prints around the certificates is dropped
            "imap-single",
            f"CONNECTED(00000003)\n 0 s:CN = mail.example.com\n{SERVER_PEM}---\n 1 s:CN = Root\n"
            f"   {CA_PEM.replace(chr(10), chr(10) + '   ')}\n---\nServer certificate\n",
            SERVER_PEM + CA_PEM,
        ),
        ("imap-single", "", None),
        ("imap-single", None, None),
    ],
)
def test_tls_trusted_ca_accepted(base: str, value: object, stored: str | None) -> None:
    profile = validate_new_profile(raw(base, tls_trusted_ca=value))
    assert profile.tls_trusted_ca == stored
    assert validate_new_profile(profile.to_dict()) == profile


def test_a_stored_trusted_ca_is_not_parsed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run reads its profile back: the certificates it saved are checked, not parsed (~20 ms)."""
    from cryptography import x509

    profile = validate_new_profile(raw("imap-single", tls_trusted_ca=CA_PEM + SERVER_PEM))

    def no_parsing(data: bytes) -> list[x509.Certificate]:
        raise AssertionError("the stored certificates were parsed again")

    monkeypatch.setattr(x509, "load_pem_x509_certificates", no_parsing)
    assert validate_new_profile(profile.to_dict(), stored=True) == profile
    with pytest.raises(InvalidInput, match="never paste private keys"):
        validate_new_profile(profile.to_dict() | {"tls_trusted_ca": CA_PEM + CA_KEY_PEM}, stored=True)


PRIVATE_KEY_RULE = "never paste private keys; give only the CA certificate(s)"
RSA_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD9\n-----END RSA PRIVATE KEY-----\n"


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("not a certificate", "must be PEM text of the CA certificate(s) to trust for this server"),
        ("MIIB" + "A" * 60, "-----BEGIN CERTIFICATE-----"),
        (42, "must be PEM text"),
        (CA_PEM + CA_KEY_PEM, PRIVATE_KEY_RULE),
        (CA_KEY_PEM, PRIVATE_KEY_RULE),
        (RSA_KEY, "(-----BEGIN RSA PRIVATE KEY-----): never paste private keys"),
        (CA_PEM.replace("MI", "XX", 1), "not a valid X.509 certificate: copy the whole block again"),
        (CA_PEM.rsplit("-----END", 1)[0], "not a valid X.509 certificate"),
        (
            CA_PEM + "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            "contains a PUBLIC KEY block: give only CERTIFICATE blocks",
        ),
        (CA_PEM * 200, "must be at most 100,000 characters"),
        ("-----BEGIN CERTIFICATE-----\n\ud800\n-----END CERTIFICATE-----\n", "not a valid X.509"),
    ],
)
def test_tls_trusted_ca_rejected(value: object, rule: str) -> None:
    assert_rejects(raw("imap-single", tls_trusted_ca=value), "tls_trusted_ca", rule)


@given(st.text(), st.sampled_from(["tls_trusted_ca", "tls_fingerprint"]))
def test_any_tls_text_is_accepted_or_rejected_by_name(text: str, field: str) -> None:
    try:
        validate_new_profile(raw("imap-single", **{field: text}))
    except InvalidInput as exc:
        assert [e.field for e in exc.errors] == [field]


def test_a_pasted_private_key_is_never_echoed_back() -> None:
    [error] = rejected(raw("exchange-single", tls_trusted_ca=CA_PEM + CA_KEY_PEM))
    key_body = CA_KEY_PEM.splitlines()[1]
    assert error.field == "tls_trusted_ca"
    assert key_body not in str(error)


@pytest.mark.parametrize(
    "value",
    [
        FINGERPRINT,
        FINGERPRINT.upper(),
        ":".join(FINGERPRINT[i : i + 2] for i in range(0, 64, 2)).upper(),
        " ".join(FINGERPRINT[i : i + 2] for i in range(0, 64, 2)),
        f"  {FINGERPRINT[:32]}\n{FINGERPRINT[32:]}  ",
        # what `openssl x509 -noout -fingerprint -sha256` prints (OpenSSL 3, then 1.1)
        "sha256 Fingerprint=" + ":".join(FINGERPRINT[i : i + 2] for i in range(0, 64, 2)).upper(),
        "SHA256 Fingerprint=" + FINGERPRINT.upper(),
    ],
)
def test_tls_fingerprint_accepted(value: str) -> None:
    profile = validate_new_profile(raw("imap-single", tls_fingerprint=value))
    assert profile.tls_fingerprint == FINGERPRINT
    assert validate_new_profile(profile.to_dict()) == profile


@pytest.mark.parametrize("value", ["", "  ", None])
def test_an_empty_tls_fingerprint_is_none(value: object) -> None:
    assert validate_new_profile(raw("exchange-single", tls_fingerprint=value)).tls_fingerprint is None


FINGERPRINT_RULE = (
    "must be the SHA-256 fingerprint of the server's certificate, 64 hex digits (colons and spaces allowed): "
    "paste what `openssl s_client -connect host:993 </dev/null | openssl x509 -noout -fingerprint -sha256`"
)


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (FINGERPRINT[:-1], FINGERPRINT_RULE),
        (FINGERPRINT + "0", FINGERPRINT_RULE),
        ("g" + FINGERPRINT[1:], FINGERPRINT_RULE),
        (FINGERPRINT.replace("01", "0-1"), FINGERPRINT_RULE),
        ("md5 Fingerprint=" + FINGERPRINT, FINGERPRINT_RULE),
        (1234, FINGERPRINT_RULE),
        ("AB:" * 19 + "AB", "is a SHA-1 fingerprint (40 hex digits); give the SHA-256 one (64 hex digits)"),
        ("sha1 Fingerprint=" + "ab" * 20, "is a SHA-1 fingerprint"),
    ],
)
def test_tls_fingerprint_rejected(value: object, rule: str) -> None:
    assert_rejects(raw("exchange-single", tls_fingerprint=value), "tls_fingerprint", rule)


@pytest.mark.parametrize(
    ("field", "value", "stored"),
    [
        ("mailbox", "user@contoso.com", "user@contoso.com"),
        ("mailbox", "  first.last+tag@sub.example.co.uk ", "first.last+tag@sub.example.co.uk"),
        ("mailbox", "admin@localhost", "admin@localhost"),
        ("source_mailbox", "shared@contoso.com", "shared@contoso.com"),
        ("source_mailbox", "", None),
    ],
)
def test_mailbox_accepted(field: str, value: str, stored: str | None) -> None:
    assert getattr(validate_new_profile(raw("m365-single", **{field: value})), field) == stored


@pytest.mark.parametrize("field", ["mailbox", "source_mailbox"])
@pytest.mark.parametrize(
    "value",
    [
        "user",
        "user@",
        "@example.com",
        "user@example",
        "us er@example.com",
        "a@b@example.com",
        "u@example..com",
        42,
    ],
)
def test_mailbox_rejected(field: str, value: object) -> None:
    assert_rejects(raw("m365-single", **{field: value}), field, "must be an e-mail address like user@example.com")


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (APP_ID, APP_ID),
        (APP_ID.upper(), APP_ID),
        ("{" + APP_ID + "}", APP_ID),
        (" {" + APP_ID.upper() + "} ", APP_ID),
    ],
)
@pytest.mark.parametrize("field", ["application_id", "directory_id"])
def test_guid_accepted(field: str, value: str, stored: str) -> None:
    assert getattr(validate_new_profile(raw("m365-single", **{field: value})), field) == stored


@pytest.mark.parametrize(
    "value",
    [
        "contoso.onmicrosoft.com",
        APP_ID[:-1],
        APP_ID + "0",
        APP_ID.replace("-", ""),
        "{" + APP_ID,
        APP_ID + "}",
        APP_ID.replace("1", "g"),
        12345,
    ],
)
@pytest.mark.parametrize("field", ["application_id", "directory_id"])
def test_guid_rejected(field: str, value: object) -> None:
    assert_rejects(
        raw("m365-single", **{field: value}),
        field,
        "must be a GUID like 00000000-0000-0000-0000-000000000000",
        "Microsoft Entra ID",
    )


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (True, True),
        (False, False),
        (None, False),
        ("", False),
        (1, True),
        (0, False),
        *[(text, True) for text in ("true", "TRUE", "1", "yes", "on", " On ")],
        *[(text, False) for text in ("false", "0", "no", "off", "Off")],
    ],
)
def test_synchronize_users_accepted(value: object, stored: bool) -> None:
    assert validate_new_profile(raw("m365-multiple", synchronize_users=value)).synchronize_users is stored


@pytest.mark.parametrize("value", ["maybe", "yes please", 2, -1, 1.0, [True]])
def test_synchronize_users_rejected(value: object) -> None:
    assert_rejects(raw("m365-multiple", synchronize_users=value), "synchronize_users", "must be true or false")


@pytest.mark.parametrize("field", ["secret_id", "directory_service_id"])
@pytest.mark.parametrize("value", ["has space", "x" * 101, 7, "nul\x00"])
def test_identifier_rejected(field: str, value: object) -> None:
    assert_rejects(raw("google-multiple", **{field: value}), field, "must be the ID of an existing item")


@pytest.mark.parametrize(
    ("text", "enum_value"),
    [
        ("IMAP", ProfileType.IMAP),
        (" Microsoft365 ", ProfileType.MICROSOFT365),
        ("Single", Mode.SINGLE),
        ("imap-tls", ImapProtocol.TLS),
        ("NEVER", DeleteWhen.NEVER),
        ("day", SpanUnit.DAYS),
        ("Weeks", SpanUnit.WEEKS),
        ("month", SpanUnit.MONTHS),
        ("YEAR", SpanUnit.YEARS),
    ],
)
def test_enums_accept_their_values_case_insensitively(text: str, enum_value: object) -> None:
    assert type(enum_value)(text) is enum_value


# --- delete in source mailbox ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "text"),
    [
        (DeletePolicy(DeleteWhen.NEVER), "never"),
        (DeletePolicy(DeleteWhen.IMMEDIATELY), "immediately after sync"),
        (
            DeletePolicy(DeleteWhen.ARCHIVED_OLDER_THAN, 3, SpanUnit.MONTHS),
            "if archived longer than 3 months",
        ),
        (DeletePolicy(DeleteWhen.MESSAGE_OLDER_THAN, 1, SpanUnit.YEARS), "if message older than 1 year"),
        (DeletePolicy(DeleteWhen.MESSAGE_OLDER_THAN, 1, SpanUnit.DAYS), "if message older than 1 day"),
        (DeletePolicy(DeleteWhen.ARCHIVED_OLDER_THAN, 2, SpanUnit.WEEKS), "if archived longer than 2 weeks"),
    ],
)
def test_delete_policy_text(policy: DeletePolicy, text: str) -> None:
    assert str(policy) == text
    assert parse_delete_policy(policy.to_dict()) == policy


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, DeletePolicy(DeleteWhen.NEVER)),
        ("", DeletePolicy(DeleteWhen.NEVER)),
        ("never", DeletePolicy(DeleteWhen.NEVER)),
        ("Immediately", DeletePolicy(DeleteWhen.IMMEDIATELY)),
        ({"when": "immediately", "amount": None, "unit": ""}, DeletePolicy(DeleteWhen.IMMEDIATELY)),
        (
            {"when": "archived-older-than", "amount": "3", "unit": "month"},
            DeletePolicy(DeleteWhen.ARCHIVED_OLDER_THAN, 3, SpanUnit.MONTHS),
        ),
        ("message-older-than 1 year", DeletePolicy(DeleteWhen.MESSAGE_OLDER_THAN, 1, SpanUnit.YEARS)),
        (
            DeletePolicy(DeleteWhen.MESSAGE_OLDER_THAN, 36500, SpanUnit.DAYS),
            DeletePolicy(DeleteWhen.MESSAGE_OLDER_THAN, 36500, SpanUnit.DAYS),
        ),
    ],
)
def test_delete_policy_accepted(value: object, expected: DeletePolicy) -> None:
    assert validate_new_profile(raw("imap-single", delete_policy=value)).delete_policy == expected


@pytest.mark.parametrize(
    ("value", "errors"),
    [
        ({"when": "sometimes"}, {"delete_policy.when": "must be one of: never, immediately"}),
        ({"amount": 3, "unit": "days"}, {"delete_policy.when": "is required"}),
        (
            {"when": "message-older-than"},
            {
                "delete_policy.amount": "is required with message-older-than",
                "delete_policy.unit": "is required with message-older-than",
            },
        ),
        (
            {"when": "never", "amount": 3, "unit": "days"},
            {"delete_policy.amount": "only used with", "delete_policy.unit": "leave it empty for never"},
        ),
        (
            {"when": "archived-older-than", "amount": 0, "unit": "fortnights"},
            {
                "delete_policy.amount": "between 1 and 36500",
                "delete_policy.unit": "days, weeks, months, years",
            },
        ),
        ({"when": "archived-older-than", "amount": 36501, "unit": "days"}, {"delete_policy.amount": "36500"}),
        ({"when": "archived-older-than", "amount": 1.5, "unit": "days"}, {"delete_policy.amount": "whole"}),
        ({"when": "never", "after": 3}, {"delete_policy.after": "unknown field"}),
        (5, {"delete_policy": "must be an object with when, amount and unit"}),
        ("message-older-than soon", {"delete_policy": "like '3 months'"}),
    ],
)
def test_delete_policy_rejected(value: object, errors: dict[str, str]) -> None:
    found = rejected(raw("imap-single", delete_policy=value))
    assert {e.field for e in found} == set(errors)
    for error in found:
        assert errors[error.field] in error.message


def test_delete_policy_cannot_be_built_inconsistent() -> None:
    with pytest.raises(InvalidInput) as caught:
        DeletePolicy(DeleteWhen.MESSAGE_OLDER_THAN, 0, None)
    assert {e.field for e in caught.value.errors} == {"delete_policy.amount", "delete_policy.unit"}


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("3 months", (3, SpanUnit.MONTHS)),
        ("1 year", (1, SpanUnit.YEARS)),
        (" 10  days ", (10, SpanUnit.DAYS)),
        ("2weeks", (2, SpanUnit.WEEKS)),
        ("36500 Days", (36500, SpanUnit.DAYS)),
    ],
)
def test_parse_span_accepted(text: str, span: tuple[int, SpanUnit]) -> None:
    assert parse_span(text) == span


@pytest.mark.parametrize("text", ["months", "3", "0 days", "36501 days", "3 fortnights", "-1 days", "3 m onths", 3])
def test_parse_span_rejected(text: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_span(text, field="older_than")
    [error] = caught.value.errors
    assert error.field == "older_than"
    assert "like '3 months'" in error.message


# --- editing ---------------------------------------------------------------------------------


def current(base: str, **changes: object) -> ProfileSettings:
    return validate_new_profile(raw(base, **changes))


def changes_rejected(profile: ProfileSettings, changes: dict[str, Any]) -> list[FieldError]:
    with pytest.raises(InvalidInput) as caught:
        apply_changes(profile, changes)
    return caught.value.errors


def test_edit_renames_and_keeps_the_rest() -> None:
    profile = current("imap-single")
    edited = apply_changes(profile, {"name": "Renamed"})
    assert edited.name == "Renamed"
    assert edited.to_dict() | {"name": profile.name} == profile.to_dict()


@pytest.mark.parametrize("new_type", ["exchange", "pop3", "", None])
def test_edit_cannot_change_the_type(new_type: object) -> None:
    errors = changes_rejected(current("imap-single"), {"type": new_type})
    assert [str(e) for e in errors] == ["type: cannot be changed after creation; create a new profile instead"]


@pytest.mark.parametrize("same_type", ["imap", "IMAP", ProfileType.IMAP])
def test_edit_accepts_the_unchanged_type(same_type: object) -> None:
    assert apply_changes(current("imap-single"), {"type": same_type}) == current("imap-single")


def test_edit_to_multiple_mode_requires_a_directory_service_and_drops_the_mailbox() -> None:
    profile = current("imap-single")
    errors = changes_rejected(profile, {"mode": "multiple"})
    assert [e.field for e in errors] == ["directory_service_id"]
    assert "is required in multiple-mailbox mode" in errors[0].message

    edited = apply_changes(profile, {"mode": "multiple", "directory_service_id": "dir-1"})
    assert (edited.mode, edited.mailbox, edited.directory_service_id) == (Mode.MULTIPLE, None, "dir-1")


def test_edit_to_single_mode_requires_a_mailbox_and_drops_directory_settings() -> None:
    profile = current("m365-multiple")
    assert [e.field for e in changes_rejected(profile, {"mode": "single"})] == ["mailbox"]
    edited = apply_changes(profile, {"mode": "single", "mailbox": "a@contoso.com"})
    assert (edited.directory_service_id, edited.synchronize_users) == (None, False)


def test_edit_rejects_values_the_new_mode_does_not_use() -> None:
    errors = changes_rejected(
        current("imap-single"), {"mode": "multiple", "directory_service_id": "d", "mailbox": "x@example.com"}
    )
    assert [str(e) for e in errors] == ["mailbox: only used in single-mailbox mode"]


def test_edit_reports_the_type_change_together_with_other_errors() -> None:
    errors = changes_rejected(current("imap-single"), {"type": "exchange", "port": "x", "colour": "red"})
    assert [e.field for e in errors] == ["type", "port", "colour"]


@pytest.mark.parametrize(
    ("changes", "field", "value"),
    [
        ({"timeout": ""}, "timeout", None),
        ({"timeout": None}, "timeout", None),
        ({"timeout": "120"}, "timeout", 120),
        ({"protocol": "IMAP-TLS"}, "port", 143),  # the default port follows the protocol
        ({"protocol": "IMAP-TLS", "port": 993}, "port", 993),
        ({"port": ""}, "port", 993),
        ({"delete_policy": {"when": "immediately"}}, "delete_policy", DeletePolicy(DeleteWhen.IMMEDIATELY)),
        ({"tls_fingerprint": FINGERPRINT.upper()}, "tls_fingerprint", FINGERPRINT),
        ({"tls_trusted_ca": CA_PEM}, "tls_trusted_ca", CA_PEM),
    ],
)
def test_edit_overlays_and_clears_values(changes: dict[str, Any], field: str, value: object) -> None:
    assert getattr(apply_changes(current("imap-single", timeout=30), changes), field) == value


@pytest.mark.parametrize("cleared", ["", None])
def test_edit_clears_and_keeps_the_tls_trust(cleared: object) -> None:
    profile = current("exchange-own-ca")
    assert apply_changes(profile, {"name": "Renamed"}).tls_trusted_ca == CA_PEM
    unpinned = apply_changes(profile, {"tls_fingerprint": cleared})
    assert (unpinned.tls_fingerprint, unpinned.tls_trusted_ca) == (None, CA_PEM)
    assert apply_changes(profile, {"tls_trusted_ca": cleared}).tls_trusted_ca is None


def test_edit_rejects_a_private_key_and_keeps_nothing_of_it() -> None:
    errors = changes_rejected(current("imap-single"), {"tls_trusted_ca": CA_KEY_PEM})
    assert [e.field for e in errors] == ["tls_trusted_ca"]
    assert PRIVATE_KEY_RULE in errors[0].message


def test_edit_keeps_a_custom_port_when_the_protocol_changes() -> None:
    assert apply_changes(current("imap-single", port=1993), {"protocol": "IMAP-TLS"}).port == 1993


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        ({"server_name": ""}, "server_name", "is required for IMAP profiles"),
        ({"name": None}, "name", "is required"),
        ({"mode": "several"}, "mode", "must be single or multiple"),
        ({"application_id": APP_ID}, "application_id", "not used by IMAP profiles"),
    ],
)
def test_edit_validates_like_create(changes: dict[str, Any], field: str, rule: str) -> None:
    errors = changes_rejected(current("imap-single"), changes)
    assert any(e.field == field and rule in e.message for e in errors), errors


def test_outlook_edit_cannot_switch_to_multiple() -> None:
    errors = changes_rejected(current("outlook-single"), {"mode": "multiple", "directory_service_id": "d"})
    assert [e.field for e in errors] == ["mode"]
    assert "single-mailbox only" in errors[0].message
