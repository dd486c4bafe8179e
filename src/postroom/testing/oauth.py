"""A tiny OAuth 2.0 token introspection endpoint (RFC 7662) for the test Dovecot's oauth2 passdb.

Dovecot checks an XOAUTH2 / OAUTHBEARER token by POSTing ``token=…`` to ``introspection_url``
and reading ``{"active": true, "username": …}`` back. This server runs in a thread of the test
process on a dynamic port of 127.0.0.1; tests issue tokens for Dovecot users and expire them.
"""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self
from urllib.parse import parse_qs

HOST = "127.0.0.1"


class IntrospectionServer:
    """Tokens → user names; ``url`` is what Dovecot's ``introspection_url`` points at."""

    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()
        self.requests = 0  # introspections answered, so tests can see Dovecot really asked
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def issue(self, user: str) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = user
        return token

    def expire(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    def _lookup(self, token: str) -> str | None:
        with self._lock:
            self.requests += 1
            return self._tokens.get(token)

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the introspection server is not running")
        return f"http://{HOST}:{self._server.server_address[1]}/introspect"

    def start(self) -> Self:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
                user = owner._lookup((form.get("token") or [""])[0])
                answer = {"active": True, "username": user} if user else {"active": False}
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # quiet test output
                pass

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="oauth-introspection", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
