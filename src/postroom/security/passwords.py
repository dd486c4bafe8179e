"""Passwords of portal users: Argon2id hashes (argon2-cffi's defaults, RFC 9106 low-memory profile)."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from postroom.errors import FieldError, InvalidInput

MIN_PASSWORD_LENGTH = 12

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """An encoded Argon2id hash (``$argon2id$...``) that carries its own salt and parameters."""
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """Whether ``password`` matches; False for a wrong password or a hash that cannot be read."""
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):  # VerifyMismatchError is a VerificationError
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether the hash was made with other parameters than today's (rehash after a login).

    A hash that cannot be read counts as needing one.
    """
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except (InvalidHashError, ValueError):
        return True


def generate_password() -> str:
    """A random password for a new account: 24 URL-safe characters (144 bits)."""
    return secrets.token_urlsafe(18)


def check_password_strength(password: str) -> None:
    """Raise InvalidInput if ``password`` is too short to be a portal password."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(FieldError("password", f"must be at least {MIN_PASSWORD_LENGTH} characters"))
