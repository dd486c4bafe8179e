"""Name cleaning and the list search of seed 002 (name "includes", ID "equals")."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from postroom.domain.naming import clean_name, id_equals, like_contains_pattern, name_contains, name_key
from postroom.errors import InvalidInput


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Inbox", "inbox"),
        ("INBOX", "inbox"),
        ("Hauptstraße", "hauptstrasse"),
        ("Caf\u0065\u0301", "caf\u00e9"),  # decomposed é becomes the composed form
        ("ΣΊΣΥΦΟΣ", "σίσυφοσ"),
        ("", ""),
    ],
)
def test_name_key(name: str, key: str) -> None:
    assert name_key(name) == key


@pytest.mark.parametrize(
    ("value", "cleaned"),
    [
        ("Archive", "Archive"),
        ("  Sales mailboxes \n", "Sales mailboxes"),
        ("Caf\u0065\u0301", "Caf\u00e9"),
        ("x" * 100, "x" * 100),
        ("Ünïcödé 名前", "Ünïcödé 名前"),
    ],
)
def test_clean_name_accepts(value: str, cleaned: str) -> None:
    assert clean_name(value) == cleaned


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (42, "must be text"),
        (None, "must be text"),
        ("", "must not be empty"),
        ("   \t ", "must not be empty"),
        ("x" * 101, "at most 100 characters"),
        ("two\nlines", "control characters"),
        ("tab\there", "control characters"),
        ("nul\x00", "control characters"),
    ],
)
def test_clean_name_rejects(value: object, rule: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        clean_name(value)
    [error] = caught.value.errors
    assert error.field == "name"
    assert rule in error.message


def test_clean_name_uses_the_given_field_and_length() -> None:
    with pytest.raises(InvalidInput) as caught:
        clean_name("abcdef", field="title", max_length=5)
    [error] = caught.value.errors
    assert (error.field, error.message) == ("title", "must be at most 5 characters long")


@pytest.mark.parametrize(
    ("query", "name", "matches"),
    [
        ("", "anything", True),
        ("", "", True),
        ("box", "Inbox", True),
        ("BOX", "inbox", True),
        ("Inbox", "Inbox", True),
        ("strasse", "Hauptstraße", True),
        ("caf\u0065\u0301", "Café", True),
        ("out", "Inbox", False),
        ("inboxes", "Inbox", False),
    ],
)
def test_name_contains(query: str, name: str, matches: bool) -> None:
    assert name_contains(query, name) is matches


@pytest.mark.parametrize(
    ("query", "id_", "matches"),
    [
        ("ABC-123", "abc-123", True),
        (" abc-123 ", "abc-123", True),
        ("abc", "abc-123", False),  # equals, not includes
        ("", "abc", False),
    ],
)
def test_id_equals(query: str, id_: str, matches: bool) -> None:
    assert id_equals(query, id_) is matches


@pytest.mark.parametrize(
    ("query", "pattern"),
    [
        ("", "%%"),
        ("Inbox", "%inbox%"),
        ("50%", "%50\\%%"),
        ("a_b", "%a\\_b%"),
        ("back\\slash", "%back\\\\slash%"),
    ],
)
def test_like_contains_pattern(query: str, pattern: str) -> None:
    assert like_contains_pattern(query) == pattern


def like(pattern: str, text: str) -> bool:
    """SQL ``text LIKE pattern ESCAPE '\\'`` (case-sensitive), written independently of the code."""
    regex, chars = [], iter(pattern)
    for ch in chars:
        if ch == "\\":
            regex.append(re.escape(next(chars)))
        elif ch == "%":
            regex.append(".*")
        elif ch == "_":
            regex.append(".")
        else:
            regex.append(re.escape(ch))
    return re.fullmatch("".join(regex), text, flags=re.DOTALL) is not None


SEARCHY = st.text(alphabet=st.sampled_from("aAbB%_\\ßsSéE\u0301 x"), max_size=8) | st.text(max_size=8)


@given(query=SEARCHY, name=SEARCHY)
def test_like_pattern_matches_the_stored_key_exactly_when_name_contains(query: str, name: str) -> None:
    assert like(like_contains_pattern(query), name_key(name)) is name_contains(query, name)


@given(query=st.text(alphabet=st.characters(max_codepoint=127)), name=st.text())
def test_name_contains_ignores_ascii_case(query: str, name: str) -> None:
    assert name_contains(query.upper(), name) is name_contains(query, name)
    assert name_contains(query.lower(), name) is name_contains(query, name)


@given(name=st.text(), data=st.data())
def test_a_piece_of_the_name_always_matches(name: str, data: st.DataObject) -> None:
    normal = unicodedata.normalize("NFC", name)
    start = data.draw(st.integers(0, len(normal)))
    end = data.draw(st.integers(start, len(normal)))
    piece = normal[start:end]
    assume(unicodedata.normalize("NFC", piece) == piece)  # a cut may split a combining sequence
    assert name_contains(piece, name)
    assert name_contains(piece.swapcase() if piece.isascii() else piece, name)


@given(name=st.text())
def test_every_name_matches_itself_and_the_empty_query(name: str) -> None:
    assert name_contains(name, name)
    assert name_contains("", name)
