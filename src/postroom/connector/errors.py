"""Errors only the connector meets; the shared ones (LicenseRevoked, LeaseHeld, …) are in ``postroom.errors``.

::

    PostroomError
    ├── ServerUnreachable      no answer, a network/TLS error, or a 5xx: keep running, retry with back-off
    ├── ProtocolError          the server answered something this connector cannot use (wrong URL, version)
    └── StateFolderInUse       another connector process holds the state folder's lock
"""

from __future__ import annotations

from postroom.errors import PostroomError

__all__ = ["ProtocolError", "ServerUnreachable", "StateFolderInUse"]


class ServerUnreachable(PostroomError):
    """The server could not be reached or failed (DNS, TCP, TLS, timeout, 5xx): try again later."""


class ProtocolError(PostroomError):
    """The server's answer is not what the protocol says: a wrong server URL, or mismatched versions."""


class StateFolderInUse(PostroomError):
    """Another connector process is using the state folder (its pid is named)."""
