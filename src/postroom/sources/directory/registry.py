"""Which ``Directory`` serves which directory type: a registry, not an if/else chain."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from postroom.domain.directory import DirectorySettings, DirectoryType
from postroom.errors import SourceError
from postroom.sources.directory.base import Directory
from postroom.sources.directory.ldap import LdapDirectory
from postroom.sources.directory.static import StaticDirectory

Opener = Callable[[DirectorySettings, Mapping[str, Any]], Directory]

OPENERS: dict[DirectoryType, Opener] = {
    DirectoryType.LDAP: LdapDirectory,
    DirectoryType.STATIC: lambda settings, _secret: StaticDirectory(settings),
}


def open_directory(settings: DirectorySettings, secret: Mapping[str, Any]) -> Directory:
    """The directory ``settings`` describe, binding with ``secret`` (decrypted) where it needs one."""
    opener = OPENERS.get(settings.type)
    if opener is None:
        raise SourceError("connect", f"reading {settings.type.label} directories is not available yet")
    return opener(settings, secret)
