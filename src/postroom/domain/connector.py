"""The sync connector's shared vocabulary: its license file, delivery outcomes and retry timing.

Both sides use this module: the server (``services/connectors.py``, the ``/api/connector/v1/``
routes) issues licenses and records outcomes; the connector (``connector/``) reads its license
and reports outcomes. ``docs/decisions/0004-connector-protocol.md`` describes the protocol.

**The license file** (``Sync-license.lic`` by default) is a small JSON document::

    {"postroom_connector_license": 1, "server_url": "https://postroom.example.com",
     "tenant": "acme", "connector_id": "…", "name": "fileserver", "issued_at": "…",
     "secret": "prc_<12 hex>_<43 URL-safe characters>"}

The secret's first part (the 12 hex digits) finds the connector's row; the server keeps only the
SHA-256 of the rest (``security/tokens.py`` explains why a fast hash is right for 256 random
bits). :func:`parse_license` checks every field and says which one is wrong, without ever
echoing the secret.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from postroom.errors import (
    DestinationError,
    DiskFull,
    FolderMissing,
    FolderNotWritable,
    LicenseError,
    NameCollision,
    NameTooLong,
    NotAuthenticated,
)
from postroom.security.tokens import NewToken, new_token, parse_token

__all__ = [
    "DEFAULT_LICENSE_NAME",
    "LICENSE_FORMAT",
    "License",
    "Outcome",
    "Reason",
    "new_secret",
    "parse_license",
    "parse_secret",
    "reason_for",
    "retry_delay",
]

DEFAULT_LICENSE_NAME = "Sync-license.lic"
LICENSE_FORMAT = 1
MAX_LICENSE_BYTES = 64 * 1024
SECRET_PREFIX = "prc"


def new_secret() -> NewToken:
    """A connector secret: store ``token_id`` (the license key) and ``secret_hash``; ``plaintext`` goes in the file."""
    return new_token(SECRET_PREFIX)


def parse_secret(plaintext: str) -> tuple[str, str]:
    """``(key, secret)`` from a connector secret; NotAuthenticated (never echoing it) otherwise."""
    return parse_token(plaintext, SECRET_PREFIX, "connector credential", "the secret of a Postroom license file")


@dataclass(frozen=True)
class License:
    """What a connector needs to reach its server: where, which tenant, who it is, and its secret."""

    server_url: str
    tenant: str
    connector_id: str
    name: str
    issued_at: str
    secret: str = field(repr=False)

    def to_text(self) -> str:
        """The file's content: JSON, one field per line, ending in a newline."""
        document = {
            "postroom_connector_license": LICENSE_FORMAT,
            "server_url": self.server_url,
            "tenant": self.tenant,
            "connector_id": self.connector_id,
            "name": self.name,
            "issued_at": self.issued_at,
            "secret": self.secret,
        }
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def parse_license(data: bytes | str, source: str = "the license file") -> License:
    """The license in ``data``; :class:`LicenseError` naming ``source`` and what is wrong with it."""
    if len(data) > MAX_LICENSE_BYTES:
        raise LicenseError(f"{source} is not a Postroom license: it is larger than {MAX_LICENSE_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
        document: Any = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        raise LicenseError(
            f"{source} is not a Postroom license (it is not JSON text); "
            "download it again with `postroom connector license create` or from the portal"
        ) from None
    if not isinstance(document, dict) or "postroom_connector_license" not in document:
        raise LicenseError(f"{source} is not a Postroom license: it has no postroom_connector_license field")
    if document["postroom_connector_license"] != LICENSE_FORMAT:
        raise LicenseError(
            f"{source} has license format {document['postroom_connector_license']!r}; this connector reads "
            f"format {LICENSE_FORMAT}: use the connector version that matches the server"
        )
    problems = []
    values: dict[str, str] = {}
    for name in ("server_url", "tenant", "connector_id", "name", "issued_at", "secret"):
        value = document.get(name)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{name} is missing or empty")
        else:
            values[name] = value.strip()
    if "server_url" in values and not re.match(r"https?://[^/\s]+", values["server_url"]):
        problems.append("server_url must start with http:// or https:// and name a host")
    if "secret" in values and not _is_secret(values["secret"]):
        problems.append("secret is not a connector secret (was the file edited?)")
    if problems:
        raise LicenseError(f"{source} is damaged: {'; '.join(problems)}; create a new license for this connector")
    values["server_url"] = values["server_url"].rstrip("/")
    return License(**values)


def _is_secret(text: str) -> bool:
    try:
        parse_secret(text)
    except NotAuthenticated:
        return False
    return True


class Outcome(StrEnum):
    """What the connector did with a delivery; the filing's status becomes the same word."""

    WRITTEN = "written"  # the file is now in the folder
    PRESENT = "present"  # the same bytes were already there
    SKIPPED = "skipped"  # the folder cannot be written now; retried later (reason says why)
    FAILED = "failed"  # anything else went wrong; retried later (error says what)

    @property
    def delivered(self) -> bool:
        return self in (Outcome.WRITTEN, Outcome.PRESENT)


class Reason(StrEnum):
    """Why a delivery was skipped: what an administrator fixes at the destination."""

    FOLDER_MISSING = "folder_missing"
    PERMISSION_DENIED = "permission_denied"
    DISK_FULL = "disk_full"
    NAME_TOO_LONG = "name_too_long"
    NAME_COLLISION = "name_collision"
    NO_PATH = "no_path"  # the connector cannot reach the location's sync path (no path root maps it)
    CANNOT_WRITE = "cannot_write"  # another error of the destination

    @property
    def advice(self) -> str:
        return _ADVICE[self]


_ADVICE = {
    Reason.FOLDER_MISSING: "create the folder (or mount the share) the location names, or correct its sync path",
    Reason.PERMISSION_DENIED: "give the connector's account write permission on the folder",
    Reason.DISK_FULL: "free space on the destination or raise its quota",
    Reason.NAME_TOO_LONG: "shorten the location's folder path or its naming template",
    Reason.NAME_COLLISION: "move away the files of other content that hold the message's names",
    Reason.NO_PATH: "give the connector a path root that maps the location's sync path to a folder it can reach",
    Reason.CANNOT_WRITE: "check the destination's health; the error says what the system answered",
}


def reason_for(error: DestinationError) -> Reason:
    """The skip reason a destination error is reported with."""
    for kind, reason in (
        (FolderMissing, Reason.FOLDER_MISSING),
        (FolderNotWritable, Reason.PERMISSION_DENIED),
        (DiskFull, Reason.DISK_FULL),
        (NameTooLong, Reason.NAME_TOO_LONG),
        (NameCollision, Reason.NAME_COLLISION),
    ):
        if isinstance(error, kind):
            return reason
    return Reason.CANNOT_WRITE


def retry_delay(attempts: int, base: timedelta, cap: timedelta = timedelta(hours=1)) -> timedelta:
    """How long after its ``attempts``-th unsuccessful attempt a delivery is offered again.

    ``base`` doubling with each attempt (once, twice, four times, …), never more than ``cap``: a folder whose
    permission is fixed gets its mail within the current delay, and a folder that stays broken
    costs one try an hour.
    """
    factor: int = 2 ** min(max(attempts - 1, 0), 30)
    delay: timedelta = base * factor
    return min(delay, cap)
