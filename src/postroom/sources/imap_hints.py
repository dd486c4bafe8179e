"""Which hint goes with which connection-test failure: pure rules, tested with tables.

A hint is said only where the cause is clear from what the server or the system answered; the raw
answer itself is always shown next to it (see :mod:`postroom.sources.imap_check`).
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Sequence

from postroom.sources.imap_wire import Response

SSL_PORT, STARTTLS_PORT = 993, 143
_EXPIRED_CODES = {9, 10}  # OpenSSL's X509_V_ERR_CERT_NOT_YET_VALID, _HAS_EXPIRED
_MISMATCH_CODES = {62, 64}  # X509_V_ERR_HOSTNAME_MISMATCH, _IP_ADDRESS_MISMATCH


def protocol_name(starttls: bool) -> str:
    return "IMAP-TLS" if starttls else "IMAP-SSL"


def port_question(port: int, starttls: bool) -> str | None:
    """``did you mean 993 for IMAP-SSL?`` when the port is not the protocol's usual one."""
    usual = STARTTLS_PORT if starttls else SSL_PORT
    return None if port == usual else f"did you mean {usual} for {protocol_name(starttls)}?"


def dns_hint(error: socket.gaierror) -> str:
    if error.errno == socket.EAI_AGAIN:
        return "the DNS server gave no answer: check this machine's DNS settings, then try again"
    return "check the server name for typos: it does not resolve from this machine"


def tcp_hint(error: OSError, port: int, starttls: bool, timeout: float) -> str:
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout:g} s: a firewall may drop the connection, or the host is down"
    if isinstance(error, ConnectionRefusedError):
        question = port_question(port, starttls)
        if question:
            return f"nothing accepts connections on port {port}: {question}"
        return f"nothing accepts connections on port {port}: is the IMAP server running there?"
    if error.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "no route to the host: check the network between this machine and the server"
    return "check the server name, the port and any firewall in between"


def plain_text_tls_hint(port: int, greeting: str | None) -> str:
    """IMAP-SSL handshake failed because the port speaks plain text first (an IMAP-TLS port)."""
    seen = f'the server greeted in plain text ("{shorten(greeting)}"), as IMAP-TLS ports do'
    if greeting is None:
        seen = "the server does not speak TLS on this port"
    question = port_question(port, starttls=False)
    if question:
        return f"{seen}: {question} Or choose IMAP-TLS for port {port}."
    return f"{seen}: choose IMAP-TLS for this port."


def certificate_hint(verify_code: int, names: Sequence[str], not_after: str | None, fingerprint: str | None) -> str:
    pin = f"pin its fingerprint in the profile ({fingerprint})" if fingerprint else "pin its fingerprint in the profile"
    if verify_code in _MISMATCH_CODES:
        valid_for = f"it is for {', '.join(names)}: " if names else ""
        return f"{valid_for}use a name the certificate covers as the server name, or {pin}"
    if verify_code in _EXPIRED_CODES:
        when = f" ({not_after})" if not_after else ""
        return f"the certificate is outside its validity period{when}: renew it on the server, or {pin}"
    return f"the certificate is not trusted: trust its CA or {pin}"


def greeting_hint(response: Response | None, port: int, starttls: bool) -> str:
    """Why there is no IMAP greeting: silent (TLS port?), a BYE, or another protocol entirely."""
    if response is None:  # nothing came
        if starttls:
            question = port_question(port, starttls)
            ask = f"{question} " if question else ""
            return f"the server sent nothing, as IMAP-SSL ports do (they wait for TLS): {ask}Or choose IMAP-SSL."
        return "the server accepted TLS but sent no IMAP greeting: is this an IMAP port?"
    if response.tag == b"*" and response.keyword == b"BYE":
        return "the server refuses sessions now (busy, or limiting connections from this address): try again later"
    first = (response.tag + b" " + response.line).upper()
    other = "another service"
    if first.startswith((b"220 ", b"220-")):
        other = "an SMTP server"
    elif first.startswith(b"+OK"):
        other = "a POP3 server"
    elif first.startswith(b"HTTP/"):
        other = "a web server"
    return f"this is {other}, not IMAP: check the port ({SSL_PORT} for IMAP-SSL, {STARTTLS_PORT} for IMAP-TLS)"


def login_hint(response_text: str, *, oauth: bool, capabilities: Sequence[str], acting_as: str | None = None) -> str:
    text = response_text.upper()
    if "[UNAVAILABLE]" in text:
        return "the server cannot log anyone in right now (its user database?): try again later"
    if "[EXPIRED]" in text:
        return "the password has expired: change it with the mail provider, then update the secret"
    if "[PRIVACYREQUIRED]" in text or (not oauth and "LOGINDISABLED" in capabilities):
        return "the server accepts passwords only over TLS it trusts: check the protocol"
    if oauth:
        if "AUTH=XOAUTH2" not in capabilities:
            return "the server does not offer XOAUTH2 (no AUTH=XOAUTH2 among its capabilities): use a password secret"
        return "the access token was refused (expired, or without the IMAP scope): renew the secret's token"
    if acting_as:
        return (
            "check the secret's user name and password, that this user may act as other users on the server "
            f"(a Dovecot master user, a Cyrus admin), and that the mailbox {acting_as!r} exists there"
        )
    return "check the secret's user name and password"


def slow_hint(step: str) -> str | None:
    if step in ("capabilities", "login", "folders"):
        return "the server is slow to answer: try again, or raise the profile's timeout"
    return None


def shorten(text: str | None, limit: int = 120) -> str:
    text = text or ""
    return text if len(text) <= limit else text[: limit - 1] + "…"
