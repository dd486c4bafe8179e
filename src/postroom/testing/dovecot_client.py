"""The client side of the test Dovecot, in the stdlib ``imaplib`` only; and ``DovecotError``.

Tests and the launcher (``Dovecot.append``, ``create_folder``, ``connect_imaplib``) talk to the
server with these helpers, so the test server never depends on the code under test. The error is
defined here because both these helpers and the launcher raise it. Everything here is
re-exported by :mod:`postroom.testing.dovecot`; import it from there.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import imaplib
from collections.abc import Iterable


class DovecotError(RuntimeError):
    """The test Dovecot could not be started or used; the message carries the end of its log."""


# --- modified UTF-7 (RFC 3501 §5.1.3) and quoting, for imaplib arguments ---


def imap_utf7_encode(name: str) -> str:
    """Encode a mailbox name in IMAP's modified UTF-7."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = base64.b64encode("".join(pending).encode("utf-16-be")).decode("ascii")
            out.append("&" + raw.rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def quote_mailbox(name: str) -> str:
    """A mailbox name as an IMAP quoted string (imaplib sends arguments as they are)."""
    encoded = imap_utf7_encode(name)
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def create_folder(imap: imaplib.IMAP4, folder: str) -> None:
    """CREATE ``folder`` (a Unicode name using the server's separator) on a logged-in connection."""
    status, data = imap.create(quote_mailbox(folder))
    if status != "OK":
        raise DovecotError(f"CREATE {folder!r} failed: {data!r}")


def append_message(
    imap: imaplib.IMAP4,
    folder: str,
    message: bytes,
    flags: Iterable[str] = (),
    internal_date: dt.datetime | None = None,
) -> int | None:
    """APPEND ``message`` exactly as given (no line-ending repair); return its UID if reported."""
    args = [quote_mailbox(folder)]
    flag_list = " ".join(flags)
    if flag_list:
        args.append(f"({flag_list})")
    if internal_date is not None:
        args.append(imaplib.Time2Internaldate(internal_date))
    # imaplib.append() rewrites bare CR and LF to CRLF; setting the literal ourselves keeps the
    # bytes exact, which the malformed-message tests need. typeshed declares the attribute as str.
    imap.literal = message  # type: ignore[assignment]
    status, data = imap.xatom("APPEND", *args)
    if status != "OK":
        raise DovecotError(f"APPEND to {folder!r} failed: {data!r}")
    code = imap.untagged_responses.pop("APPENDUID", [None])[-1]
    if isinstance(code, bytes):
        return int(code.split()[1])
    return None


def close_imaplib(imap: imaplib.IMAP4) -> None:
    """Close an imaplib connection without logging out (e.g. after a failed STARTTLS)."""
    with contextlib.suppress(OSError):
        imap.shutdown()
