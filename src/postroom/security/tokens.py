"""API tokens: ``pr_<id>_<secret>``, shown once, stored only as the id and a hash of the secret.

The id (12 lower-case hex characters) finds the stored row; the secret (43 URL-safe
characters, 256 bits) proves possession and is kept only as its SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

from postroom.errors import NotAuthenticated

_TOKEN = r"{prefix}_(?P<id>[0-9a-f]{{12}})_(?P<secret>[A-Za-z0-9_-]{{43}})"


@dataclass(frozen=True)
class NewToken:
    """A freshly issued token: store ``token_id`` and ``secret_hash``, show ``plaintext`` once."""

    token_id: str
    secret_hash: str
    plaintext: str = field(repr=False)


def new_token(prefix: str = "pr") -> NewToken:
    """A new token; ``prefix`` tells kinds apart (``pr`` API tokens, ``prc`` connector licenses)."""
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return NewToken(token_id=token_id, secret_hash=hash_secret(secret), plaintext=f"{prefix}_{token_id}_{secret}")


def hash_secret(secret: str) -> str:
    """SHA-256 of the secret, hex.

    A fast hash is right here, unlike for passwords: the secret is 256 random bits, so there is
    nothing to guess or look up, and a slow hash would only slow down every API request.
    """
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_token(
    plaintext: str,
    prefix: str = "pr",
    what: str = "API token",
    expected: str = "pr_<id>_<secret> as issued by Postroom",
) -> tuple[str, str]:
    """``(token_id, secret)`` from a token as issued; NotAuthenticated naming ``what`` for anything else."""
    match = re.fullmatch(_TOKEN.format(prefix=re.escape(prefix)), plaintext)
    if match is None:
        # Never echo the value: it may be a real secret pasted into the wrong place.
        raise NotAuthenticated(
            f"malformed {what}: expected {expected} "
            f"({prefix}_, 12 lower-case hex characters, _, 43 URL-safe characters)"
        )
    return match["id"], match["secret"]


def secret_matches(secret: str, stored_hash: str) -> bool:
    """Whether ``secret`` hashes to ``stored_hash``, compared in constant time."""
    return hmac.compare_digest(hash_secret(secret).encode("ascii"), stored_hash.encode("utf-8"))
