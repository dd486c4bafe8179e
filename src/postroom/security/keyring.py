"""Encryption of secrets at rest (Fernet: AES-128-CBC with HMAC-SHA256).

The key comes from the ``POSTROOM_SECRET_KEY`` setting (:func:`keys_from_setting`) or, when
that is unset, from ``secret.key`` in the data directory (:func:`load_or_create_key_file`).
:class:`SecretBox` encrypts with the first key and decrypts with any of them, so a key is
rotated by prepending a new one, re-encrypting every stored secret with
:meth:`SecretBox.rotate`, then dropping the old key.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from postroom.errors import ConfigurationError, SecretError

_WRONG_KEY = (
    "cannot decrypt a stored secret: the encryption key is not the one it was stored with "
    "(check POSTROOM_SECRET_KEY or the data directory's secret.key)"
)
_SETTING_RULE = "must be one or more Fernet keys separated by commas; generate one with `postroom secret generate-key`"


def generate_key() -> str:
    """A new random Fernet key, as the text that goes in a setting or key file."""
    return Fernet.generate_key().decode("ascii")


def _is_fernet_key(key: bytes) -> bool:
    try:
        Fernet(key)
    except ValueError:  # also binascii.Error, a subclass
        return False
    return True


def load_or_create_key_file(path: Path) -> bytes:
    """The Fernet key in ``path``, creating the file (mode 0600) with a new key if it is missing.

    Safe when several processes start at once: exactly one key file is written and every
    process returns the key in it.
    """
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    # Write the key to a private temporary file, then hard-link it into place. O_EXCL on the
    # final name alone would leave a moment in which the file exists but is still empty, and
    # a process losing the race would read that. link() fails if the name exists and the file
    # it publishes is already complete.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    _write_new_file(tmp, key)
    try:
        try:
            os.link(tmp, path)
        except FileExistsError:
            return _read_key_file(path)  # another process created it first: use its key
        except OSError:
            # Some network filesystems have no hard links: create the final name exclusively.
            try:
                _write_new_file(path, key)
            except FileExistsError:
                return _read_key_file(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return key


def _write_new_file(path: Path, key: bytes) -> None:
    """Create ``path`` (never overwriting) readable by its owner only, holding ``key``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(key + b"\n")
        file.flush()
        os.fsync(file.fileno())


def _read_key_file(path: Path) -> bytes:
    mode = path.stat().st_mode
    # Windows has no POSIX permission bits; there the data directory's ACL is what protects it.
    if os.name == "posix" and mode & 0o077:
        raise ConfigurationError(
            f"{path} is accessible to other users (mode {stat.S_IMODE(mode):04o}); "
            f"run `chmod 600 {path}` so only the account running Postroom can read the secret key"
        )
    key = path.read_bytes().strip()
    if not _is_fernet_key(key):
        raise ConfigurationError(
            f"{path} does not hold a valid Fernet key (44 characters of URL-safe base64); "
            "restore the original file, or delete it if no secrets have been stored yet"
        )
    return key


def keys_from_setting(value: str) -> list[bytes]:
    """The keys in ``POSTROOM_SECRET_KEY``: comma-separated, the first one encrypts."""
    parts = [part.strip() for part in value.split(",")]
    keys = [part.encode("ascii", errors="replace") for part in parts if part]
    if not keys:
        raise ConfigurationError(f"POSTROOM_SECRET_KEY: is empty; it {_SETTING_RULE}")
    # Name bad keys by position, never by value: the setting is secret.
    bad = [str(i) for i, key in enumerate(keys, start=1) if not _is_fernet_key(key)]
    if bad:
        which = f"key {bad[0]} of {len(keys)} is not a valid Fernet key"
        if len(bad) > 1:
            which = f"keys {', '.join(bad)} of {len(keys)} are not valid Fernet keys"
        raise ConfigurationError(f"POSTROOM_SECRET_KEY: {which}; it {_SETTING_RULE}")
    return keys


class SecretBox:
    """Encrypts secret payloads with the first key; decrypts with any key given."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys or not all(_is_fernet_key(key) for key in keys):
            raise ConfigurationError(f"the secret encryption keys are unusable: the setting {_SETTING_RULE}")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def encrypt(self, payload: Mapping[str, Any]) -> bytes:
        """``payload`` as compact UTF-8 JSON, encrypted; a Fernet token (URL-safe base64)."""
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        return self._fernet.encrypt(text.encode("utf-8"))

    def decrypt(self, token: bytes) -> dict[str, Any]:
        try:
            plaintext = self._fernet.decrypt(token)
        except InvalidToken as exc:
            raise SecretError(_WRONG_KEY) from exc
        try:
            payload = json.loads(plaintext.decode("utf-8"))
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError
            raise SecretError("a stored secret is corrupt: its content is not JSON") from exc
        if not isinstance(payload, dict):
            raise SecretError("a stored secret is corrupt: its content is not a JSON object")
        return payload

    def rotate(self, token: bytes) -> bytes:
        """``token`` re-encrypted with the first key (the content is unchanged)."""
        try:
            return self._fernet.rotate(token)
        except InvalidToken as exc:
            raise SecretError(_WRONG_KEY) from exc
