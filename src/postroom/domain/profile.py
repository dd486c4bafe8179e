"""Folder-synchronization profiles: their settings and the rules of seed 002.

Which fields a profile has depends on its type and mode (:func:`fields_for`,
:func:`required_fields`). :func:`validate_new_profile` and :func:`apply_changes` take raw values
(typed JSON or strings from forms and the CLI), collect every broken rule, and raise one
:class:`~postroom.errors.InvalidInput` listing a :class:`~postroom.errors.FieldError` per rule.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from postroom.domain._parsing import _E, _enum, _LenientEnum, _Rule, _whole_number
from postroom.domain.delete_policy import DELETE_NEVER, DeletePolicy, parse_delete_policy
from postroom.domain.naming import clean_name
from postroom.domain.secret import SecretKind
from postroom.errors import FieldError, InvalidInput

DEFAULT_TIMEOUT_SECONDS = 60
MAX_TIMEOUT_SECONDS = 2147483


class ProfileType(_LenientEnum):
    IMAP = "imap"
    EXCHANGE = "exchange"
    MICROSOFT365 = "microsoft365"
    GOOGLE_WORKSPACE = "google-workspace"
    OUTLOOK_COM = "outlook-com"

    @property
    def label(self) -> str:
        """The name seed 002 uses for the type."""
        return _TYPE_LABELS[self]


_TYPE_LABELS = {
    ProfileType.IMAP: "IMAP",
    ProfileType.EXCHANGE: "Exchange Server",
    ProfileType.MICROSOFT365: "Microsoft 365",
    ProfileType.GOOGLE_WORKSPACE: "Google Workspace",
    ProfileType.OUTLOOK_COM: "Microsoft Outlook.com",
}


class Mode(_LenientEnum):
    SINGLE = "single"
    MULTIPLE = "multiple"


class ImapProtocol(_LenientEnum):
    SSL = "IMAP-SSL"
    TLS = "IMAP-TLS"


DEFAULT_PORTS = {ImapProtocol.SSL: 993, ImapProtocol.TLS: 143}


def _lenient(cls: type[_E], value: object) -> _E | None:
    try:
        return _enum(cls, "", value)
    except _Rule:
        return None


# --- the profile -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileSettings:
    """A validated folder-synchronization profile; build it with :func:`validate_new_profile`."""

    name: str
    type: ProfileType
    mode: Mode
    delete_policy: DeletePolicy = DELETE_NEVER
    mailbox: str | None = None
    source_mailbox: str | None = None
    directory_service_id: str | None = None
    synchronize_users: bool = False
    server_name: str | None = None
    port: int | None = None
    protocol: ImapProtocol | None = None
    secret_id: str | None = None
    timeout: int | None = None
    tls_trusted_ca: str | None = None  # PEM of certificates trusted besides the system store
    tls_fingerprint: str | None = None  # SHA-256 of the one server certificate accepted, hex
    application_id: str | None = None
    directory_id: str | None = None

    def effective_timeout(self) -> int:
        """Seconds to wait for the server: the timeout set, or the default when it is empty."""
        return DEFAULT_TIMEOUT_SECONDS if self.timeout is None else self.timeout

    def to_dict(self) -> dict[str, object]:
        """JSON-able values; :func:`validate_new_profile` accepts the result unchanged."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["delete_policy"] = self.delete_policy.to_dict()
        return {k: v.value if isinstance(v, StrEnum) else v for k, v in out.items()}


_FIELD_ORDER = tuple(f.name for f in dataclasses.fields(ProfileSettings))

_COMMON = frozenset({"name", "type", "mode", "delete_policy", "secret_id"})
_TLS_TRUST = ("tls_trusted_ca", "tls_fingerprint")
_BY_MODE = {
    Mode.SINGLE: frozenset({"mailbox"}),
    Mode.MULTIPLE: frozenset({"directory_service_id", "synchronize_users"}),
}
_BY_TYPE = {
    ProfileType.IMAP: frozenset({"server_name", "port", "protocol", "timeout", *_TLS_TRUST}),
    ProfileType.EXCHANGE: frozenset({"server_name", "timeout", *_TLS_TRUST}),
    ProfileType.MICROSOFT365: frozenset({"application_id", "directory_id"}),
    ProfileType.GOOGLE_WORKSPACE: frozenset[str](),
    ProfileType.OUTLOOK_COM: frozenset[str](),
}
_SINGLE_MODE_BY_TYPE = {
    ProfileType.MICROSOFT365: frozenset({"source_mailbox"}),
    ProfileType.GOOGLE_WORKSPACE: frozenset({"source_mailbox"}),
}
_REQUIRED_BY_TYPE = {
    ProfileType.IMAP: frozenset({"server_name", "protocol"}),
    ProfileType.EXCHANGE: frozenset({"server_name"}),
    ProfileType.MICROSOFT365: frozenset({"application_id", "directory_id"}),
}
_SECRET_KINDS = {
    ProfileType.IMAP: frozenset({SecretKind.BASIC, SecretKind.OAUTH}),
    ProfileType.EXCHANGE: frozenset({SecretKind.BASIC}),
    ProfileType.MICROSOFT365: frozenset({SecretKind.CERTIFICATE}),
    ProfileType.GOOGLE_WORKSPACE: frozenset({SecretKind.GOOGLE_SERVICE_ACCOUNT}),
    ProfileType.OUTLOOK_COM: frozenset({SecretKind.OAUTH}),
}


def fields_for(type: ProfileType, mode: Mode) -> frozenset[str]:
    """The fields a profile of this type and mode has."""
    single_only = _SINGLE_MODE_BY_TYPE.get(type, frozenset()) if mode is Mode.SINGLE else frozenset()
    return _COMMON | _BY_MODE[mode] | _BY_TYPE[type] | single_only


def required_fields(type: ProfileType, mode: Mode | None) -> frozenset[str]:
    """The fields that must have a value; the others are optional or have a default.

    With ``mode=None`` (not chosen yet) only the fields required in both modes.
    """
    required = {"name", "type", "mode", *_REQUIRED_BY_TYPE.get(type, ())}
    if type is not ProfileType.OUTLOOK_COM:  # Outlook.com: set later by the Authorize flow
        required.add("secret_id")
        if mode is Mode.SINGLE:
            required.add("mailbox")
    if mode is Mode.MULTIPLE:
        required.add("directory_service_id")
    return frozenset(required)


def allowed_secret_kinds(type: ProfileType) -> frozenset[SecretKind]:
    """Kinds of secret a profile of this type may use as its credentials."""
    return _SECRET_KINDS[type]


# --- value rules -----------------------------------------------------------------------------

_HOST_RULE = "must be a host name (like mail.example.com), an IPv4 address or an IPv6 address"
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_HOST_PORT = re.compile(r"(.*):(\d*)")
_GUID = re.compile(r"\{?([0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})\}?")
_GUID_RULE = "must be a GUID like 00000000-0000-0000-0000-000000000000 (see the app registration in Microsoft Entra ID)"


def _text(value: object, rule: str) -> str:
    if not isinstance(value, str):
        raise _Rule(rule)
    return value.strip()


def is_host_name(name: str) -> bool:
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return False
    labels = name.removesuffix(".").split(".")
    return (
        len(name) <= 253
        and all(_LABEL.fullmatch(label) for label in labels)
        and not labels[-1].isdigit()  # "1.2.3.999" is a broken IPv4 address, not a name
    )


def _server_name(value: object) -> str:
    host = unicodedata.normalize("NFC", _text(value, _HOST_RULE))
    if "://" in host:
        raise _Rule("enter the host name only, without protocol (imaps://) or port (:993)")
    if any(ch.isspace() for ch in host):
        raise _Rule("must not contain spaces; " + _HOST_RULE)
    if "/" in host:
        raise _Rule("enter the host name only, without a path (/...)")
    if host.startswith("[") and host.endswith("]"):  # "[::1]": keep the bare address
        try:
            return str(ipaddress.IPv6Address(host[1:-1]))
        except ValueError:
            raise _Rule(_HOST_RULE) from None
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if is_host_name(host):
        return host
    port_suffix = _HOST_PORT.fullmatch(host)
    if port_suffix and port_suffix[2] and (port_suffix[1].startswith("[") or ":" not in port_suffix[1]):
        raise _Rule("enter the host name only, without port (:993)")
    raise _Rule(_HOST_RULE)


def _email(rule: str, value: object) -> str:
    address = _text(value, rule)
    local, at, domain = address.rpartition("@")
    if (
        not at
        or not local
        or "@" in local
        or len(address) > 254
        or any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in address)
        or not ("." in domain or domain.casefold() == "localhost")
        or "" in domain.split(".")
    ):
        raise _Rule(rule)
    return address


def _guid(value: object) -> str:
    match = _GUID.fullmatch(_text(value, _GUID_RULE))
    if match is None or match[0].startswith("{") != match[0].endswith("}"):
        raise _Rule(_GUID_RULE)
    return match[1].lower()


def _identifier(value: object) -> str:
    rule = "must be the ID of an existing item (up to 100 characters, no spaces)"
    ident = _text(value, rule)
    if len(ident) > 100 or any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in ident):
        raise _Rule(rule)
    return ident


_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _Rule("must be true or false (also accepted: yes/no, on/off, 1/0)")


def _name(value: object) -> str:
    return clean_name(value, "name", 100)


# Trust for the server certificate (issue 3): add CAs or pin one certificate; there is no "accept all".
_SHOW_CERTS = "`openssl s_client -connect host:993 -showcerts </dev/null`"
_SHOW_FINGERPRINT = (
    "paste what `openssl s_client -connect host:993 </dev/null | openssl x509 -noout -fingerprint "
    "-sha256` prints (Exchange: port 443; IMAP-TLS: port 143 with -starttls imap)"
)
_TRUSTED_CA_RULE = (
    "must be PEM text of the CA certificate(s) to trust for this server, each from "
    "-----BEGIN CERTIFICATE----- to -----END CERTIFICATE----- (a self-signed server: its own "
    f"certificate; {_SHOW_CERTS} prints the chain)"
)
MAX_TRUSTED_CA_CHARS = 100_000
_PEM_LABEL = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----")
_FINGERPRINT_RULE = (
    "must be the SHA-256 fingerprint of the server's certificate, 64 hex digits (colons and spaces "
    f"allowed): {_SHOW_FINGERPRINT}"
)
_OPENSSL_FINGERPRINT_PREFIX = re.compile(r"^sha-?(?:1|256) fingerprint\s*=", re.IGNORECASE)


def parse_trusted_ca(value: object) -> str:
    """The certificates of a PEM text, re-encoded and concatenated; any text between them dropped."""
    text = _certificate_blocks(value)
    # cryptography's X.509 module costs ~15 ms to import: only profiles being saved need it, not runs
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        # "replace": a stray lone surrogate (possible in JSON) can only spoil a block, never crash
        certificates = x509.load_pem_x509_certificates(text.encode("utf-8", "replace"))
    except ValueError:
        raise _Rule(
            "has a CERTIFICATE block that is not a valid X.509 certificate: copy the whole block "
            "again, from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----"
        ) from None
    return "".join(cert.public_bytes(serialization.Encoding.PEM).decode("ascii") for cert in certificates)


def _stored_trusted_ca(value: object) -> str:
    """A stored profile's trusted CA: :func:`parse_trusted_ca` wrote it, so its blocks are only
    checked to be certificates, not parsed again (see ``validate_new_profile(stored=True)``)."""
    checked = _certificate_blocks(value)
    return value if isinstance(value, str) else checked  # exactly as saved


def _certificate_blocks(value: object) -> str:
    """The PEM text, checked to hold CERTIFICATE blocks only and not too many of them."""
    text = _text(value, _TRUSTED_CA_RULE).replace("\r\n", "\n")
    labels = _PEM_LABEL.findall(text)
    key = next((label for label in labels if "PRIVATE KEY" in label), None)
    if key is not None:  # never echo any of it back
        raise _Rule(
            f"contains a private key (-----BEGIN {key}-----): never paste private keys; give only "
            "the CA certificate(s), the -----BEGIN CERTIFICATE----- blocks"
        )
    if len(text) > MAX_TRUSTED_CA_CHARS:
        raise _Rule(
            f"must be at most {MAX_TRUSTED_CA_CHARS:,} characters: the system's CAs are trusted "
            "already, so give only the certificates this server needs"
        )
    other = sorted({label for label in labels if label not in ("CERTIFICATE", "X509 CERTIFICATE")})
    if other:
        raise _Rule(f"contains a {other[0]} block: give only CERTIFICATE blocks (the CA certificates to trust)")
    if not labels:
        raise _Rule(_TRUSTED_CA_RULE)
    return text


def _fingerprint(value: object) -> str:
    text = _OPENSSL_FINGERPRINT_PREFIX.sub("", _text(value, _FINGERPRINT_RULE), count=1)
    digits = "".join(ch for ch in text if ch != ":" and not ch.isspace())
    if re.fullmatch(r"[0-9A-Fa-f]{40}", digits):
        raise _Rule(
            "is a SHA-1 fingerprint (40 hex digits); give the SHA-256 one (64 hex digits): " + _SHOW_FINGERPRINT
        )
    if not re.fullmatch(r"[0-9A-Fa-f]{64}", digits):
        raise _Rule(_FINGERPRINT_RULE)
    return digits.lower()


_PARSERS: dict[str, Callable[[object], Any]] = {
    "name": _name,
    "type": functools.partial(_enum, ProfileType, "must be one of: " + ", ".join(ProfileType)),
    "mode": functools.partial(_enum, Mode, "must be single or multiple"),
    "delete_policy": parse_delete_policy,
    "mailbox": functools.partial(
        _email, "must be an e-mail address like user@example.com (the mailbox's primary address)"
    ),
    "source_mailbox": functools.partial(
        _email,
        "must be an e-mail address like user@example.com (the mailbox to read when it differs "
        "from the user name of the credentials), or empty",
    ),
    "directory_service_id": _identifier,
    "synchronize_users": _boolean,
    "server_name": _server_name,
    "port": functools.partial(_whole_number, 0, 65535, "must be a whole number between 0 and 65535"),
    "protocol": functools.partial(_enum, ImapProtocol, "must be IMAP-SSL or IMAP-TLS"),
    "secret_id": _identifier,
    "timeout": functools.partial(
        _whole_number,
        0,
        MAX_TIMEOUT_SECONDS,
        f"must be a whole number of seconds between 0 and {MAX_TIMEOUT_SECONDS}, "
        f"or empty for the default ({DEFAULT_TIMEOUT_SECONDS})",
    ),
    "tls_trusted_ca": parse_trusted_ca,
    "tls_fingerprint": _fingerprint,
    "application_id": _guid,
    "directory_id": _guid,
}

_STORED_PARSERS: dict[str, Callable[[object], object]] = {**_PARSERS, "tls_trusted_ca": _stored_trusted_ca}

_REQUIRED_HINTS = {
    "name": "give the profile a name that is unique in this tenant",
    "type": "one of: " + ", ".join(ProfileType),
    "mode": "single or multiple",
    "secret_id": "choose the credentials to connect with",
    "mailbox": "enter the mailbox's primary e-mail address",
    "directory_service_id": "choose the directory service that lists the mailboxes",
    "server_name": "enter the mail server's host name",
    "protocol": "IMAP-SSL or IMAP-TLS",
    "application_id": "copy the Application (client) ID from Microsoft Entra ID",
    "directory_id": "copy the Directory (tenant) ID from Microsoft Entra ID",
}


def parse_mailbox(value: object, field: str = "mailbox") -> str:
    """A mailbox's primary e-mail address, checked by the same rule as a profile's ``mailbox``."""
    try:
        return str(_PARSERS["mailbox"](value))
    except _Rule as exc:
        raise InvalidInput(FieldError(field, exc.message)) from None


def _is_empty(field: str, value: object) -> bool:
    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    if field == "synchronize_users":  # false is the unset state of a checkbox
        try:
            return not _boolean(value)
        except _Rule:
            return False
    return False


def _all_fields(type: ProfileType) -> frozenset[str]:
    return fields_for(type, Mode.SINGLE) | fields_for(type, Mode.MULTIPLE)


def _unused_message(field: str, type: ProfileType) -> str:
    if field in _all_fields(type):
        used_in = Mode.SINGLE if field in fields_for(type, Mode.SINGLE) else Mode.MULTIPLE
        return f"only used in {used_in}-mailbox mode"
    return f"not used by {type.label} profiles"


def _required_message(field: str, type: ProfileType | None) -> str:
    if field in ("mailbox", "directory_service_id"):
        where = f" in {'single' if field == 'mailbox' else 'multiple'}-mailbox mode"
    elif field in ("name", "type", "mode") or type is None:
        where = ""
    else:
        where = f" for {type.label} profiles"
    return f"is required{where}: {_REQUIRED_HINTS[field]}"


def validate_new_profile(raw: Mapping[str, object], *, stored: bool = False) -> ProfileSettings:
    """Check every rule for a new profile; raise one InvalidInput listing each broken rule.

    ``stored``: the settings of a saved profile, read back for a run. They passed this check when
    saved, so the trusted CA's certificates are not parsed again (~20 ms of every run's start).
    """
    parsers = _STORED_PARSERS if stored else _PARSERS
    errors = [FieldError(str(key), "unknown field") for key in raw if key not in _PARSERS]
    given = {k: v for k, v in raw.items() if k in _PARSERS and not _is_empty(k, v)}
    parsed: dict[str, Any] = {}

    def parse(field: str) -> None:
        try:
            parsed[field] = parsers[field](given[field])
        except _Rule as exc:
            errors.append(FieldError(field, exc.message))
        except InvalidInput as exc:  # name and delete_policy name their own fields
            errors.extend(exc.errors)

    for field in ("type", "mode"):
        if field in given:
            parse(field)
    type_: ProfileType | None = parsed.get("type")
    mode: Mode | None = parsed.get("mode")
    if type_ is ProfileType.OUTLOOK_COM and mode is Mode.MULTIPLE:
        errors.append(FieldError("mode", "Microsoft Outlook.com profiles are single-mailbox only; choose single"))
        mode = None
    used, required = frozenset(_PARSERS), frozenset({"name", "type", "mode"})
    if type_ is not None:
        used = fields_for(type_, mode) if mode else _all_fields(type_)
        required = required_fields(type_, mode)
    for field in given.keys() - {"type", "mode"}:
        if field in used:
            parse(field)
        elif type_ is not None:  # with no type every field is in ``used``
            errors.append(FieldError(field, _unused_message(field, type_)))
    errors += [FieldError(f, _required_message(f, type_)) for f in required - given.keys()]

    if errors:
        raise InvalidInput(sorted(errors, key=_error_order))
    if type_ is ProfileType.IMAP and "port" not in parsed:
        parsed["port"] = DEFAULT_PORTS[parsed["protocol"]]
    return ProfileSettings(**parsed)


def _error_order(error: FieldError) -> int:
    field = error.field.split(".", 1)[0]
    return _FIELD_ORDER.index(field) if field in _FIELD_ORDER else len(_FIELD_ORDER)


def apply_changes(current: ProfileSettings, changes: Mapping[str, object]) -> ProfileSettings:
    """Edit a profile: overlay ``changes`` on ``current`` and validate the result as for a new one.

    The type cannot change. Values ``current`` has for fields a new mode does not use are
    dropped; such values in ``changes`` are rejected. ``None`` or ``""`` clears a field.
    """
    errors: list[FieldError] = []
    if "type" in changes and _lenient(ProfileType, changes["type"]) is not current.type:
        errors.append(FieldError("type", "cannot be changed after creation; create a new profile instead"))
    # An unreadable mode is reported by the validation below.
    mode = _lenient(Mode, changes.get("mode", current.mode)) or current.mode
    merged = current.to_dict()
    for field in merged.keys() - fields_for(current.type, mode) - changes.keys():
        merged[field] = None
    if (
        "protocol" in changes
        and "port" not in changes
        and current.protocol is not None
        and current.port == DEFAULT_PORTS[current.protocol]
    ):
        merged["port"] = None  # follow the new protocol's default port
    merged |= {k: v for k, v in changes.items() if k != "type"}
    try:
        result = validate_new_profile(merged)
    except InvalidInput as exc:
        errors += exc.errors
    if errors:
        raise InvalidInput(sorted(errors, key=_error_order))
    return result
