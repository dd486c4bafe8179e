"""Portal passwords: Argon2id hashes, verification that never raises, strength rule."""

from __future__ import annotations

import re

import pytest
from argon2 import PasswordHasher

from postroom.errors import FieldError, InvalidInput
from postroom.security.passwords import (
    check_password_strength,
    generate_password,
    hash_password,
    needs_rehash,
    verify_password,
)


def test_hash_is_argon2id_and_salted() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first.startswith("$argon2id$")
    assert first != second  # a fresh salt each time
    assert "correct horse" not in first


def test_verify_accepts_the_password_it_was_made_from() -> None:
    stored = hash_password("correct horse ✓")
    assert verify_password(stored, "correct horse ✓") is True


@pytest.mark.parametrize("attempt", ["correct hors", "Correct horse ✓", "correct horse ✓ ", ""])
def test_verify_rejects_other_passwords(attempt: str) -> None:
    assert verify_password(hash_password("correct horse ✓"), attempt) is False


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "garbage",
        "$2b$12$abcdefghijklmnopqrstuuUJ5Y5R3Y0nJb3xL5x1w2rj4nQ2ZJYQK",  # bcrypt, not Argon2
        "$argon2id$v=19$m=65536,t=3,p=4$AAAA$BBBB",  # well-formed but truncated
        "$argon2id$v=19$m=65536,t=3,p=4$",
    ],
)
def test_verify_is_false_for_unreadable_hashes(stored: str) -> None:
    assert verify_password(stored, "anything") is False


def test_verify_accepts_hashes_made_with_older_parameters() -> None:
    old = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("correct horse")
    assert verify_password(old, "correct horse") is True
    assert needs_rehash(old) is True


def test_current_hash_needs_no_rehash() -> None:
    assert needs_rehash(hash_password("correct horse")) is False


@pytest.mark.parametrize("stored", ["", "garbage", "$argon2id$v=19$m=65536,t=3,p=4$"])
def test_unreadable_hash_needs_rehash(stored: str) -> None:
    assert needs_rehash(stored) is True


def test_generated_passwords_are_long_random_and_url_safe() -> None:
    passwords = {generate_password() for _ in range(50)}
    assert len(passwords) == 50
    for password in passwords:
        assert re.fullmatch(r"[A-Za-z0-9_-]{24}", password)
        check_password_strength(password)


@pytest.mark.parametrize("password", ["", "a", "elevenchars", " " * 11, "ä" * 11])
def test_short_passwords_are_rejected(password: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_password_strength(password)
    assert caught.value.errors == [FieldError("password", "must be at least 12 characters")]


@pytest.mark.parametrize("password", ["twelve chars", "ä" * 12, "a much longer passphrase than needed"])
def test_long_enough_passwords_pass(password: str) -> None:
    check_password_strength(password)
