"""The secret key file, the POSTROOM_SECRET_KEY setting, and encryption at rest."""

from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet, InvalidToken
from hypothesis import given
from hypothesis import strategies as st

from postroom.errors import ConfigurationError, SecretError
from postroom.security.keyring import (
    SecretBox,
    generate_key,
    keys_from_setting,
    load_or_create_key_file,
)

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- the key file ------------------------------------------------------------------------------


@posix_only
def test_key_file_is_created_private_with_a_new_key(tmp_path: Path) -> None:
    path = tmp_path / "data" / "nested" / "secret.key"
    key = load_or_create_key_file(path)
    assert mode_of(path) == 0o600
    assert path.read_bytes() == key + b"\n"
    Fernet(key)  # a usable key
    assert sorted(p.name for p in path.parent.iterdir()) == ["secret.key"]  # no temporary left


def test_key_file_is_reused(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    assert load_or_create_key_file(path) == load_or_create_key_file(path)


def test_existing_key_file_is_read_without_surrounding_whitespace(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    key = generate_key()
    path.write_text(f"  {key}\r\n\n")
    path.chmod(0o600)
    assert load_or_create_key_file(path) == key.encode()


@posix_only
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o660])
def test_key_file_open_to_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "secret.key"
    path.write_text(generate_key() + "\n")
    path.chmod(mode)
    with pytest.raises(ConfigurationError) as caught:
        load_or_create_key_file(path)
    assert f"run `chmod 600 {path}`" in str(caught.value)
    assert f"mode {mode:04o}" in str(caught.value)


@posix_only
def test_key_file_readable_by_owner_only_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    path.write_text(generate_key() + "\n")
    path.chmod(0o400)
    assert load_or_create_key_file(path) == path.read_bytes().strip()


@pytest.mark.parametrize("content", [b"", b"\n", b"not a key\n", b"A" * 43 + b"\n", b"\xff\xfe" * 22])
def test_key_file_without_a_valid_key_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "secret.key"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(ConfigurationError) as caught:
        load_or_create_key_file(path)
    assert str(caught.value).startswith(f"{path} does not hold a valid Fernet key")
    assert path.read_bytes() == content  # never replaced: secrets may depend on the lost key


def test_losing_the_creation_race_returns_the_winners_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process creates the file between our "is it there?" and our link()."""
    path = tmp_path / "secret.key"
    winner = generate_key().encode()
    real_link = os.link

    def other_process_wins(src: Path, dst: Path) -> None:
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, winner + b"\n")
        os.close(fd)
        real_link(src, dst)  # now raises FileExistsError, as it would for real

    monkeypatch.setattr(os, "link", other_process_wins)
    assert load_or_create_key_file(path) == winner
    assert path.read_bytes() == winner + b"\n"
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]


def test_filesystem_without_hard_links_still_gets_a_private_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(src: Path, dst: Path) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    path = tmp_path / "secret.key"
    key = load_or_create_key_file(path)
    assert path.read_bytes() == key + b"\n"
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]
    if os.name == "posix":
        assert mode_of(path) == 0o600


def test_processes_starting_together_share_one_key(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secret.key"
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        keys = pool.map(load_or_create_key_file, [path] * 8)
    assert set(keys) == {path.read_bytes().strip()}
    assert [p.name for p in path.parent.iterdir()] == ["secret.key"]


# --- the setting -------------------------------------------------------------------------------


def test_setting_with_one_key() -> None:
    key = generate_key()
    assert keys_from_setting(key) == [key.encode()]


def test_setting_with_several_keys_keeps_their_order() -> None:
    new, old, older = generate_key(), generate_key(), generate_key()
    assert keys_from_setting(f" {new}, {old},{older} ,") == [new.encode(), old.encode(), older.encode()]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "is empty"),
        (" , ", "is empty"),
        ("not-a-key", "key 1 of 1 is not a valid Fernet key"),
        (f"{Fernet.generate_key().decode()},short", "key 2 of 2 is not a valid Fernet key"),
        ("bad,worse", "keys 1, 2 of 2 are not valid Fernet keys"),
        ("ключ", "key 1 of 1 is not a valid Fernet key"),
    ],
)
def test_setting_that_is_not_keys_is_refused(value: str, problem: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        keys_from_setting(value)
    message = str(caught.value)
    assert message.startswith(f"POSTROOM_SECRET_KEY: {problem}")
    assert message.endswith(
        "must be one or more Fernet keys separated by commas; generate one with `postroom secret generate-key`"
    )
    for part in value.split(","):
        if part.strip():
            assert part.strip() not in message  # the setting is secret: never echoed


def test_generated_keys_are_distinct_and_valid() -> None:
    keys = {generate_key() for _ in range(20)}
    assert len(keys) == 20
    assert keys_from_setting(",".join(keys))


# --- SecretBox ---------------------------------------------------------------------------------


def test_payload_is_stored_as_compact_json() -> None:
    key = Fernet.generate_key()
    token = SecretBox([key]).encrypt({"username": "alice", "password": "pässword"})
    assert Fernet(key).decrypt(token) == '{"username":"alice","password":"pässword"}'.encode()
    assert b"alice" not in token


def test_wrong_key_is_a_secret_error() -> None:
    token = SecretBox([Fernet.generate_key()]).encrypt({"a": "b"})
    with pytest.raises(SecretError) as caught:
        SecretBox([Fernet.generate_key()]).decrypt(token)
    assert str(caught.value) == (
        "cannot decrypt a stored secret: the encryption key is not the one it was stored with "
        "(check POSTROOM_SECRET_KEY or the data directory's secret.key)"
    )
    assert isinstance(caught.value.__cause__, InvalidToken)


@pytest.mark.parametrize("token", [b"", b"garbage", b"gAAAAA" + b"A" * 80])
def test_corrupt_token_is_a_secret_error(token: bytes) -> None:
    with pytest.raises(SecretError):
        SecretBox([Fernet.generate_key()]).decrypt(token)


@pytest.mark.parametrize("plaintext", [b"[1, 2]", b"not json", b'"text"', b"\xff"])
def test_content_that_is_not_a_json_object_is_a_secret_error(plaintext: bytes) -> None:
    key = Fernet.generate_key()
    with pytest.raises(SecretError, match="a stored secret is corrupt"):
        SecretBox([key]).decrypt(Fernet(key).encrypt(plaintext))


def test_rotation() -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    stored = SecretBox([old]).encrypt({"password": "s3cret"})

    during = SecretBox([new, old])  # new key prepended: old tokens still decrypt
    assert during.decrypt(stored) == {"password": "s3cret"}
    rotated = during.rotate(stored)
    assert during.decrypt(rotated) == {"password": "s3cret"}

    after = SecretBox([new])  # old key dropped: only rotated tokens still decrypt
    assert after.decrypt(rotated) == {"password": "s3cret"}
    with pytest.raises(SecretError):
        after.decrypt(stored)
    with pytest.raises(SecretError):
        SecretBox([old]).decrypt(rotated)


def test_new_tokens_use_the_first_key() -> None:
    first, second = Fernet.generate_key(), Fernet.generate_key()
    token = SecretBox([first, second]).encrypt({"a": "b"})
    assert SecretBox([first]).decrypt(token) == {"a": "b"}
    with pytest.raises(SecretError):
        SecretBox([second]).decrypt(token)


def test_rotating_with_the_wrong_key_is_a_secret_error() -> None:
    token = SecretBox([Fernet.generate_key()]).encrypt({"a": "b"})
    with pytest.raises(SecretError, match="cannot decrypt a stored secret"):
        SecretBox([Fernet.generate_key()]).rotate(token)


@pytest.mark.parametrize("keys", [[], [b"short"], [Fernet.generate_key(), b"short"]])
def test_box_without_usable_keys_is_refused(keys: list[bytes]) -> None:
    with pytest.raises(ConfigurationError, match="generate-key"):
        SecretBox(keys)


def test_box_works_with_keys_from_the_file_and_the_setting(tmp_path: Path) -> None:
    from_file = load_or_create_key_file(tmp_path / "secret.key")
    token = SecretBox([from_file]).encrypt({"k": "v"})
    setting = f"{generate_key()},{from_file.decode()}"
    assert SecretBox(keys_from_setting(setting)).decrypt(token) == {"k": "v"}


_BOX = SecretBox([Fernet.generate_key()])

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), st.text()))
def test_round_trip_of_text_payloads(payload: dict[str, str]) -> None:
    assert _BOX.decrypt(_BOX.encrypt(payload)) == payload


@given(st.dictionaries(st.text(), _json_values))
def test_round_trip_of_any_json_object(payload: dict[str, Any]) -> None:
    assert _BOX.decrypt(_BOX.encrypt(payload)) == payload
