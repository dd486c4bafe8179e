"""Directory services: where the mailboxes of a multiple-mailbox profile come from (issue 7).

A directory service has a name (unique per tenant, case-insensitively) and a **type**, fixed
after creation:

==========  ======================  ===================================================================
type        label                   fields
==========  ======================  ===================================================================
``ldap``    LDAP / Active Directory ``server_name`` (host only), ``port`` (389 or 636 by default),
                                    ``security`` (none, starttls, ldaps), ``tls_trusted_ca``,
                                    ``timeout``, ``secret_id`` (a username/password secret: the
                                    username is the bind DN), ``base_dn``, ``filter``,
                                    ``mail_attribute``, ``display_name_attribute``, ``page_size``
``static``  Static list             ``entries``: addresses with an optional display name, given as
                                    CSV text (``address,display name``; header optional) or a list
==========  ======================  ===================================================================

:func:`validate_new_directory` and :func:`apply_changes` take raw values (typed JSON or strings
from the CLI), collect every broken rule and raise one :class:`~postroom.errors.InvalidInput`
with a :class:`~postroom.errors.FieldError` per rule. The server certificate is always verified
(against the system's CAs, plus ``tls_trusted_ca`` when given): there is no "accept any".

Static lists and the cleaning of what any directory lists are in ``domain/mailbox_list.py``.
Everything here is pure: no I/O.
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

from ldap3.core.exceptions import LDAPInvalidDnError, LDAPInvalidFilterError
from ldap3.operation.search import parse_filter
from ldap3.utils.dn import parse_dn

from postroom.domain._parsing import _enum, _LenientEnum, _Rule, _whole_number
from postroom.domain.mailbox_list import (
    MAX_STATIC_ENTRIES,
    DirectoryEntry,
    Listing,
    StaticEntry,
    clean_listing,
    entries_from_list,
    normalise_address,
    parse_static_csv,
)
from postroom.domain.naming import clean_name, is_encodable
from postroom.domain.profile import is_host_name, parse_trusted_ca
from postroom.domain.secret import SecretKind
from postroom.errors import FieldError, InvalidInput

__all__ = [
    "DEFAULT_FILTER",
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_PORTS",
    "DEFAULT_TIMEOUT_SECONDS",
    "MAX_STATIC_ENTRIES",
    "DirectoryEntry",
    "DirectorySettings",
    "DirectoryType",
    "LdapSecurity",
    "Listing",
    "StaticEntry",
    "allowed_secret_kinds",
    "apply_changes",
    "clean_listing",
    "fields_for",
    "normalise_address",
    "parse_static_csv",
    "validate_new_directory",
]

DEFAULT_FILTER = "(&(objectClass=person)(mail=*))"
DEFAULT_MAIL_ATTRIBUTE = "mail"
DEFAULT_DISPLAY_NAME_ATTRIBUTE = "displayName"
DEFAULT_PAGE_SIZE = 500  # Active Directory answers at most 1000 entries a page (MaxPageSize)
MAX_PAGE_SIZE = 10_000
DEFAULT_TIMEOUT_SECONDS = 30
MAX_TIMEOUT_SECONDS = 2147483
MAX_FILTER_LENGTH = 4096


class DirectoryType(_LenientEnum):
    LDAP = "ldap"
    STATIC = "static"

    @property
    def label(self) -> str:
        return _TYPE_LABELS[self]


_TYPE_LABELS = {DirectoryType.LDAP: "LDAP / Active Directory", DirectoryType.STATIC: "Static list"}


class LdapSecurity(_LenientEnum):
    NONE = "none"  # plain LDAP: the bind password crosses the network readable
    STARTTLS = "starttls"  # LDAP, then StartTLS before binding
    LDAPS = "ldaps"  # TLS from the first byte

    @property
    def tls(self) -> bool:
        return self is not LdapSecurity.NONE


DEFAULT_SECURITY = LdapSecurity.STARTTLS
DEFAULT_PORTS = {LdapSecurity.NONE: 389, LdapSecurity.STARTTLS: 389, LdapSecurity.LDAPS: 636}


@dataclass(frozen=True)
class DirectorySettings:
    """A validated directory service; build it with :func:`validate_new_directory`."""

    name: str
    type: DirectoryType
    secret_id: str | None = None
    server_name: str | None = None
    port: int | None = None
    security: LdapSecurity | None = None
    tls_trusted_ca: str | None = None  # PEM of CAs trusted besides the system store
    timeout: int | None = None
    base_dn: str | None = None
    filter: str | None = None
    mail_attribute: str | None = None
    display_name_attribute: str | None = None
    page_size: int | None = None
    entries: tuple[StaticEntry, ...] = ()

    def effective_timeout(self) -> int:
        """Seconds to wait for the server: the timeout set, or the default when it is empty."""
        return DEFAULT_TIMEOUT_SECONDS if self.timeout is None else self.timeout

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values; :func:`validate_new_directory` accepts the result unchanged."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.value if isinstance(value, StrEnum) else value
        out["entries"] = [entry.to_dict() for entry in self.entries]
        return out


_FIELD_ORDER = tuple(f.name for f in dataclasses.fields(DirectorySettings))
_COMMON = frozenset({"name", "type"})
_BY_TYPE = {
    DirectoryType.LDAP: frozenset(
        {
            "secret_id",
            "server_name",
            "port",
            "security",
            "tls_trusted_ca",
            "timeout",
            "base_dn",
            "filter",
            "mail_attribute",
            "display_name_attribute",
            "page_size",
        }
    ),
    DirectoryType.STATIC: frozenset({"entries"}),
}
_REQUIRED_BY_TYPE = {
    DirectoryType.LDAP: frozenset({"server_name", "base_dn"}),
    DirectoryType.STATIC: frozenset[str](),
}
_SECRET_KINDS = {DirectoryType.LDAP: frozenset({SecretKind.BASIC}), DirectoryType.STATIC: frozenset[SecretKind]()}
_DEFAULTS: dict[DirectoryType, dict[str, Any]] = {
    DirectoryType.LDAP: {
        "security": DEFAULT_SECURITY,
        "filter": DEFAULT_FILTER,
        "mail_attribute": DEFAULT_MAIL_ATTRIBUTE,
        "display_name_attribute": DEFAULT_DISPLAY_NAME_ATTRIBUTE,
        "page_size": DEFAULT_PAGE_SIZE,
    },
    DirectoryType.STATIC: {},
}


def fields_for(type: DirectoryType) -> frozenset[str]:
    """The fields a directory service of this type has."""
    return _COMMON | _BY_TYPE[type]


def allowed_secret_kinds(type: DirectoryType) -> frozenset[SecretKind]:
    """Kinds of secret a directory service of this type may bind with (none: it takes no secret)."""
    return _SECRET_KINDS[type]


# --- value rules -----------------------------------------------------------------------------

_HOST_RULE = "must be the directory server's host name (like dc1.example.com), an IPv4 or an IPv6 address"
_ATTRIBUTE = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}|\d+(?:\.\d+)+")


def _text(value: object, rule: str) -> str:
    if not isinstance(value, str):
        raise _Rule(rule)
    if not is_encodable(value):
        raise _Rule("must be valid Unicode text: it contains a lone surrogate")
    if any(unicodedata.category(ch) == "Cc" for ch in value.strip()):
        raise _Rule("must not contain control characters (such as NUL, tabs or line breaks)")
    return value.strip()


def _server_name(value: object) -> str:
    host = unicodedata.normalize("NFC", _text(value, _HOST_RULE))
    if "://" in host:
        raise _Rule("enter the host name only, without ldap:// or ldaps:// (choose ldaps with security)")
    if any(ch.isspace() for ch in host):
        raise _Rule("must not contain spaces; " + _HOST_RULE)
    if "/" in host:
        raise _Rule("enter the host name only, without a path (/...)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host and host.count(":") == 1:
        raise _Rule("enter the host name only, without port (:389): give the port in port")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if is_host_name(host):
        return host
    raise _Rule(_HOST_RULE)


def _dn(rule: str, value: object) -> str:
    """A distinguished name as LDAP writes it (RFC 4514); spaces around commas are dropped."""
    text = _text(value, rule)
    if not text:
        raise _Rule(rule)
    parts, current, escaped = [], "", False
    for ch in text:
        if escaped:
            current, escaped = current + ch, False
        elif ch == "\\":
            current, escaped = current + ch, True
        elif ch == ",":
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    cleaned = []
    for part in parts:
        stripped = part.strip()
        if part.rstrip() != part and stripped.endswith("\\"):
            stripped += " "  # "cn=a\ " keeps its escaped trailing space
        cleaned.append(stripped)
    dn = ",".join(cleaned)
    try:
        parse_dn(dn)
    except LDAPInvalidDnError as exc:
        raise _Rule(f"{rule} ({exc})") from None
    return dn


_BASE_DN_RULE = (
    "must be a distinguished name like dc=example,dc=com or ou=Staff,dc=example,dc=com "
    "(Active Directory: the domain's DN, e.g. DC=corp,DC=example,DC=com)"
)


def _filter(value: object) -> str:
    rule = f"must be an LDAP search filter in parentheses, like {DEFAULT_FILTER}"
    text = _text(value, rule)
    if len(text) > MAX_FILTER_LENGTH:
        raise _Rule(f"must be at most {MAX_FILTER_LENGTH} characters long")
    if not (text.startswith("(") and text.endswith(")")):
        raise _Rule(f"{rule}: wrap it in parentheses, e.g. ({text})" if text else rule)
    depth = 0
    for ch in text.replace("\\(", "").replace("\\)", ""):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            raise _Rule(f"has a ) without its (: {rule}")
    if depth:
        raise _Rule(f"has {depth} ( without its ): {rule}")
    if re.search(r"\(\s*[~<>:]?=", text):
        raise _Rule(f"has a condition without an attribute name, like (=value): {rule}")
    try:
        parse_filter(text, None, False, False, None, False)  # type: ignore[no-untyped-call]
    except LDAPInvalidFilterError as exc:
        raise _Rule(f"is not a valid LDAP filter ({exc}); {rule}") from None
    return text


def _attribute(what: str, value: object) -> str:
    rule = f"must be the name of the LDAP attribute that holds {what} (letters, digits and -), or an OID"
    text = _text(value, rule)
    if not _ATTRIBUTE.fullmatch(text):
        raise _Rule(rule)
    return text


def _identifier(value: object) -> str:
    rule = "must be the name or ID of an existing secret"
    ident = _text(value, rule)
    if len(ident) > 100 or any(unicodedata.category(ch) == "Cc" for ch in ident):
        raise _Rule(rule)
    return ident


def _entries(value: object) -> tuple[StaticEntry, ...]:
    if isinstance(value, str):
        return parse_static_csv(value)
    if isinstance(value, list | tuple):
        return entries_from_list(value)
    raise _Rule("must be CSV text (address,display name per line) or a list of {address, display_name}")


_PARSERS: dict[str, Callable[[object], Any]] = {
    "name": lambda value: clean_name(value, "name", 100),
    "type": functools.partial(_enum, DirectoryType, "must be one of: " + ", ".join(DirectoryType)),
    "secret_id": _identifier,
    "server_name": _server_name,
    "port": functools.partial(_whole_number, 1, 65535, "must be a whole number between 1 and 65535"),
    "security": functools.partial(_enum, LdapSecurity, "must be none, starttls or ldaps"),
    "tls_trusted_ca": parse_trusted_ca,
    "timeout": functools.partial(
        _whole_number,
        0,
        MAX_TIMEOUT_SECONDS,
        f"must be a whole number of seconds between 0 and {MAX_TIMEOUT_SECONDS}, "
        f"or empty for the default ({DEFAULT_TIMEOUT_SECONDS})",
    ),
    "base_dn": functools.partial(_dn, _BASE_DN_RULE),
    "filter": _filter,
    "mail_attribute": functools.partial(_attribute, "the e-mail address (usually mail)"),
    "display_name_attribute": functools.partial(_attribute, "the display name (usually displayName or cn)"),
    "page_size": functools.partial(
        _whole_number, 1, MAX_PAGE_SIZE, f"must be a whole number between 1 and {MAX_PAGE_SIZE} (entries per page)"
    ),
    "entries": _entries,
}

_REQUIRED_HINTS = {
    "name": "give the directory service a name that is unique in this tenant",
    "type": "one of: " + ", ".join(DirectoryType),
    "server_name": "enter the directory server's host name",
    "base_dn": "enter the DN to search below, like dc=example,dc=com",
}


def _is_empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value in ((), [])


def _error_order(error: FieldError) -> int:
    name = error.field.split(".", 1)[0]
    return _FIELD_ORDER.index(name) if name in _FIELD_ORDER else len(_FIELD_ORDER)


def validate_new_directory(raw: Mapping[str, object]) -> DirectorySettings:
    """Check every rule for a new directory service; raise one InvalidInput listing each broken rule.

    ``None`` or ``""`` leaves a field empty (its default, where it has one). ``entries`` of a
    static list may be empty: the list is then filled in later.
    """
    errors = [FieldError(str(key), "unknown field") for key in raw if key not in _PARSERS]
    given = {k: v for k, v in raw.items() if k in _PARSERS and not _is_empty(v)}
    parsed: dict[str, Any] = {}

    def parse(name: str) -> None:
        try:
            parsed[name] = _PARSERS[name](given[name])
        except _Rule as exc:
            errors.append(FieldError(name, exc.message))
        except InvalidInput as exc:  # name and entries name their own fields
            errors.extend(exc.errors)

    if "type" in given:
        parse("type")
    type_: DirectoryType | None = parsed.get("type")
    used = fields_for(type_) if type_ else frozenset(_PARSERS)
    required = {"name", "type", *(_REQUIRED_BY_TYPE[type_] if type_ else ())}
    for name in given.keys() - {"type"}:
        if name in used:
            parse(name)
        elif type_ is not None:
            errors.append(FieldError(name, f"not used by {type_.label} directory services"))
    errors += [FieldError(f, f"is required: {_REQUIRED_HINTS[f]}") for f in sorted(required - given.keys())]
    if errors:
        raise InvalidInput(sorted(errors, key=_error_order))
    assert type_ is not None
    values = {**_DEFAULTS[type_], **parsed}
    if type_ is DirectoryType.LDAP and "port" not in values:
        values["port"] = DEFAULT_PORTS[values["security"]]
    return DirectorySettings(**values)


def apply_changes(current: DirectorySettings, changes: Mapping[str, object]) -> DirectorySettings:
    """Edit a directory service: overlay ``changes`` on ``current`` and validate the result.

    The type cannot change. ``None`` or ``""`` clears a field (back to its default). Changing
    ``security`` while the port is the old security's default follows the new one's default.
    """
    errors: list[FieldError] = []
    if "type" in changes:
        try:
            wanted = _enum(DirectoryType, "", changes["type"])
        except _Rule:
            wanted = None
        if wanted is not current.type:
            errors.append(FieldError("type", "cannot be changed after creation; create a new directory service"))
    merged = current.to_dict()
    if (
        "security" in changes
        and "port" not in changes
        and current.security is not None
        and current.port == DEFAULT_PORTS[current.security]
    ):
        merged["port"] = None
    merged |= {k: v for k, v in changes.items() if k != "type"}
    merged = {k: v for k, v in merged.items() if k in fields_for(current.type) or k in changes}
    try:
        result = validate_new_directory(merged)
    except InvalidInput as exc:
        errors += exc.errors
    if errors:
        raise InvalidInput(sorted(errors, key=_error_order))
    return result
