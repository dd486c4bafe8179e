"""A minimal IMAP conversation over a socket the caller opened: for the connection test.

``ImapSource`` (imapclient) opens a connection in one call: resolve, connect, TLS, greeting and
CAPABILITY all happen inside ``IMAPClient()``, so a failure cannot be pinned to its step. The
connection test does each step itself, and needs to speak only a few commands afterwards
(CAPABILITY, STARTTLS, LOGIN, AUTHENTICATE, LIST, STATUS, LOGOUT) while keeping every server
line as it came. This is that: responses with their literals, tagged commands with synchronizing
literals, and continuation requests (``+``) answered by the caller. Parsing of LIST and STATUS
data is left to imapclient's ``parse_response``, which reads the same parts imaplib produces.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from imapclient import imap_utf7
from imapclient.response_parser import parse_response

MAX_LINE = 1 << 20
MAX_LITERAL = 16 << 20
_LITERAL = re.compile(rb"\{(\d+)\+?\}$")

Part = bytes | tuple[bytes, bytes]  # imaplib's shape: a line, or (line ending in {n}, literal)


class WireError(Exception):
    """The server's answer cannot be read as IMAP, or the server hung up; the text says which."""


class ServerClosed(WireError):
    """The server closed the connection."""


@dataclass(frozen=True)
class Literal:
    """An argument sent as an IMAP literal (8-bit or control characters: no quoting is possible)."""

    data: bytes


@dataclass(frozen=True)
class Response:
    """One server response: ``tag`` is ``*``, ``+`` or the command's tag."""

    tag: bytes
    parts: list[Part] = field(default_factory=list)  # after the tag, literals included

    @property
    def line(self) -> bytes:
        """The first line after the tag (literal data left out)."""
        first = self.parts[0] if self.parts else b""
        return first[0] if isinstance(first, tuple) else first

    @property
    def keyword(self) -> bytes:
        """OK, NO, BAD, BYE, PREAUTH, CAPABILITY, LIST, STATUS, ... (upper case)."""
        return self.line.split(b" ", 1)[0].upper()

    @property
    def text(self) -> str:
        """The response as the server sent it, minus the tag: what a person is shown."""
        pieces = []
        for part in self.parts:
            pieces.append(
                part[0].decode("utf-8", "replace") if isinstance(part, tuple) else part.decode("utf-8", "replace")
            )
        return " ".join(p for p in pieces if p)

    def data(self) -> list[Part]:
        """The parts after the keyword, for ``imapclient.response_parser.parse_response``."""
        if not self.parts:
            return []
        first, *rest = self.parts
        if isinstance(first, tuple):
            return [(first[0].split(b" ", 1)[1] if b" " in first[0] else b"", first[1]), *rest]
        return [first.split(b" ", 1)[1] if b" " in first else b"", *rest]


def astring(value: bytes) -> bytes | Literal:
    """A string argument: quoted when it is printable ASCII, otherwise a literal."""
    if all(0x20 <= byte < 0x7F for byte in value):
        return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return Literal(value)


Continuation = Callable[[bytes], bytes]


class Wire:
    """Reads responses from, and sends tagged commands to, one connected socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._counter = 0
        self.attach(sock)

    def attach(self, sock: socket.socket) -> None:
        """Carry on over ``sock`` (after STARTTLS: the TLS socket wrapping the old one)."""
        previous = getattr(self, "_file", None)
        self.sock = sock
        self._file = sock.makefile("rb")
        if previous is not None:
            previous.close()

    def close(self) -> None:
        self._file.close()

    def read(self) -> Response:
        tag, _, rest = self._line().partition(b" ")
        parts: list[Part] = []
        while (match := _LITERAL.search(rest)) is not None and tag != b"+":
            size = int(match[1])
            if size > MAX_LITERAL:
                raise WireError(f"the server announced a literal of {size:,} bytes; at most {MAX_LITERAL:,} expected")
            data = self._file.read(size)
            if len(data) < size:
                raise ServerClosed("the server closed the connection in the middle of a response")
            parts.append((rest, data))
            rest = self._line()
        parts.append(rest)
        return Response(tag, parts)

    def command(
        self, name: bytes, *args: bytes | Literal, continuation: Continuation | None = None
    ) -> tuple[Response, list[Response]]:
        """Send a command; return its tagged completion and the untagged responses before it.

        ``continuation`` answers each ``+`` request (with the server's text after the ``+``);
        without it a ``+`` request is an error.
        """
        self._counter += 1
        tag = b"P%03d" % self._counter
        untagged: list[Response] = []
        pending = tag + b" " + name
        for arg in args:
            if isinstance(arg, Literal):
                self.sock.sendall(pending + b" {%d}\r\n" % len(arg.data))
                refused = self._await_continuation(tag, untagged)
                if refused is not None:
                    return refused, untagged
                pending = arg.data
            else:
                pending += b" " + arg
        self.sock.sendall(pending + b"\r\n")
        while True:
            response = self.read()
            if response.tag == tag:
                return response, untagged
            if response.tag == b"*":
                untagged.append(response)
            elif response.tag == b"+" and continuation is not None:
                self.sock.sendall(continuation(response.line) + b"\r\n")
            else:
                raise WireError(f"unexpected answer to {name.decode()}: {response.tag.decode()} {response.text}")

    def _await_continuation(self, tag: bytes, untagged: list[Response]) -> Response | None:
        while True:
            response = self.read()
            if response.tag == b"+":
                return None
            if response.tag == tag:
                return response
            untagged.append(response)

    def _line(self) -> bytes:
        line = self._file.readline(MAX_LINE + 1)
        if not line:
            raise ServerClosed("the server closed the connection")
        if not line.endswith(b"\n"):
            if len(line) > MAX_LINE:
                raise WireError(f"the server sent a line longer than {MAX_LINE:,} bytes")
            raise ServerClosed("the server closed the connection in the middle of a line")
        return line.rstrip(b"\r\n")


# --- reading the data of responses ----------------------------------------------------------


def human_text(text: str) -> str:
    """``OK [CAPABILITY ...] Dovecot ready.`` → ``Dovecot ready.``: the words meant for people."""
    rest = text.split(" ", 1)[1] if " " in text else ""
    if rest.startswith("["):
        end = rest.find("]")
        rest = rest[end + 1 :] if end >= 0 else ""
    return rest.strip()


def response_code_capabilities(text: str) -> list[str]:
    """The list in a ``[CAPABILITY ...]`` response code (greeting, LOGIN's OK), as sent."""
    start = text.upper().find("[CAPABILITY ")
    end = text.find("]", start)
    if start < 0 or end < 0:
        return []
    return text[start + len("[CAPABILITY ") : end].split()


def capability_list(untagged: list[Response]) -> list[str]:
    return [c for r in untagged if r.keyword == b"CAPABILITY" for c in r.text.split()[1:]]


def listed_folders(untagged: list[Response]) -> Iterator[tuple[tuple[bytes, ...], bytes | None, bytes]]:
    for response in untagged:
        if response.keyword != b"LIST":
            continue
        flags, delimiter, name = parse_response(response.data())[:3]
        yield tuple(flags), delimiter, name if isinstance(name, bytes) else str(name).encode()


def folder_name(raw: bytes) -> str:
    try:
        return str(imap_utf7.decode(raw))
    except (ValueError, UnicodeError):
        return raw.decode("utf-8", "replace")


def status_messages(untagged: list[Response]) -> int | None:
    for response in untagged:
        if response.keyword == b"STATUS":
            parsed = parse_response(response.data())
            items = parsed[-1] if parsed else ()
            for key, value in zip(items[::2], items[1::2], strict=False):
                if decode(key).upper() == "MESSAGES":
                    return int(value)
    return None


def decode(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
