"""Parsing and validating secret payloads: one table per kind, plus the never-leak checks.

Certificates and keys are generated here, in memory, for every run; none is stored in the repo.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from hypothesis import given
from hypothesis import strategies as st

from postroom.domain.secret import ParsedSecret, SecretKind, parse_secret
from postroom.errors import InvalidInput
from postroom.testing.certificates import KeyAndCertificate, KeyType, issue_certificate

# --- material ----------------------------------------------------------------------------------

NOT_BEFORE = datetime(2025, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2027, 6, 30, 23, 59, 59, tzinfo=UTC)
PASSWORD = "correct horse battery staple"
ORGANIZATION = "Postroom Test, Inc."


def _issue(common_name: str, key: KeyType = "ec", issuer: KeyAndCertificate | None = None) -> KeyAndCertificate:
    return issue_certificate(
        common_name, key=key, issuer=issuer, organization=ORGANIZATION, not_before=NOT_BEFORE, not_after=NOT_AFTER
    )


@cache
def ec_identity() -> KeyAndCertificate:
    return _issue("app.postroom.test")


@cache
def other_ec_identity() -> KeyAndCertificate:
    return _issue("other.postroom.test")


@cache
def rsa_identity() -> KeyAndCertificate:
    return _issue("rsa.postroom.test", "rsa")


@cache
def ca_and_leaf() -> tuple[KeyAndCertificate, KeyAndCertificate]:
    ca = _issue("Postroom Test CA")
    leaf = _issue("leaf.postroom.test", issuer=ca)
    return ca, leaf


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def service_account_info(**changes: object) -> dict[str, Any]:
    info: dict[str, Any] = {
        "type": "service_account",
        "project_id": "postroom-test",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": rsa_identity().key_pem(),
        "client_email": "archiver@postroom-test.iam.gserviceaccount.com",
        "client_id": "123456789012345678901",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    for name, value in changes.items():
        if value is None:
            del info[name]
        else:
            info[name] = value
    return info


def errors_of(kind: str, raw: Mapping[str, object]) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInput) as caught:
        parse_secret(kind, raw)
    return [(e.field, e.message) for e in caught.value.errors]


def assert_rejected(kind: str, raw: Mapping[str, object], expected: list[tuple[str, str]]) -> None:
    """Each expected (field, fragment) matches one error, in order, and there are no others."""
    errors = errors_of(kind, raw)
    assert [field for field, _ in errors] == [field for field, _ in expected], errors
    for (_, message), (_, fragment) in zip(errors, expected, strict=True):
        assert fragment in message, (message, fragment)


# --- kinds -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "label"),
    [
        (SecretKind.BASIC, "Basic authentication (username/password)"),
        (SecretKind.CERTIFICATE, "Certificate"),
        (SecretKind.OAUTH, "OAuth token set"),
        (SecretKind.GOOGLE_SERVICE_ACCOUNT, "Google service account"),
    ],
)
def test_every_kind_has_a_label(kind: SecretKind, label: str) -> None:
    assert kind.label == label


@pytest.mark.parametrize("kind", ["ldap", "", "BASIC", "google_service_account"])
def test_unknown_kind_is_rejected_with_the_allowed_kinds(kind: str) -> None:
    assert errors_of(kind, {}) == [("kind", "must be one of: basic, certificate, oauth, google-service-account")]


def test_kind_may_be_given_as_text_or_enum() -> None:
    raw = {"username": "alice", "password": "pw"}
    assert parse_secret("basic", raw) == parse_secret(SecretKind.BASIC, raw)


def test_unknown_fields_are_reported_with_every_other_error() -> None:
    assert_rejected(
        "basic",
        {"user": "alice", "pasword": "x"},
        [
            ("pasword", "is not a field of basic secrets; the fields are: username, password"),
            ("user", "is not a field of basic secrets"),
            ("username", "is required"),
            ("password", "is required"),
        ],
    )


# --- basic -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "username", "password"),
    [
        ({"username": "alice", "password": "s3cret"}, "alice", "s3cret"),
        ({"username": "  alice@example.com\n", "password": "  spaced  "}, "alice@example.com", "  spaced  "),
        ({"username": "DOMAIN\\alice", "password": " "}, "DOMAIN\\alice", " "),
        ({"username": "ünïcødé", "password": "пароль"}, "ünïcødé", "пароль"),
    ],
)
def test_basic_accepts(raw: dict[str, object], username: str, password: str) -> None:
    parsed = parse_secret("basic", raw)
    assert parsed == ParsedSecret(
        kind=SecretKind.BASIC,
        payload={"username": username, "password": password},
        summary={"username": username},
        expires_at=None,
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({}, [("username", "is required"), ("password", "is required")]),
        ({"username": "   ", "password": "x"}, [("username", "is required")]),
        ({"username": None, "password": "x"}, [("username", "is required")]),
        ({"username": 42, "password": "x"}, [("username", "must be a string, not a number")]),
        ({"username": ["a"], "password": "x"}, [("username", "must be a string, not a list")]),
        ({"username": "alice", "password": ""}, [("password", "is required")]),
        ({"username": "alice", "password": None}, [("password", "is required")]),
        ({"username": "alice", "password": True}, [("password", "must be a string, not true/false")]),
        ({"username": "alice", "password": "x", "domain": "D"}, [("domain", "is not a field")]),
    ],
)
def test_basic_rejects(raw: dict[str, object], expected: list[tuple[str, str]]) -> None:
    assert_rejected("basic", raw, expected)


@given(
    username=st.text(min_size=1).filter(lambda s: s.strip() != ""),
    password=st.text(min_size=1),
)
def test_basic_keeps_any_password_exactly(username: str, password: str) -> None:
    parsed = parse_secret("basic", {"username": username, "password": password})
    assert parsed.payload == {"username": username.strip(), "password": password}


# --- certificate -------------------------------------------------------------------------------


def _assert_certificate(parsed: ParsedSecret, identity: KeyAndCertificate, *, issuer_cn: str | None = None) -> None:
    cert = identity.cert
    assert parsed.kind is SecretKind.CERTIFICATE
    assert parsed.summary == {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "thumbprint": cert.fingerprint(hashes.SHA1()).hex().upper(),
        "not_before": "2025-01-01T00:00:00+00:00",
        "not_after": "2027-06-30T23:59:59+00:00",
    }
    assert parsed.expires_at == NOT_AFTER
    thumbprint = parsed.summary["thumbprint"]
    assert thumbprint is not None
    assert len(thumbprint) == 40
    assert thumbprint == thumbprint.upper()
    if issuer_cn is not None:
        assert f"CN={issuer_cn}" in (parsed.summary["issuer"] or "")


def test_pem_with_plain_key() -> None:
    identity = ec_identity()
    parsed = parse_secret("certificate", {"pem": identity.cert_pem() + identity.key_pem()})
    _assert_certificate(parsed, identity)
    assert parsed.summary["subject"] == "O=Postroom Test\\, Inc.,CN=app.postroom.test"
    assert parsed.payload == {
        "format": "pem",
        "pem": identity.cert_pem() + identity.key_pem(),
        "password": None,
    }


@pytest.mark.parametrize(
    "fmt",
    [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL],
    ids=["pkcs8", "traditional"],
)
def test_pem_with_encrypted_key(fmt: serialization.PrivateFormat) -> None:
    identity = rsa_identity()
    pem = identity.cert_pem() + identity.key_pem(PASSWORD, fmt)
    parsed = parse_secret("certificate", {"pem": pem, "password": PASSWORD})
    _assert_certificate(parsed, identity)
    assert parsed.payload["password"] == PASSWORD
    assert parsed.payload["pem"] == pem


def test_pem_is_normalised_to_leaf_chain_key() -> None:
    """Key first, CRLF line ends, a chain, and the noise `openssl pkcs12` prints: all accepted."""
    ca, leaf = ca_and_leaf()
    pem = (
        "Bag Attributes\n    friendlyName: postroom\n"
        + leaf.key_pem()
        + "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
        + ca.cert_pem()
        + leaf.cert_pem()
    ).replace("\n", "\r\n")
    parsed = parse_secret("certificate", {"pem": pem})
    _assert_certificate(parsed, leaf, issuer_cn="Postroom Test CA")
    assert parsed.payload["pem"] == leaf.cert_pem() + ca.cert_pem() + leaf.key_pem()


@pytest.mark.parametrize(
    ("password", "encoding"),
    [
        (PASSWORD, "base64"),
        (PASSWORD, "bytes"),
        (PASSWORD, "base64-wrapped"),
        (None, "base64"),
        ("", "base64"),
    ],
)
def test_pfx(password: str | None, encoding: str) -> None:
    identity = ec_identity()
    data = identity.pkcs12(password or None)
    value: object = {
        "base64": b64(data),
        "bytes": data,
        "base64-wrapped": base64.encodebytes(data).decode(),
    }[encoding]
    raw: dict[str, object] = {"pfx": value}
    if password is not None:
        raw["password"] = password
    parsed = parse_secret("certificate", raw)
    _assert_certificate(parsed, identity)
    assert parsed.payload == {"format": "pfx", "pfx": b64(data), "password": password or None}


def test_pfx_with_rsa_key() -> None:
    identity = rsa_identity()
    parsed = parse_secret("certificate", {"pfx": b64(identity.pkcs12(PASSWORD)), "password": PASSWORD})
    _assert_certificate(parsed, identity)


def _me() -> KeyAndCertificate:
    return ec_identity()


def _encrypted_pem() -> str:
    return _me().cert_pem() + _me().key_pem(PASSWORD)


# (case, raw, expected); raw is built when the case runs, so no key is generated at import.
CERTIFICATE_REJECTIONS: list[tuple[str, Callable[[], dict[str, object]], list[tuple[str, str]]]] = [
    (
        "nothing",
        dict,
        [("pem", "is required: give the certificate with its private key either as pem")],
    ),
    ("password only", lambda: {"password": "x"}, [("pem", "is required")]),
    (
        "both",
        lambda: {"pem": "x", "pfx": "y"},
        [("pfx", "give the certificate either as pem or as pfx, not both")],
    ),
    ("pem not text", lambda: {"pem": 42}, [("pem", "must be a string, not a number")]),
    ("pem blank", lambda: {"pem": "   "}, [("pem", "is required")]),
    (
        "pem without blocks",
        lambda: {"pem": "hello"},
        [("pem", "contains no certificate"), ("pem", "contains no private key")],
    ),
    (
        "password not text",
        lambda: {"pem": "x", "password": 7},
        [("password", "must be a string, not a number")],
    ),
    (
        "unknown field",
        lambda: {"pem": "x", "cert": "y"},
        [
            ("cert", "is not a field of certificate secrets"),
            ("pem", "contains no certificate"),
            ("pem", "contains no private key"),
        ],
    ),
    ("certificate only", lambda: {"pem": _me().cert_pem()}, [("pem", "contains no private key")]),
    ("key only", lambda: {"pem": _me().key_pem()}, [("pem", "contains no certificate")]),
    (
        "two keys",
        lambda: {"pem": _me().cert_pem() + _me().key_pem() + other_ec_identity().key_pem()},
        [("pem", "contains more than one private key")],
    ),
    (
        "key of another certificate",
        lambda: {"pem": _me().cert_pem() + other_ec_identity().key_pem()},
        [("pem", "the private key does not belong to the certificate")],
    ),
    (
        "corrupt certificate",
        lambda: {
            "pem": "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
            + _me().key_pem()
        },
        [("pem", "has a CERTIFICATE block that is not a valid X.509 certificate")],
    ),
    (
        "corrupt key",
        lambda: {"pem": _me().cert_pem() + "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
        [("pem", "has a private key that cannot be read")],
    ),
    (
        "encrypted key, no password",
        lambda: {"pem": _encrypted_pem()},
        [("password", "is required: the private key is encrypted")],
    ),
    (
        "encrypted key, wrong password",
        lambda: {"pem": _encrypted_pem(), "password": "wrong"},
        [("password", "does not open the certificate's private key")],
    ),
    (
        "traditional encrypted key, wrong password",
        lambda: {
            "pem": rsa_identity().cert_pem()
            + rsa_identity().key_pem(PASSWORD, serialization.PrivateFormat.TraditionalOpenSSL),
            "password": "wrong",
        },
        [("password", "does not open the certificate's private key")],
    ),
    (
        "plain key with password",
        lambda: {"pem": _me().cert_pem() + _me().key_pem(), "password": PASSWORD},
        [("password", "was given but the private key is not encrypted")],
    ),
    (
        "pfx, wrong password",
        lambda: {"pfx": b64(_me().pkcs12(PASSWORD)), "password": "wrong"},
        [("password", "does not open the certificate's private key")],
    ),
    (
        "pfx, no password",
        lambda: {"pfx": b64(_me().pkcs12(PASSWORD))},
        [("password", "is required: the .pfx file is password-protected")],
    ),
    (
        "pfx not base64",
        lambda: {"pfx": "not base64!"},
        [("pfx", "must be the .pfx/.p12 file encoded as base64")],
    ),
    (
        "pfx of other bytes",
        lambda: {"pfx": b64(b"hello, world")},
        [("pfx", "is not a PKCS#12 (.pfx/.p12) file")],
    ),
    ("pfx of a PEM", lambda: {"pfx": b64(_me().cert_pem().encode())}, [("pfx", "is not a PKCS#12")]),
    ("pfx empty bytes", lambda: {"pfx": b""}, [("pfx", "is not a PKCS#12")]),
    ("pfx not text", lambda: {"pfx": 12}, [("pfx", "must be a base64 string, not a number")]),
    (
        "pfx without key",
        lambda: {"pfx": b64(_me().pkcs12(PASSWORD, with_key=False)), "password": PASSWORD},
        [("pfx", "contains no private key")],
    ),
]


@pytest.mark.parametrize(
    ("case", "raw", "expected"), CERTIFICATE_REJECTIONS, ids=[case for case, _, _ in CERTIFICATE_REJECTIONS]
)
def test_certificate_rejects(case: str, raw: Callable[[], dict[str, object]], expected: list[tuple[str, str]]) -> None:
    assert_rejected("certificate", raw(), expected)


def test_expired_certificate_is_accepted_with_its_expiry() -> None:
    """Whether an expired certificate may be used is for the caller to decide; the date is kept."""
    old = issue_certificate(
        "old",
        organization=ORGANIZATION,
        not_before=datetime(2000, 1, 1, tzinfo=UTC),
        not_after=datetime(2001, 1, 1, tzinfo=UTC),
    )
    parsed = parse_secret("certificate", {"pem": old.cert_pem() + old.key_pem()})
    assert parsed.expires_at == datetime(2001, 1, 1, tzinfo=UTC)


# --- oauth -------------------------------------------------------------------------------------

EPOCH_2030 = 1_900_000_000


@pytest.mark.parametrize(
    ("raw", "payload_changes", "expires_at"),
    [
        ({"access_token": "at"}, {"access_token": "at"}, None),
        ({"refresh_token": "rt"}, {"refresh_token": "rt"}, None),
        (
            {"access_token": "at", "refresh_token": "rt", "token_type": "bearer"},
            {"access_token": "at", "refresh_token": "rt", "token_type": "bearer"},
            None,
        ),
        (
            {"access_token": "at", "expires_at": "2030-01-31T12:00:00Z"},
            {"access_token": "at", "expires_at": "2030-01-31T12:00:00+00:00"},
            datetime(2030, 1, 31, 12, tzinfo=UTC),
        ),
        (
            {"access_token": "at", "expires_at": "2030-01-31T13:30:00+01:30"},
            {"access_token": "at", "expires_at": "2030-01-31T12:00:00+00:00"},
            datetime(2030, 1, 31, 12, tzinfo=UTC),
        ),
        (
            {"access_token": "at", "expires_at": EPOCH_2030},
            {"access_token": "at", "expires_at": "2030-03-17T17:46:40+00:00"},
            datetime(2030, 3, 17, 17, 46, 40, tzinfo=UTC),
        ),
        (
            {"refresh_token": "rt", "scope": "  https://mail.google.com/   openid "},
            {"refresh_token": "rt", "scope": "https://mail.google.com/ openid"},
            None,
        ),
        (
            {"refresh_token": "rt", "scope": ["Mail.ReadWrite", "offline_access"]},
            {"refresh_token": "rt", "scope": "Mail.ReadWrite offline_access"},
            None,
        ),
        ({"refresh_token": "rt", "scope": []}, {"refresh_token": "rt"}, None),
        (
            {"refresh_token": "rt", "client_id": "abc-123", "account": "archive@example.com"},
            {"refresh_token": "rt", "client_id": "abc-123", "account": "archive@example.com"},
            None,
        ),
        (
            {"access_token": "at", "token_type": None, "expires_at": None, "scope": None, "account": ""},
            {"access_token": "at"},
            None,
        ),
    ],
)
def test_oauth_accepts(raw: dict[str, object], payload_changes: dict[str, str], expires_at: datetime | None) -> None:
    payload: dict[str, str | None] = {
        "access_token": None,
        "refresh_token": None,
        "token_type": "Bearer",
        "expires_at": None,
        "scope": None,
        "client_id": None,
        "account": None,
    }
    payload.update(payload_changes)
    parsed = parse_secret("oauth", raw)
    assert parsed.payload == payload
    assert parsed.summary == {
        name: payload[name] for name in ("token_type", "scope", "account", "client_id", "expires_at")
    }
    assert parsed.expires_at == expires_at
    if parsed.expires_at is not None:
        assert parsed.expires_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({}, [("access_token", "give an access_token, a refresh_token or both")]),
        ({"access_token": "  ", "refresh_token": ""}, [("access_token", "give an access_token")]),
        ({"access_token": 5}, [("access_token", "must be a string, not a number")]),
        ({"refresh_token": {"a": 1}}, [("refresh_token", "must be a string, not an object")]),
        ({"access_token": "at", "token_type": 7}, [("token_type", "must be a string")]),
        ({"access_token": "at", "expires_at": "2030-01-31T12:00:00"}, [("expires_at", "has no time zone")]),
        ({"access_token": "at", "expires_at": "2030-01-31"}, [("expires_at", "has no time zone")]),
        (
            {"access_token": "at", "expires_at": "tomorrow"},
            [("expires_at", "must be an ISO 8601 date and time")],
        ),
        ({"access_token": "at", "expires_at": 1.5e9}, [("expires_at", "must be an ISO 8601")]),
        ({"access_token": "at", "expires_at": True}, [("expires_at", "must be an ISO 8601")]),
        ({"access_token": "at", "expires_at": 10**20}, [("expires_at", "is out of range")]),
        ({"access_token": "at", "scope": [1, 2]}, [("scope", "must be a string of space-separated scopes")]),
        ({"access_token": "at", "scope": 3}, [("scope", "must be a string of space-separated scopes")]),
        ({"access_token": "at", "account": "archive"}, [("account", "must be the e-mail address")]),
        ({"access_token": "at", "account": "a b@example.com"}, [("account", "must be the e-mail address")]),
        ({"access_token": "at", "expires_in": 3600}, [("expires_in", "is not a field of oauth secrets")]),
        (
            {"expires_at": "soon", "account": "x"},
            [
                ("access_token", "give an access_token"),
                ("expires_at", "must be an ISO 8601"),
                ("account", "must be the e-mail address"),
            ],
        ),
    ],
)
def test_oauth_rejects(raw: dict[str, object], expected: list[tuple[str, str]]) -> None:
    assert_rejected("oauth", raw, expected)


# --- google service account --------------------------------------------------------------------


@pytest.mark.parametrize("as_text", [True, False], ids=["text", "object"])
def test_service_account_accepts(as_text: bool) -> None:
    info = service_account_info()
    parsed = parse_secret("google-service-account", {"json": json.dumps(info, indent=2) if as_text else info})
    assert parsed.payload == {"json": info}
    assert parsed.payload["json"] is not info  # a copy: later changes by the caller do not leak in
    assert parsed.summary == {
        "client_email": "archiver@postroom-test.iam.gserviceaccount.com",
        "project_id": "postroom-test",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
    }
    assert parsed.expires_at is None


def test_service_account_without_project_id() -> None:
    parsed = parse_secret("google-service-account", {"json": service_account_info(project_id=None)})
    assert parsed.summary["project_id"] is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, [("json", "is required: give the service account's JSON key file")]),
        ("", [("json", "is required")]),
        (42, [("json", "must be the key file's text or a JSON object, not a number")]),
        ("{not json", [("json", "is not valid JSON (Expecting property name")]),
        ("[1, 2]", [("json", "must be a JSON object")]),
        ({"when": datetime(2030, 1, 1, tzinfo=UTC)}, [("json", "must hold only JSON values")]),
        ({"x": float("nan")}, [("json", "must hold only JSON values")]),
        ({}, [("json", '"type" must be "service_account"')] + [("json", "is missing or empty")] * 4),
    ],
    ids=["missing", "empty", "number", "bad-json", "array", "datetime", "nan", "empty-object"],
)
def test_service_account_rejects_bad_json(value: object, expected: list[tuple[str, str]]) -> None:
    assert_rejected("google-service-account", {"json": value}, expected)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"type": "authorized_user"},
            [("json", 'is not a service-account key ("type" must be "service_account")')],
        ),
        ({"type": None}, [("json", "is not a service-account key")]),
        ({"client_email": None}, [("json", '"client_email" is missing or empty')]),
        ({"client_email": "  "}, [("json", '"client_email" is missing or empty')]),
        ({"private_key_id": 12}, [("json", '"private_key_id" is missing or empty')]),
        ({"token_uri": None}, [("json", '"token_uri" is missing or empty')]),
        ({"private_key": None}, [("json", '"private_key" is missing or empty')]),
        (
            {"private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
            [("json", '"private_key" is not a readable PEM private key')],
        ),
        ({"private_key": "not a key"}, [("json", '"private_key" is not a readable PEM private key')]),
    ],
)
def test_service_account_rejects_bad_fields(changes: dict[str, object], expected: list[tuple[str, str]]) -> None:
    assert_rejected("google-service-account", {"json": service_account_info(**changes)}, expected)


def test_service_account_rejects_other_fields() -> None:
    assert_rejected(
        "google-service-account",
        {"json": service_account_info(), "file": "x.json"},
        [("file", "is not a field of google-service-account secrets; the fields are: json")],
    )


# --- nothing secret in the clear ---------------------------------------------------------------


def _every_kind() -> dict[str, tuple[ParsedSecret, list[str]]]:
    """One parsed secret per kind (and format), with the values that must never be shown."""
    me = rsa_identity()
    key_pem = me.key_pem(PASSWORD)
    pfx = b64(me.pkcs12(PASSWORD))
    oauth = {
        "access_token": "ya29.access-token-value",
        "refresh_token": "1//refresh-token-value",
        "scope": "https://mail.google.com/",
        "account": "archive@example.com",
        "client_id": "client-123",
        "expires_at": EPOCH_2030,
    }
    return {
        "basic": (
            parse_secret("basic", {"username": "alice", "password": "hunter2-hunter2"}),
            ["hunter2-hunter2"],
        ),
        "certificate-pem": (
            parse_secret("certificate", {"pem": me.cert_pem() + key_pem, "password": PASSWORD}),
            [PASSWORD, key_pem.splitlines()[1], "PRIVATE KEY"],
        ),
        "certificate-pfx": (
            parse_secret("certificate", {"pfx": pfx, "password": PASSWORD}),
            [PASSWORD, pfx[:40], pfx[-40:]],
        ),
        "oauth": (parse_secret("oauth", oauth), ["ya29.access-token-value", "1//refresh-token-value"]),
        "google-service-account": (
            parse_secret("google-service-account", {"json": service_account_info()}),
            [me.key_pem().splitlines()[1], "PRIVATE KEY"],
        ),
    }


EVERY_KIND = ["basic", "certificate-pem", "certificate-pfx", "oauth", "google-service-account"]


def test_the_table_covers_every_kind() -> None:
    assert {parsed.kind for parsed, _ in _every_kind().values()} == set(SecretKind)
    assert sorted(_every_kind()) == sorted(EVERY_KIND)


@pytest.mark.parametrize("case", EVERY_KIND)
def test_summary_and_repr_never_hold_a_secret_value(case: str) -> None:
    parsed, secret_values = _every_kind()[case]
    shown = json.dumps(parsed.summary)
    logged = repr(parsed)
    for value in secret_values:
        assert value not in shown
        assert value not in logged


@pytest.mark.parametrize("case", EVERY_KIND)
def test_payload_is_json_and_summary_is_flat_text(case: str) -> None:
    parsed, _ = _every_kind()[case]
    assert json.loads(json.dumps(parsed.payload)) == parsed.payload
    assert all(isinstance(v, str | None) for v in parsed.summary.values())
    if parsed.expires_at is not None:
        assert parsed.expires_at.utcoffset() == timedelta(0)
