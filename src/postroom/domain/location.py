r"""Locations: the project folders messages are filed to, and the sync paths that name them.

A location has a name (unique per tenant, case-insensitively), a **sync path**, a file format
(``eml`` or ``msg``), a naming template (``formats/naming.py``) and an enabled flag.
:func:`validate_location` checks every rule at once and raises one
:class:`~postroom.errors.InvalidInput` listing a :class:`~postroom.errors.FieldError` per rule.

**Sync paths** (:class:`SyncPath`) are registered as people see them, in one of four kinds:

=========  ================================================  =============================================
kind       registered as                                     normalised (stored and compared)
=========  ================================================  =============================================
``posix``  ``/srv/projects/Surrey Court/``                   ``/srv/projects/Surrey Court``
``unc``    ``\\FileServer\Projects\Surrey Court\email``      ``//fileserver/projects/Surrey Court/email``
``drive``  ``c:\Users\sallyb\Projects`` or ``C:/Users/…``    ``c:/Users/sallyb/Projects``
``url``    ``SMB://FS.example.com/projects/Surrey%20Court``  ``smb://fs.example.com/projects/Surrey Court``
=========  ================================================  =============================================

Normalising: surrounding whitespace trimmed, NFC; separators become ``/``; empty and ``.``
segments dropped, ``..`` refused (a sync path never climbs out of where it points); no
trailing separator. What Windows compares without case is folded — the UNC server and share,
the drive letter — and so are a URL's scheme and host; every other segment keeps its case, since
POSIX file systems and most storage compare with case. ``str()`` writes the path back in its own
style (backslashes for UNC and drive paths). A URL's segments are percent-decoded; ``%``, ``?``,
``#`` and ``\`` in a name are written back encoded. No folder name may end with a space.

:attr:`SyncPath.key` is what two paths are compared by to decide whether they are the same folder:
the normalised form, wholly case-folded for UNC and drive paths (Windows ignores case in every
segment). Each person and machine sees a synced folder under its own root, so a connector has
**path roots** (:class:`PathRoot`): "what the server calls ``\\fs\projects`` is ``/srv/projects``
here". :func:`resolve` maps a location's sync path to the path a connector writes to.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import unquote, urlsplit

from postroom.domain._parsing import _LenientEnum, _Rule, parse_fields
from postroom.domain.naming import clean_name, is_encodable
from postroom.errors import FieldError, InvalidInput
from postroom.formats.naming import DEFAULT_TEMPLATE, NamingTemplate

__all__ = [
    "DEFAULT_FORMAT",
    "MAX_SYNC_PATH_LENGTH",
    "URL_SCHEMES",
    "FileFormat",
    "LocationSettings",
    "PathKind",
    "PathRoot",
    "SyncPath",
    "resolve",
    "validate_location",
]

MAX_SYNC_PATH_LENGTH = 4096  # PATH_MAX on Linux; far beyond what Windows or any share accepts
URL_SCHEMES = ("smb", "sftp", "webdav", "webdavs", "s3", "file")


class PathKind(StrEnum):
    POSIX = "posix"
    UNC = "unc"
    DRIVE = "drive"
    URL = "url"

    @property
    def windows(self) -> bool:
        """Whether Windows compares this kind of path, so case is ignored in every segment."""
        return self in (PathKind.UNC, PathKind.DRIVE)


_HINT = (
    "give an absolute path: /srv/projects/… (POSIX), \\\\server\\share\\… (UNC), C:\\… (a drive) "
    f"or a storage URL ({', '.join(s + '://' for s in URL_SCHEMES)})"
)
_DRIVE = re.compile(r"([A-Za-z]):(.*)", re.S)
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):(.*)", re.S)
_WINDOWS_FORBIDDEN = re.compile(r'[<>:"|?*]')
_WINDOWS_DEVICE = re.compile(r"(CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³]|CONIN\$|CONOUT\$)(\..*)?", re.I)
_HOST = re.compile(r"[\w.-]+|[0-9a-f:.]+")
_URL_ESCAPED = frozenset("%?#\\")


@dataclass(frozen=True)
class SyncPath:
    """A parsed, normalised sync path; build it with :meth:`parse`.

    ``anchor`` is what the segments hang from, normalised: ``""`` for POSIX, ``server/share``
    for UNC, the drive letter, ``scheme://host[:port]`` for a URL.
    """

    kind: PathKind
    anchor: str
    segments: tuple[str, ...]

    @classmethod
    def parse(cls, text: object, field: str = "sync_path") -> SyncPath:
        """Parse ``text``; raise :class:`InvalidInput` naming ``field`` and the rule it breaks."""
        try:
            return _parse(text)
        except _Rule as exc:
            raise InvalidInput(FieldError(field, exc.message)) from None

    @property
    def normalised(self) -> str:
        """The stored form: ``/`` separators, case folded where Windows ignores it."""
        rest = "/".join(self.segments)
        if self.kind is PathKind.POSIX:
            return "/" + rest
        if self.kind is PathKind.UNC:
            return f"//{self.anchor}" + (f"/{rest}" if rest else "")
        if self.kind is PathKind.DRIVE:
            return f"{self.anchor}:/{rest}"
        return f"{self.anchor}/" + "/".join(_url_quote(s) for s in self.segments)

    @property
    def key(self) -> str:
        """The form two paths are compared in to tell whether they name the same folder."""
        return self.normalised.casefold() if self.kind.windows else self.normalised

    def __str__(self) -> str:
        if self.kind is PathKind.UNC:
            return "\\\\" + "\\".join((*self.anchor.split("/"), *self.segments))
        if self.kind is PathKind.DRIVE:
            return f"{self.anchor.upper()}:\\" + "\\".join(self.segments)
        return self.normalised

    def joined(self, segments: Iterable[str]) -> SyncPath:
        """This path with ``segments`` (already checked names) appended."""
        return SyncPath(self.kind, self.anchor, (*self.segments, *segments))

    def relative_to(self, prefix: SyncPath) -> tuple[str, ...] | None:
        """The segments below ``prefix``, or None when ``prefix`` does not contain this path.

        Segment by segment (``/srv/pro`` does not contain ``/srv/projects``), ignoring case for
        UNC and drive paths.
        """
        if prefix.kind is not self.kind or prefix.anchor != self.anchor:
            return None
        size = len(prefix.segments)
        mine = self.segments[:size]
        if len(mine) < size:
            return None
        if self.kind.windows:
            same = all(a.casefold() == b.casefold() for a, b in zip(mine, prefix.segments, strict=True))
        else:
            same = mine == prefix.segments
        return self.segments[size:] if same else None


@dataclass(frozen=True)
class PathRoot:
    """One root of a connector: ``server_prefix`` as the server registers it is ``local`` there."""

    server_prefix: SyncPath
    local: SyncPath


def resolve(
    path: SyncPath, roots: Iterable[PathRoot], *, direct: Collection[PathKind] = tuple(PathKind)
) -> SyncPath | None:
    """The path a connector with ``roots`` writes ``path`` to.

    The root with the longest matching ``server_prefix`` wins. With no matching root, the path
    itself if its kind is one the connector can write to as it is (``direct``), else None: the
    connector cannot reach the folder and says so.
    """
    best: tuple[int, SyncPath] | None = None
    for root in roots:
        rest = path.relative_to(root.server_prefix)
        if rest is not None and (best is None or len(root.server_prefix.segments) > best[0]):
            best = (len(root.server_prefix.segments), root.local.joined(rest))
    if best is not None:
        return best[1]
    return path if path.kind in direct else None


# --- parsing ---------------------------------------------------------------------------------


def _parse(text: object) -> SyncPath:
    if not isinstance(text, str):
        raise _Rule("must be text")
    if not is_encodable(text):
        raise _Rule("must be valid Unicode text: it contains a lone surrogate")
    text = unicodedata.normalize("NFC", text.strip())
    if not text:
        raise _Rule(f"must not be empty; {_HINT}")
    if len(text) > MAX_SYNC_PATH_LENGTH:
        raise _Rule(f"must be at most {MAX_SYNC_PATH_LENGTH} characters long")
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        raise _Rule("must not contain control characters (such as NUL, tabs or line breaks)")
    if text[:2] in ("\\\\", "//", "\\/", "/\\") and text[2:3] not in ("/", "\\"):
        return _unc(text[2:])
    if text.startswith("/"):
        return _posix(text)
    if drive := _DRIVE.fullmatch(text):
        return _drive(drive.group(1), drive.group(2))
    if scheme := _SCHEME.fullmatch(text):
        return _url(scheme.group(1).lower(), text)
    raise _Rule(f"must be absolute, not relative like {text!r}; {_HINT}")


def _segments(parts: Iterable[str]) -> tuple[str, ...]:
    """Drop empty and ``.`` segments; refuse ``..``."""
    kept = []
    for part in parts:
        if part == "..":
            raise _Rule("must not contain .. (a sync path names its folder directly, without climbing up)")
        if part not in ("", "."):
            if part[-1].isspace():
                raise _Rule(f"folder name {part!r} must not end with a space (a typo, and Windows drops it)")
            kept.append(part)
    return tuple(kept)


def _posix(text: str) -> SyncPath:
    if "\\" in text:
        raise _Rule(
            "a POSIX path separates folders with /, and \\ is not allowed in it "
            "(for a Windows share write \\\\server\\share\\…, for a drive C:\\…)"
        )
    return SyncPath(PathKind.POSIX, "", _segments(text.split("/")))


def _windows_segments(parts: Iterable[str]) -> tuple[str, ...]:
    segments = _segments(parts)
    for segment in segments:
        if forbidden := _WINDOWS_FORBIDDEN.search(segment):
            raise _Rule(f"must not contain {forbidden.group(0)!r} in a folder name: Windows does not allow it")
        if segment.endswith("."):
            raise _Rule(f"folder name {segment!r} must not end with a dot: Windows drops it")
        if _WINDOWS_DEVICE.fullmatch(segment):
            raise _Rule(f"folder name {segment!r} is a Windows device name, which cannot be a folder")
    return segments


def _unc(text: str) -> SyncPath:
    if text[:2] in ("?\\", "./", ".\\", "?/"):
        raise _Rule("device paths (\\\\?\\…, \\\\.\\…) are not supported; write \\\\server\\share\\… or C:\\…")
    parts = text.replace("\\", "/").split("/")
    server, share = parts[0], (parts[1] if len(parts) > 1 else "")
    if server in ("", ".", "..") or share in ("", ".", ".."):
        raise _Rule("a UNC path names a server and a share: \\\\server\\share\\…")
    anchor = "/".join(_fold(name) for name in _windows_segments([server, share]))
    return SyncPath(PathKind.UNC, anchor, _windows_segments(parts[2:]))


def _fold(text: str) -> str:
    """Case-folded and still NFC (folding can undo composition), so that parsing is idempotent."""
    return unicodedata.normalize("NFC", text.casefold())


def _drive(letter: str, rest: str) -> SyncPath:
    if not rest.startswith(("\\", "/")):
        raise _Rule(
            f"must be absolute: write {letter.upper()}:\\{rest} (a drive path without \\ depends on the current folder)"
        )
    return SyncPath(PathKind.DRIVE, letter.casefold(), _windows_segments(rest.replace("\\", "/").split("/")))


def _url(scheme: str, text: str) -> SyncPath:
    if scheme not in URL_SCHEMES:
        allowed = ", ".join(s + "://" for s in URL_SCHEMES)
        raise _Rule(f"storage URLs start with one of {allowed}, not {scheme}:")
    if not text[len(scheme) + 1 :].startswith("//"):
        raise _Rule(f"write {scheme} URLs as {scheme}://host/path")
    try:
        parts = urlsplit(text)
    except ValueError as exc:  # an unbalanced [ ] around an IPv6 address
        raise _Rule(f"is not a valid URL: {exc}") from None
    if parts.query or parts.fragment or "?" in text or "#" in text:
        raise _Rule("a storage URL must not have a query (?…) or a fragment (#…); write ? as %3F and # as %23")
    if "@" in parts.netloc:
        raise _Rule("a storage URL must not contain a user name or password: keep credentials in a secret")
    if "\\" in text:
        raise _Rule("a storage URL separates folders with /, and \\ is not allowed in it")
    try:
        port = parts.port
    except ValueError:
        raise _Rule(f"has an invalid port in {parts.netloc!r}; it must be a number 1-65535") from None
    if port == 0:
        raise _Rule(f"has an invalid port in {parts.netloc!r}; it must be a number 1-65535")
    hostname = parts.hostname or ""
    if hostname and not _HOST.fullmatch(hostname):
        raise _Rule(f"has an invalid host name {hostname!r}")
    host = (f"[{hostname}]" if ":" in hostname else hostname) + (f":{port}" if port else "")
    if not host and scheme != "file":
        raise _Rule(f"{scheme} URLs name their host (or bucket): {scheme}://host/path")
    if host and scheme == "file":
        raise _Rule("a file URL has no host: file:///path (for a share write \\\\server\\share\\…)")
    try:
        names = [unquote(part, errors="strict") for part in parts.path.split("/")]
    except UnicodeDecodeError:
        raise _Rule("has a percent-escape that is not UTF-8 text") from None
    for name in names:
        if "/" in name:
            raise _Rule("must not encode / as %2F in a folder name")
        if any(unicodedata.category(ch) == "Cc" for ch in name):
            raise _Rule("must not contain control characters (such as NUL, tabs or line breaks)")
    return SyncPath(PathKind.URL, f"{scheme}://{host}", _segments(unicodedata.normalize("NFC", n) for n in names))


def _url_quote(segment: str) -> str:
    """Percent-encode what would not parse back: ``% ? # \\``."""
    return "".join(f"%{ord(ch):02X}" if ch in _URL_ESCAPED else ch for ch in segment)


# --- the location -----------------------------------------------------------------------------


class FileFormat(_LenientEnum):
    EML = "eml"
    MSG = "msg"


DEFAULT_FORMAT = FileFormat.MSG


@dataclass(frozen=True)
class LocationSettings:
    """A validated location; build it with :func:`validate_location`."""

    name: str
    sync_path: str  # as registered: trimmed and NFC, otherwise as the administrator wrote it
    format: FileFormat = DEFAULT_FORMAT
    naming_template: str = str(DEFAULT_TEMPLATE)
    enabled: bool = True

    @property
    def path(self) -> SyncPath:
        return SyncPath.parse(self.sync_path)

    def to_dict(self) -> dict[str, object]:
        """JSON-able values; :func:`validate_location` accepts the result unchanged."""
        return {
            "name": self.name,
            "sync_path": self.sync_path,
            "format": self.format.value,
            "naming_template": self.naming_template,
            "enabled": self.enabled,
        }


def _sync_path(value: object) -> str:
    SyncPath.parse(value)
    assert isinstance(value, str)
    return unicodedata.normalize("NFC", value.strip())


def _format(value: object) -> FileFormat:
    if isinstance(value, str):
        try:
            return FileFormat(value)
        except ValueError:
            pass
    raise InvalidInput(FieldError("format", "must be eml or msg"))


def _naming_template(value: object) -> str:
    return str(NamingTemplate.parse(value, field="naming_template"))


def _enabled(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InvalidInput(FieldError("enabled", "must be true or false"))


_PARSERS: dict[str, Any] = {
    "name": clean_name,
    "sync_path": _sync_path,
    "format": _format,
    "naming_template": _naming_template,
    "enabled": _enabled,
}
_REQUIRED = ("name", "sync_path")


def validate_location(raw: Mapping[str, object], current: LocationSettings | None = None) -> LocationSettings:
    """Check ``raw`` as a new location, or as changes to ``current``; every broken rule at once.

    For a new location ``name`` and ``sync_path`` are required; ``format``, ``naming_template``
    and ``enabled`` default to msg, ``{date} {subject}`` and true. ``None`` keeps a default (or,
    when editing, the current value).
    """
    errors = [FieldError(str(key), "unknown field") for key in raw if key not in _PARSERS]
    values: dict[str, Any] = current.to_dict() if current else {}
    errors += parse_fields(raw, _PARSERS, _REQUIRED, values)
    if errors:
        raise InvalidInput(errors)
    return LocationSettings(
        name=values["name"],
        sync_path=values["sync_path"],
        format=FileFormat(values.get("format", DEFAULT_FORMAT)),
        naming_template=values.get("naming_template", str(DEFAULT_TEMPLATE)),
        enabled=values.get("enabled", True),
    )
