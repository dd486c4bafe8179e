"""Which ``MailSource`` serves which profile type, and which connection test checks it: registries,
not if/else chains."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from postroom.domain.connection_test import ConnectionTest
from postroom.domain.profile import ImapProtocol, Mode, ProfileSettings, ProfileType
from postroom.errors import FieldError, InvalidInput, SourceError
from postroom.sources.base import MailSource
from postroom.sources.imap import ImapConnection, ImapSource

Opener = Callable[[ProfileSettings, Mapping[str, Any], str], MailSource]
Checker = Callable[[ProfileSettings, Mapping[str, Any], str], ConnectionTest]


def imap_connection(settings: ProfileSettings, secret: Mapping[str, Any], mailbox: str) -> ImapConnection:
    """The IMAP connection a profile describes, logging in as the secret's user (or the mailbox).

    In multiple-mailbox mode the secret is an administrator's, who logs in acting as ``mailbox``.
    """
    assert settings.server_name is not None and settings.port is not None
    multiple = settings.mode is Mode.MULTIPLE and "password" in secret
    return ImapConnection(
        host=settings.server_name,
        port=settings.port,
        starttls=settings.protocol is ImapProtocol.TLS,
        username=str(secret.get("username") or secret.get("account") or mailbox),
        password=secret.get("password"),
        oauth_token=secret.get("access_token") if "password" not in secret else None,
        authorization_identity=mailbox if multiple else None,
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


def _check_imap(settings: ProfileSettings, secret: Mapping[str, Any], mailbox: str) -> ConnectionTest:
    from postroom.sources.imap_check import check_imap  # connection tests only: syncs start faster without it

    return check_imap(imap_connection(settings, secret, mailbox))


CHECKERS: dict[ProfileType, Checker] = {ProfileType.IMAP: _check_imap}


def connection_checker(type: ProfileType) -> Checker:
    """The connection test for profiles of ``type``: same server, trust and login as a sync."""
    checker = CHECKERS.get(type)
    if checker is None:
        raise InvalidInput(FieldError("type", f"testing the connection of {type.label} profiles is not available yet"))
    return checker
