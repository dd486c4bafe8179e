"""Every error Postroom raises on purpose derives from :class:`PostroomError`.

The tree, with what each means to the person who sees it::

    PostroomError                    something went wrong that a person can act on
    ├── InvalidInput                 one or more values break a rule (each FieldError names field + rule)
    ├── NotFound                     the thing does not exist, or belongs to another tenant
    ├── Conflict                     the request clashes with what is stored
    │   ├── NameTaken                a name must be unique within its tenant
    │   ├── InUse                    something still refers to the thing (a schedule uses a profile)
    │   ├── LeaseHeld                another connector holds the tenant's lease (named, with since when)
    │   └── LeaseLost                this connector's lease expired or was taken over: stop writing
    ├── AccessDenied                 authenticated, but the role does not allow it
    ├── NotAuthenticated             no valid credentials (wrong password, unknown or revoked token)
    │   └── LicenseRevoked           the connector's license was revoked
    ├── LicenseError                 a connector license file is missing, malformed or not a license
    ├── ConfigurationError           settings or the data directory are unusable
    ├── SecretError                  a secret cannot be decrypted or parsed (wrong key, corrupt data)
    ├── BlobStoreError               an archived message's bytes cannot be written or read
    │   ├── BlobMissing (+NotFound)  no blob with this hash in the tenant's archive
    │   └── BlobCorrupt              the blob no longer hashes to its name
    ├── SourceError                  a mail system failed or refused: which step, and its raw answer
    │   └── SourceAuthFailed         the mail system rejected the credentials
    └── DestinationError             a filed message cannot be written to its location: where, and why
        ├── FolderMissing            the location's folder does not exist (it is never created)
        ├── FolderNotWritable        no permission, or a read-only file system
        ├── DiskFull                 no space left, quota used up, or the file too large for it
        ├── NameTooLong              no shortening makes the name fit the file system's limits
        ├── NameCollision            the name and its suffixed form hold files with other content
        └── ContentMismatch          the bytes do not hash to the SHA-256 given with them

The web layer maps this tree to HTTP status codes in one place (``web/errors.py``) and the
CLI prints ``str(error)`` as one line; vendor exceptions are translated at the edge with
``raise ... from exc``.
"""

from __future__ import annotations

from dataclasses import dataclass


class PostroomError(Exception):
    """Root of every error Postroom raises deliberately."""


@dataclass(frozen=True)
class FieldError:
    """A rejected value: which field, and the rule it breaks, in words a user can act on."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class InvalidInput(PostroomError):
    """One or more values break a rule; ``errors`` lists every one of them."""

    def __init__(self, errors: list[FieldError] | FieldError) -> None:
        self.errors: list[FieldError] = [errors] if isinstance(errors, FieldError) else list(errors)
        super().__init__("; ".join(str(e) for e in self.errors))


class NotFound(PostroomError):
    """The thing does not exist, or it belongs to a tenant the caller cannot see."""

    def __init__(self, kind: str, key: str) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} {key!r} not found")


class Conflict(PostroomError):
    """The request clashes with what is stored."""


class NameTaken(Conflict):
    """A name that must be unique (case-insensitively) within a tenant is already used."""

    def __init__(self, kind: str, name: str) -> None:
        self.kind = kind
        self.name = name
        super().__init__(f"a {kind} named {name!r} already exists in this tenant (names are case-insensitive)")


class InUse(Conflict):
    """Something still refers to the thing, so it cannot be deleted (or changed that way)."""


class AccessDenied(PostroomError):
    """The caller is known but their role does not allow the operation."""


class NotAuthenticated(PostroomError):
    """No valid credentials were given."""


class ConfigurationError(PostroomError):
    """Settings or the data directory cannot be used as they are."""


class SecretError(PostroomError):
    """A stored secret cannot be decrypted or its content cannot be parsed."""


class SourceError(PostroomError):
    """A mail system could not be reached, refused, or answered wrongly.

    ``step`` names what was being done (dns, tcp, tls, greeting, login, list, fetch, delete) and
    ``raw`` keeps the server's own words, which the Test Connection dialog shows as they are.
    """

    def __init__(self, step: str, message: str, raw: str | None = None) -> None:
        self.step = step
        self.raw = raw
        super().__init__(f"{step}: {message}" + (f" (server said: {raw})" if raw else ""))


class SourceAuthFailed(SourceError):
    """The mail system rejected the credentials: check the profile's secret."""


class BlobStoreError(PostroomError):
    """A blob cannot be written or read (disk full, permissions, I/O error) or is damaged."""


class BlobMissing(NotFound, BlobStoreError):
    """No blob with this hash exists in this tenant's archive."""

    def __init__(self, tenant_id: str, sha256: str) -> None:
        self.tenant_id = tenant_id
        super().__init__("archived message blob", sha256)


class BlobCorrupt(BlobStoreError):
    """The stored blob no longer decompresses to content with the hash it is named by."""

    def __init__(self, tenant_id: str, sha256: str, reason: str, path: str = "") -> None:
        self.tenant_id = tenant_id
        self.sha256 = sha256
        self.reason = reason
        where = f" ({path})" if path else ""
        super().__init__(f"archived message blob {sha256} is corrupt: {reason}{where}")


class DestinationError(PostroomError):
    """A filed message cannot be written to its location; ``path`` says where, ``reason`` why."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{reason}: {path}")


class FolderMissing(DestinationError):
    """The location's folder (or a folder on the way) does not exist or is not a folder."""


class FolderNotWritable(DestinationError):
    """The connector's account may not write there, or the file system is read-only."""


class DiskFull(DestinationError):
    """No space left on the device, the quota is used up, or the file is too large for it."""


class NameTooLong(DestinationError):
    """A file name cannot be made to fit the file system's limits; ``reason`` names the limit."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(path, reason)
        self.args = (f"name too long: {reason}: {path}",)


class NameCollision(DestinationError):
    """Both the name and its collision-suffixed form hold files with other content."""


class ContentMismatch(DestinationError):
    """The bytes given do not hash to the ``content_sha256`` given with them: nothing was written."""


class LicenseError(PostroomError):
    """A connector license file cannot be read: missing, malformed, or not a Postroom license."""


class LicenseRevoked(NotAuthenticated):
    """The connector's license was revoked (or never existed on this server)."""


class LeaseHeld(Conflict):
    """Another connector holds the tenant's connector lease; the message names it and since when."""


class LeaseLost(Conflict):
    """The caller no longer holds the connector lease (it expired or another took it): stop writing."""
