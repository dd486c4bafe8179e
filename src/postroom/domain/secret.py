"""Secrets: the credentials a profile or directory service refers to (seed 002, "Credentials").

:func:`parse_secret` turns what a person submits (an API body, CLI options) into a
:class:`ParsedSecret`:

* ``payload`` — everything that must be encrypted at rest (JSON-serialisable);
* ``summary`` — what may be stored in clear and shown (never a password, key or token);
* ``expires_at`` — when the credential stops working, if it says so.

Parsing is pure: nothing here reads files, the network or the database. Every broken rule
is collected and raised together as one :class:`~postroom.errors.InvalidInput`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from postroom.domain.naming import is_encodable
from postroom.errors import FieldError, InvalidInput

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

# cryptography's X.509, key and PKCS#12 modules are imported by the functions that parse
# certificates: a sync only reveals a stored secret, and they cost it ~15 ms of start-up.


class SecretKind(StrEnum):
    BASIC = "basic"
    CERTIFICATE = "certificate"
    OAUTH = "oauth"
    GOOGLE_SERVICE_ACCOUNT = "google-service-account"

    @property
    def label(self) -> str:
        """The kind in words a person reads in the portal and CLI."""
        return _LABELS[self]


_LABELS: dict[SecretKind, str] = {
    SecretKind.BASIC: "Basic authentication (username/password)",
    SecretKind.CERTIFICATE: "Certificate",
    SecretKind.OAUTH: "OAuth token set",
    SecretKind.GOOGLE_SERVICE_ACCOUNT: "Google service account",
}


@dataclass(frozen=True)
class ParsedSecret:
    """A validated secret, split into what is encrypted and what may be shown."""

    kind: SecretKind
    payload: dict[str, Any] = field(repr=False)  # never in logs or tracebacks
    summary: dict[str, str | None]
    expires_at: datetime | None


def parse_secret(kind: SecretKind | str, raw: Mapping[str, object]) -> ParsedSecret:
    """Validate ``raw`` as a secret of ``kind``; raise InvalidInput listing every broken rule."""
    try:
        secret_kind = SecretKind(kind)
    except ValueError:
        allowed = ", ".join(k.value for k in SecretKind)
        raise InvalidInput(FieldError("kind", f"must be one of: {allowed}")) from None
    form = _FORMS[secret_kind]
    fields = _Fields(raw)
    for name in sorted(str(key) for key in raw if key not in form.fields):
        fields.reject(name, f"is not a field of {secret_kind.value} secrets; the fields are: {', '.join(form.fields)}")
    parsed = form.parse(fields)
    if fields.errors or parsed is None:
        raise InvalidInput(fields.errors)
    return parsed


# --- reading fields ----------------------------------------------------------------------------


def _json_type(value: object) -> str:
    """Name a value's type the way someone writing JSON would."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


_LONE_SURROGATE = "must be valid Unicode text: it contains a lone surrogate (a JSON escape like \\ud800)"


class _Fields:
    """Reads typed values from the submitted mapping, collecting every rule broken."""

    def __init__(self, raw: Mapping[str, object]) -> None:
        self.raw = raw
        self.errors: list[FieldError] = []

    def reject(self, name: str, message: str) -> None:
        self.errors.append(FieldError(name, message))

    def has_error(self, name: str) -> bool:
        return any(e.field == name for e in self.errors)

    def given(self, name: str) -> bool:
        return self.raw.get(name) not in (None, "")

    def text(self, name: str, *, required: str | None = None, strip: bool = True) -> str | None:
        """A string field; ``required`` is what to supply when it is missing (None: optional).

        Missing, null and empty (after stripping, if ``strip``) all count as not given.
        """
        value = self.raw.get(name)
        if value is not None and not isinstance(value, str):
            self.reject(name, f"must be a string, not {_json_type(value)}")
            return None
        if value is not None and not is_encodable(value):
            self.reject(name, _LONE_SURROGATE)
            return None
        if strip and value is not None:
            value = value.strip()
        if not value:
            if required is not None:
                self.reject(name, f"is required: {required}")
            return None
        return value


# --- basic -------------------------------------------------------------------------------------


def _parse_basic(f: _Fields) -> ParsedSecret | None:
    username = f.text("username", required="give the account name to sign in with")
    password = f.text("password", required="give the account's password", strip=False)
    if username is None or password is None:
        return None
    return ParsedSecret(
        kind=SecretKind.BASIC,
        payload={"username": username, "password": password},
        summary={"username": username},
        expires_at=None,
    )


# --- certificate -------------------------------------------------------------------------------

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.DOTALL)


def _public_key_der(key: PublicKeyTypes) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _certificate_key_der(cert: x509.Certificate) -> bytes | None:
    """The certificate's public key, or None for an algorithm cryptography does not support."""
    from cryptography.exceptions import UnsupportedAlgorithm

    try:
        return _public_key_der(cert.public_key())
    except (ValueError, UnsupportedAlgorithm):
        return None


def _parse_certificate(f: _Fields) -> ParsedSecret | None:
    from cryptography.hazmat.primitives import hashes

    # An empty password means "none": PEM keys and PFX files without one load with None.
    password = f.text("password", strip=False)
    if f.given("pem") and f.given("pfx"):
        f.reject("pfx", "give the certificate either as pem or as pfx, not both")
        return None
    if not (f.given("pem") or f.given("pfx")):
        f.reject(
            "pem",
            "is required: give the certificate with its private key either as pem "
            "(PEM text) or as pfx (a .pfx/.p12 file encoded as base64)",
        )
        return None
    if f.has_error("password"):
        return None
    fmt = "pem" if f.given("pem") else "pfx"
    loaded = _load_pem(f, password) if fmt == "pem" else _load_pfx(f, password)
    if loaded is None:
        return None
    cert, normalised = loaded
    not_after = cert.not_valid_after_utc
    return ParsedSecret(
        kind=SecretKind.CERTIFICATE,
        payload={"format": fmt, fmt: normalised, "password": password},
        summary={
            "subject": cert.subject.rfc4514_string(),
            "issuer": cert.issuer.rfc4514_string(),
            # SHA-1 of the DER certificate, upper-case hex: the thumbprint Entra ID and Windows show.
            "thumbprint": cert.fingerprint(hashes.SHA1()).hex().upper(),
            "not_before": cert.not_valid_before_utc.isoformat(),
            "not_after": not_after.isoformat(),
        },
        expires_at=not_after,
    )


def _load_pem(f: _Fields, password: str | None) -> tuple[x509.Certificate, str] | None:
    """The leaf certificate and the PEM text reduced to its certificates and key, leaf first."""
    from cryptography import x509

    text = f.text("pem", required="give the certificate and its private key as PEM text")
    if text is None:
        return None
    blocks = [(m.group(1), m.group(0)) for m in _PEM_BLOCK.finditer(text.replace("\r\n", "\n"))]
    cert_blocks = [block for label, block in blocks if label == "CERTIFICATE"]
    key_blocks = [(label, block) for label, block in blocks if label.endswith("PRIVATE KEY")]
    if not cert_blocks:
        f.reject("pem", "contains no certificate: include the -----BEGIN CERTIFICATE----- block")
    if not key_blocks:
        f.reject(
            "pem",
            "contains no private key: include the -----BEGIN PRIVATE KEY----- block "
            "(Postroom signs in with the key, so the certificate alone is not enough)",
        )
    if len(key_blocks) > 1:
        f.reject("pem", "contains more than one private key: keep only the certificate's own key")
    certs: list[tuple[x509.Certificate, str]] = []
    for block in cert_blocks:
        try:
            certs.append((x509.load_pem_x509_certificate(block.encode("ascii")), block))
        except (ValueError, UnicodeEncodeError):
            f.reject("pem", "has a CERTIFICATE block that is not a valid X.509 certificate: export it again")
    if len(key_blocks) != 1 or len(certs) != len(cert_blocks) or not certs:
        return None
    label, key_block = key_blocks[0]
    key = _load_pem_key(f, label, key_block, password)
    if key is None:
        return None
    key_der = _public_key_der(key.public_key())
    leaf = next((c for c in certs if _certificate_key_der(c[0]) == key_der), None)
    if leaf is None:
        f.reject(
            "pem",
            "the private key does not belong to the certificate (their public keys differ): "
            "export the certificate together with its own private key",
        )
        return None
    ordered = [leaf[1], *(block for c, block in certs if c is not leaf[0]), key_block]
    return leaf[0], "\n".join(ordered) + "\n"


def _load_pem_key(f: _Fields, label: str, block: str, password: str | None) -> PrivateKeyTypes | None:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    # PKCS#8 marks encryption in the label, the older OpenSSL format in a Proc-Type header.
    encrypted = label == "ENCRYPTED PRIVATE KEY" or "Proc-Type: 4,ENCRYPTED" in block
    if encrypted and password is None:
        f.reject("password", "is required: the private key is encrypted; give the password it was exported with")
        return None
    if not encrypted and password is not None:
        f.reject("password", "was given but the private key is not encrypted: leave password empty")
        return None
    try:
        return serialization.load_pem_private_key(
            block.encode("ascii"), password.encode("utf-8") if password is not None else None
        )
    except (ValueError, TypeError, UnsupportedAlgorithm, UnicodeEncodeError):
        if encrypted:
            f.reject(
                "password",
                "does not open the certificate's private key: give the password it was exported with",
            )
        else:
            f.reject("pem", "has a private key that cannot be read: export it again as PEM (PKCS#8)")
        return None


def _looks_like_pkcs12(data: bytes) -> bool:
    """A PFX is DER ``SEQUENCE { version INTEGER 3, ... }``: enough to tell it from other bytes.

    cryptography reports a wrong password and a file that is not PKCS#12 alike; this check lets
    the error name the right field.
    """
    if len(data) < 5 or data[0] != 0x30:
        return False
    offset = 2 + (data[1] & 0x7F if data[1] & 0x80 else 0)
    return data[offset : offset + 3] == b"\x02\x01\x03"


def _load_pfx(f: _Fields, password: str | None) -> tuple[x509.Certificate, str] | None:
    """The certificate and the PFX bytes as base64."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    value = f.raw.get("pfx")
    if isinstance(value, bytes | bytearray):
        data = bytes(value)
    elif isinstance(value, str):
        try:
            data = base64.b64decode("".join(value.split()), validate=True)
        except ValueError:  # binascii.Error, or text that is not even ASCII
            f.reject("pfx", "must be the .pfx/.p12 file encoded as base64 (e.g. `base64 -w0 cert.pfx`)")
            return None
    else:
        f.reject("pfx", f"must be a base64 string, not {_json_type(value)}")
        return None
    if not _looks_like_pkcs12(data):
        f.reject("pfx", "is not a PKCS#12 (.pfx/.p12) file: export the certificate with its private key as .pfx")
        return None
    # Without a password, try both "none" and "empty": exporters differ in which they write.
    candidates = [password.encode("utf-8")] if password is not None else [None, b""]
    for candidate in candidates:
        try:
            key, cert, _chain = pkcs12.load_key_and_certificates(data, candidate)
            break
        except ValueError:
            continue
    else:
        if password is None:
            f.reject("password", "is required: the .pfx file is password-protected; give its export password")
        else:
            f.reject(
                "password",
                "does not open the certificate's private key: give the password the .pfx file was exported with",
            )
        return None
    if key is None:
        f.reject(
            "pfx",
            "contains no private key: export the certificate with its private key "
            "(Windows: 'Yes, export the private key')",
        )
        return None
    if cert is None:
        f.reject("pfx", "contains no certificate for its private key: export the certificate again")
        return None
    if _public_key_der(key.public_key()) != _certificate_key_der(cert):
        f.reject("pfx", "the private key does not belong to the certificate: export the certificate again")
        return None
    return cert, base64.b64encode(data).decode("ascii")


# --- oauth -------------------------------------------------------------------------------------

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


def _parse_instant(f: _Fields, name: str) -> datetime | None:
    """An ISO 8601 date-time with a zone, or whole seconds since 1970; returned in UTC."""
    value = f.raw.get(name)
    rule = (
        "must be an ISO 8601 date and time with a time zone (e.g. 2030-01-31T12:00:00Z) "
        "or whole seconds since 1970-01-01 UTC"
    )
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            f.reject(name, f"is out of range: {rule}")
            return None
    if not isinstance(value, str):
        f.reject(name, rule)
        return None
    try:
        instant = datetime.fromisoformat(value.strip())
    except ValueError:
        f.reject(name, rule)
        return None
    if instant.tzinfo is None:
        f.reject(name, f"has no time zone: {rule}")
        return None
    try:
        return instant.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00 is in the year 10000 in UTC
        f.reject(name, f"is out of range: {rule}")
        return None


def _parse_scope(f: _Fields) -> str | None:
    value = f.raw.get("scope")
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        parts = [part for item in value for part in item.split()]
    elif isinstance(value, str):
        parts = value.split()
    elif value is None:
        parts = []
    else:
        f.reject("scope", "must be a string of space-separated scopes or a list of strings")
        return None
    return " ".join(parts) or None


def _parse_oauth(f: _Fields) -> ParsedSecret | None:
    access_token = f.text("access_token")
    refresh_token = f.text("refresh_token")
    token_errors = f.has_error("access_token") or f.has_error("refresh_token")
    if access_token is None and refresh_token is None and not token_errors:
        f.reject("access_token", "give an access_token, a refresh_token or both")
    token_type = f.text("token_type") or "Bearer"
    expires_at = _parse_instant(f, "expires_at")
    scope = _parse_scope(f)
    client_id = f.text("client_id")
    account = f.text("account")
    if account is not None and not _EMAIL.fullmatch(account):
        f.reject("account", "must be the e-mail address of the account that consented, e.g. archive@example.com")
    if f.errors:
        return None
    expires_iso = expires_at.isoformat() if expires_at is not None else None
    return ParsedSecret(
        kind=SecretKind.OAUTH,
        payload={
            "access_token": access_token,
            "refresh_token": refresh_token,
            "token_type": token_type,
            "expires_at": expires_iso,
            "scope": scope,
            "client_id": client_id,
            "account": account,
        },
        summary={
            "token_type": token_type,
            "scope": scope,
            "account": account,
            "client_id": client_id,
            "expires_at": expires_iso,
        },
        expires_at=expires_at,
    )


# --- google service account --------------------------------------------------------------------

_SERVICE_ACCOUNT_REQUIRED = ("client_email", "private_key", "private_key_id", "token_uri")


def _service_account_json(f: _Fields) -> dict[str, Any] | None:
    """The key file as a fresh dict (a copy: the caller's mapping is never kept)."""
    value = f.raw.get("json")
    if value is None or value == "":
        f.reject("json", "is required: give the service account's JSON key file as downloaded from Google Cloud")
        return None
    if isinstance(value, str):
        text = value
    elif isinstance(value, Mapping):
        try:
            text = json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            f.reject("json", "must hold only JSON values (strings, numbers, lists, objects)")
            return None
    else:
        f.reject("json", f"must be the key file's text or a JSON object, not {_json_type(value)}")
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        f.reject("json", f"is not valid JSON ({exc.msg} at line {exc.lineno}): paste the key file unchanged")
        return None
    if not isinstance(data, dict):
        f.reject("json", "must be a JSON object: the key file starts with {")
        return None
    if not is_encodable(json.dumps(data, ensure_ascii=False)):
        f.reject("json", _LONE_SURROGATE)
        return None
    return data


def _parse_google_service_account(f: _Fields) -> ParsedSecret | None:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    data = _service_account_json(f)
    if data is None:
        return None
    if data.get("type") != "service_account":
        f.reject(
            "json",
            'is not a service-account key ("type" must be "service_account"): in Google Cloud, '
            "open IAM → Service accounts → Keys → Add key → JSON",
        )
    for name in _SERVICE_ACCOUNT_REQUIRED:
        if not isinstance(data.get(name), str) or not data[name].strip():
            f.reject("json", f'"{name}" is missing or empty: paste the complete key file')
    private_key = data.get("private_key")
    if isinstance(private_key, str) and private_key.strip():
        try:
            serialization.load_pem_private_key(private_key.encode("utf-8"), None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            f.reject("json", '"private_key" is not a readable PEM private key: create a new key for the account')
    project_id = data.get("project_id")
    if f.errors:
        return None
    return ParsedSecret(
        kind=SecretKind.GOOGLE_SERVICE_ACCOUNT,
        payload={"json": data},
        summary={
            "client_email": data["client_email"],
            "project_id": project_id if isinstance(project_id, str) else None,
            "private_key_id": data["private_key_id"],
        },
        expires_at=None,
    )


# --- the registry of forms ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Form:
    fields: tuple[str, ...]
    parse: Callable[[_Fields], ParsedSecret | None]


_FORMS: dict[SecretKind, _Form] = {
    SecretKind.BASIC: _Form(("username", "password"), _parse_basic),
    SecretKind.CERTIFICATE: _Form(("pem", "pfx", "password"), _parse_certificate),
    SecretKind.OAUTH: _Form(
        ("access_token", "refresh_token", "token_type", "expires_at", "scope", "client_id", "account"),
        _parse_oauth,
    ),
    SecretKind.GOOGLE_SERVICE_ACCOUNT: _Form(("json",), _parse_google_service_account),
}
