"""API tokens: format, parsing, and hash comparison."""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postroom.errors import NotAuthenticated
from postroom.security.tokens import NewToken, hash_secret, new_token, parse_token, secret_matches

TOKEN_FORMAT = re.compile(r"pr_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")
GOOD_ID = "0123456789ab"
GOOD_SECRET = "A" * 20 + "_-" + "z" * 21  # 43 characters, with the separators a secret may hold


def test_new_token_has_the_documented_format() -> None:
    token = new_token()
    assert TOKEN_FORMAT.fullmatch(token.plaintext)
    assert token.plaintext.startswith(f"pr_{token.token_id}_")


def test_new_token_parses_back_and_matches_its_hash() -> None:
    token = new_token()
    token_id, secret = parse_token(token.plaintext)
    assert token_id == token.token_id
    assert secret_matches(secret, token.secret_hash)
    assert token.secret_hash == hashlib.sha256(secret.encode()).hexdigest()


def test_new_tokens_are_unique() -> None:
    tokens = [new_token() for _ in range(200)]
    assert len({t.token_id for t in tokens}) == 200
    assert len({t.plaintext for t in tokens}) == 200


def test_plaintext_is_not_in_the_repr() -> None:
    token = new_token()
    assert token.plaintext not in repr(token)
    assert token.plaintext.split("_", 2)[2] not in repr(token)


def test_hash_is_sha256_hex() -> None:
    assert hash_secret("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.parametrize(
    ("plaintext", "expected"),
    [
        (f"pr_{GOOD_ID}_{GOOD_SECRET}", (GOOD_ID, GOOD_SECRET)),
        (f"pr_{GOOD_ID}_{'_' * 43}", (GOOD_ID, "_" * 43)),
        (f"pr_{GOOD_ID}_{'-' * 43}", (GOOD_ID, "-" * 43)),
    ],
)
def test_parse_accepts(plaintext: str, expected: tuple[str, str]) -> None:
    assert parse_token(plaintext) == expected


@pytest.mark.parametrize(
    "plaintext",
    [
        "",
        "pr_",
        "pr__",
        f"pr_{GOOD_ID}_",
        f"pr_{GOOD_ID}",
        f"px_{GOOD_ID}_{GOOD_SECRET}",
        f"PR_{GOOD_ID}_{GOOD_SECRET}",
        f"pr_{GOOD_ID.upper()}_{GOOD_SECRET}",
        f"pr_{GOOD_ID[:-1]}_{GOOD_SECRET}",
        f"pr_{GOOD_ID}0_{GOOD_SECRET}",
        f"pr_0123456789ag_{GOOD_SECRET}",
        f"pr_{GOOD_ID}_{GOOD_SECRET[:-1]}",
        f"pr_{GOOD_ID}_{GOOD_SECRET}A",
        f"pr_{GOOD_ID}_{GOOD_SECRET[:-1]}+",
        f"pr_{GOOD_ID}_{GOOD_SECRET[:-1]}=",
        f"pr_{GOOD_ID}-{GOOD_SECRET}",
        f" pr_{GOOD_ID}_{GOOD_SECRET}",
        f"pr_{GOOD_ID}_{GOOD_SECRET}\n",
        f"Bearer pr_{GOOD_ID}_{GOOD_SECRET}",
        f"pr_{GOOD_ID}_{GOOD_SECRET[:-1]}é",
    ],
)
def test_parse_rejects(plaintext: str) -> None:
    with pytest.raises(NotAuthenticated) as caught:
        parse_token(plaintext)
    message = str(caught.value)
    assert message.startswith("malformed API token: expected pr_<id>_<secret>")
    if len(plaintext) > 20:
        assert GOOD_SECRET[:20] not in message  # never echo what may be a real secret


@given(
    token_id=st.text("0123456789abcdef", min_size=12, max_size=12),
    secret=st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", min_size=43, max_size=43),
)
def test_parse_splits_any_well_formed_token(token_id: str, secret: str) -> None:
    assert parse_token(f"pr_{token_id}_{secret}") == (token_id, secret)


@pytest.mark.parametrize(
    "stored_hash",
    ["", "0" * 64, hash_secret("another secret"), hash_secret(GOOD_SECRET).upper(), "é" * 64],
)
def test_secret_does_not_match_other_hashes(stored_hash: str) -> None:
    assert secret_matches(GOOD_SECRET, stored_hash) is False


def test_secret_matches_its_own_hash() -> None:
    assert secret_matches(GOOD_SECRET, hash_secret(GOOD_SECRET)) is True


def test_new_token_is_a_value() -> None:
    token = NewToken(token_id=GOOD_ID, secret_hash=hash_secret(GOOD_SECRET), plaintext=f"pr_{GOOD_ID}_{GOOD_SECRET}")
    assert parse_token(token.plaintext) == (GOOD_ID, GOOD_SECRET)
