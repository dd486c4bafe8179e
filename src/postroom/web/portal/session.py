"""The portal's session: a signed cookie, its expiry, and the CSRF token it carries.

The cookie holds JSON (who signed in, the tenant being viewed, the CSRF token, when the sign-in
happened and when the session was last used) with an HMAC-SHA256 signature. The signing key is
derived (HKDF) from the server's secret key, so sessions survive restarts and every
``postroom serve`` behind a load balancer accepts the others' cookies. Nothing is stored on the
server: signing out forgets the cookie, and a password change ends every session of the user
(the cookie carries a fingerprint of the password hash).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from postroom.config import Settings
from postroom.security.keyring import keys_from_setting, load_or_create_key_file

COOKIE_NAME = "postroom_session"
IDLE_SECONDS = 2 * 3600  # signed out after two hours without a request
ABSOLUTE_SECONDS = 12 * 3600  # and twelve hours after signing in, whatever happens
TOUCH_EVERY_SECONDS = 60  # how often the "last used" time is rewritten into the cookie
_INFO = b"postroom portal session cookie v1"


def session_keys(settings: Settings) -> list[bytes]:
    """Signing keys derived from the secret key(s); the first signs, any of them verifies."""
    fernet_keys = (
        keys_from_setting(settings.secret_key)
        if settings.secret_key
        else [load_or_create_key_file(settings.secret_key_file)]
    )
    return [HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(key) for key in fernet_keys]


def password_fingerprint(password_hash: str) -> str:
    """Changes when the password does, so a new password ends the sessions signed in with the old one."""
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()[:16]


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class PortalSession:
    """What the cookie says. ``user_id`` is None before signing in (the CSRF token already exists)."""

    csrf: str = field(default_factory=new_csrf_token)
    user_id: str | None = None
    tenant_id: str | None = None
    password: str | None = None  # password_fingerprint() at sign-in
    signed_in_at: int = 0
    last_used_at: int = field(default_factory=lambda: int(time.time()))

    @classmethod
    def signed_in(
        cls, user_id: str, password_hash: str, tenant_id: str | None, now: float | None = None
    ) -> PortalSession:
        """A new session (with a new CSRF token: nothing of the anonymous one carries over)."""
        at = int(time.time() if now is None else now)
        return cls(
            user_id=user_id,
            tenant_id=tenant_id,
            password=password_fingerprint(password_hash),
            signed_in_at=at,
            last_used_at=at,
        )

    def expired(self, now: float) -> bool:
        if now - self.last_used_at > IDLE_SECONDS:
            return True
        return self.user_id is not None and now - self.signed_in_at > ABSOLUTE_SECONDS

    def touched(self, now: float) -> PortalSession | None:
        """A copy with the last-used time moved on, or None when the cookie need not be rewritten yet."""
        if now - self.last_used_at < TOUCH_EVERY_SECONDS:
            return None
        return replace(self, last_used_at=int(now))

    def to_json(self) -> dict[str, object]:
        return {
            "c": self.csrf,
            "u": self.user_id,
            "t": self.tenant_id,
            "p": self.password,
            "i": self.signed_in_at,
            "s": self.last_used_at,
        }

    @classmethod
    def from_json(cls, data: object) -> PortalSession | None:
        if not isinstance(data, dict):
            return None
        try:
            session = cls(
                csrf=data["c"],
                user_id=data["u"],
                tenant_id=data["t"],
                password=data["p"],
                signed_in_at=data["i"],
                last_used_at=data["s"],
            )
        except KeyError:
            return None
        texts = (session.user_id, session.tenant_id, session.password)
        if (
            not isinstance(session.csrf, str)
            or not all(value is None or isinstance(value, str) for value in texts)
            or not all(type(value) is int for value in (session.signed_in_at, session.last_used_at))
        ):
            return None
        return session


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CookieSigner:
    """``payload.signature``, both URL-safe base64; signs with the first key, accepts any."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("at least one key is needed")
        self._keys = list(keys)

    def _mac(self, key: bytes, payload: str) -> bytes:
        return hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest()

    def dumps(self, session: PortalSession) -> str:
        payload = _b64(json.dumps(session.to_json(), separators=(",", ":")).encode("utf-8"))
        return f"{payload}.{_b64(self._mac(self._keys[0], payload))}"

    def loads(self, value: str, now: float) -> PortalSession | None:
        """The session in a cookie value, or None when it is forged, damaged or expired."""
        payload, dot, signature = value.partition(".")
        if not dot or not payload.isascii() or not signature.isascii():
            return None
        try:
            given = _unb64(signature)
            if not any(hmac.compare_digest(given, self._mac(key, payload)) for key in self._keys):
                return None
            session = PortalSession.from_json(json.loads(_unb64(payload)))
        except ValueError:  # bad base64, bad UTF-8, bad JSON
            return None
        if session is None or session.expired(now):
            return None
        return session
