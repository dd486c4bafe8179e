"""The portal's ASGI middleware: reads and writes the session cookie, refuses a POST without the
session's CSRF token, and adds the security headers of every portal page.

Only portal paths pass through it; ``/api/`` (API tokens, no cookies) and ``/static/`` do not.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from postroom.web.portal.session import ABSOLUTE_SECONDS, COOKIE_NAME, CookieSigner, PortalSession

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_FORM_BYTES = 1024 * 1024
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def is_portal_path(path: str) -> bool:
    return not (path == "/api" or path.startswith(("/api/", "/static/")))


@dataclass
class SessionState:
    """The request's session; a route that signs in, out or switches tenant replaces it."""

    session: PortalSession
    changed: bool = False

    def replace(self, session: PortalSession) -> None:
        self.session = session
        self.changed = True


def session_state(request: Request) -> SessionState:
    state = request.scope.get("state", {}).get("portal_session")
    assert isinstance(state, SessionState), "the portal middleware is not installed"
    return state


class PortalMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        signer: CookieSigner,
        forbidden: Callable[[Request, str], Response],
        always_secure: bool = False,
    ) -> None:
        self.app = app
        self.signer = signer
        self.forbidden = forbidden
        self.always_secure = always_secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_portal_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        now = time.time()
        state = self._read_session(scope, now)
        scope.setdefault("state", {})["portal_session"] = state
        secure = self.always_secure or scope.get("scheme") == "https"

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if state.changed:
                    headers.append("Set-Cookie", self._cookie(state.session, secure))
                headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Cache-Control", "no-store")
            await send(message)

        if scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send_with_cookie)
            return
        body, too_large = await _read_body(receive)
        request = Request(scope)
        if too_large:
            response = self.forbidden(request, "The form is too large.")
        elif not self._csrf_ok(request, body, state.session):
            response = self.forbidden(
                request,
                "The form was not sent from this page of Postroom, or it has expired. "
                "Go back, reload the page and try again.",
            )
        else:
            await self.app(scope, _replay(body, receive), send_with_cookie)
            return
        await response(scope, _replay(body, receive), send_with_cookie)

    def _read_session(self, scope: Scope, now: float) -> SessionState:
        raw = ""
        for name, value in scope["headers"]:
            if name == b"cookie":
                cookie: SimpleCookie = SimpleCookie()
                try:
                    cookie.load(value.decode("latin-1"))
                except Exception:  # a malformed Cookie header: no session
                    continue
                if COOKIE_NAME in cookie:
                    raw = cookie[COOKIE_NAME].value
        session = self.signer.loads(raw, now) if raw else None
        if session is None:
            return SessionState(PortalSession(), changed=True)
        touched = session.touched(now)
        return SessionState(touched, changed=True) if touched else SessionState(session)

    def _cookie(self, session: PortalSession, secure: bool) -> str:
        cookie = (
            f"{COOKIE_NAME}={self.signer.dumps(session)}; Path=/; Max-Age={ABSOLUTE_SECONDS}; HttpOnly; SameSite=Lax"
        )
        return cookie + ("; Secure" if secure else "")

    def _csrf_ok(self, request: Request, body: bytes, session: PortalSession) -> bool:
        given = request.headers.get(CSRF_HEADER)
        content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if given is None and content_type == "application/x-www-form-urlencoded":
            try:
                fields = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
            except UnicodeDecodeError:
                return False
            given = next((value for name, value in fields if name == CSRF_FIELD), None)
        return given is not None and hmac.compare_digest(given.encode("utf-8"), session.csrf.encode("utf-8"))


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), False


def _replay(body: bytes, original: Receive) -> Receive:
    """The body read already, then whatever the client sends next (its disconnect)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await original()

    return receive
