"""Which ``MailSource`` serves which profile type: a registry, not an if/else chain."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from postroom.domain.profile import ImapProtocol, ProfileSettings, ProfileType
from postroom.errors import SourceError
from postroom.sources.base import MailSource
from postroom.sources.imap import ImapConnection, ImapSource

Opener = Callable[[ProfileSettings, Mapping[str, Any], str], MailSource]


def imap_connection(settings: ProfileSettings, secret: Mapping[str, Any], mailbox: str) -> ImapConnection:
    """The IMAP connection a profile describes, logging in as the secret's user (or the mailbox)."""
    assert settings.server_name is not None and settings.port is not None
    return ImapConnection(
        host=settings.server_name,
        port=settings.port,
        starttls=settings.protocol is ImapProtocol.TLS,
        username=str(secret.get("username") or secret.get("account") or mailbox),
        password=secret.get("password"),
        oauth_token=secret.get("access_token") if "password" not in secret else None,
        timeout=float(settings.effective_timeout()) or None,  # 0: wait as long as it takes
        trusted_ca_pem=settings.tls_trusted_ca,
        fingerprint=settings.tls_fingerprint,
    )


def _open_imap(settings: ProfileSettings, secret: Mapping[str, Any], mailbox: str) -> MailSource:
    return ImapSource(imap_connection(settings, secret, mailbox)).connect()


OPENERS: dict[ProfileType, Opener] = {ProfileType.IMAP: _open_imap}


def open_source(settings: ProfileSettings, secret: Mapping[str, Any], mailbox: str) -> MailSource:
    opener = OPENERS.get(settings.type)
    if opener is None:
        raise SourceError("connect", f"synchronizing {settings.type.label} profiles is not available yet")
    return opener(settings, secret, mailbox)
