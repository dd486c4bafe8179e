"""Filing rules, pure: validation with every broken rule named, and matching on plain facts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postroom.domain.filing_rule import (
    MAX_PATTERN_LENGTH,
    Conditions,
    MessageFacts,
    RuleSettings,
    matches,
    validate_rule,
)
from postroom.errors import InvalidInput

FACTS = MessageFacts(
    folders=("INBOX/Projects/Surrey Court", "Sent"),
    sender="Anna@Example.com",
    recipients=("bob@client.example", "carol@example.com"),
    subject="RE: Drawings for P-1234 (rev B)",
)


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ({"folder": "inbox/projects/surrey court"}, True),
        ({"folder": "INBOX/Projects"}, False),
        ({"folder": "INBOX/Projects/*"}, True),
        ({"folder": "INBOX/Proj/*"}, False),
        ({"folder": "sent"}, True),
        ({"sender": "anna@example.com"}, True),
        ({"sender": "@EXAMPLE.com"}, True),
        ({"sender": "@ample.com"}, False),
        ({"sender": "bob@client.example"}, False),
        ({"recipient": "@client.example"}, True),
        ({"recipient": "carol@example.com"}, True),
        ({"recipient": "anna@example.com"}, False),
        ({"subject": r"drawings"}, True),
        ({"subject": r"^drawings"}, False),
        ({"project_code": r"\b(P-\d{3,5})\b"}, True),
        ({"project_code": r"\b(Q-\d{3,5})\b"}, False),
        ({"project_code": r"(x?)"}, False),  # found, but the code is empty
        ({"folder": "INBOX/*", "sender": "@example.com", "subject": "rev"}, True),
        ({"folder": "INBOX/*", "sender": "@other.example"}, False),
    ],
)
def test_matching(conditions: dict[str, str], expected: bool) -> None:
    rule = validate_rule({"name": "r", "location": "Surrey Court", "conditions": conditions})
    assert matches(rule, FACTS) is expected


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        ({"conditions": {"subject": "(unclosed"}}, "conditions.subject", "not a valid regular expression"),
        ({"conditions": {"subject": "x" * (MAX_PATTERN_LENGTH + 1)}}, "conditions.subject", "at most"),
        ({"conditions": {"project_code": r"P-\d+"}}, "conditions.project_code", "exactly one group"),
        ({"conditions": {"project_code": r"(P)-(\d+)"}}, "conditions.project_code", "exactly one group"),
        ({"conditions": {"sender": "anna"}}, "conditions.sender", "an address"),
        ({"conditions": {"recipient": "a b@c"}}, "conditions.recipient", "an address"),
        ({"conditions": {"folder": "/*"}}, "conditions.folder", "folder path"),
        ({"conditions": {"colour": "red"}}, "conditions.colour", "unknown condition"),
        ({"conditions": {}}, "conditions", "at least one"),
        ({"conditions": "subject"}, "conditions", "must be an object"),
        ({"conditions": {"subject": "\x00"}}, "conditions.subject", "NUL"),
        ({"name": "", "conditions": {"subject": "x"}}, "name", "empty"),
    ],
)
def test_broken_rules_name_the_field(raw: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_rule({"name": "r", "location": "Surrey Court", **raw})
    errors = {e.field: e.message for e in caught.value.errors}
    assert field in errors and words in errors[field], errors


def test_required_fields_and_editing() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_rule({})
    assert {e.field for e in caught.value.errors} == {"name", "location", "conditions"}
    rule = validate_rule({"name": " Surrey ", "location": "Surrey Court", "conditions": {"sender": " @Example.COM "}})
    assert rule == RuleSettings("Surrey", "Surrey Court", Conditions(sender="@example.com"), True)
    assert validate_rule(rule.to_dict()) == rule
    edited = validate_rule({"enabled": False, "conditions": {"subject": "x", "sender": None}}, rule)
    assert (edited.enabled, edited.conditions) == (False, Conditions(subject="x"))
    with pytest.raises(InvalidInput, match="at least one"):
        validate_rule({"conditions": {"sender": ""}}, rule)


_text = st.text(max_size=60)


@given(
    st.fixed_dictionaries(
        {},
        optional=dict.fromkeys(("folder", "sender", "recipient", "subject", "project_code"), _text),
    ),
    st.lists(_text, max_size=3),
    _text,
    st.lists(_text, max_size=3),
    _text,
)
def test_validating_and_matching_never_raise_on_any_text(
    conditions: dict[str, str], folders: list[str], sender: str, recipients: list[str], subject: str
) -> None:
    try:
        rule = validate_rule({"name": "r", "location": "l", "conditions": conditions})
    except InvalidInput:
        rule = RuleSettings("r", "l", Conditions(**conditions))  # stored data that no longer validates
    facts = MessageFacts(tuple(folders), sender, tuple(recipients), subject)
    assert isinstance(matches(rule, facts), bool)
