"""Filing rules against the database: CRUD and applying them to existing mail."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from postroom.db.archive import ArchiveFolder, ArchiveMailbox, FolderEntry
from postroom.db.models import Tenant
from postroom.errors import InvalidInput, NameTaken, NotFound
from postroom.runtime import Runtime
from postroom.services import filing_rules, filings, locations
from postroom.services.access import Actor
from postroom.services.tenants import create_tenant
from postroom.testing.archive import archive_messages

SURREY = {"name": "Surrey Court", "sync_path": "/srv/projects/Surrey Court"}
CODE = r"\b(P-\d{3,5})\b"


@pytest.fixture
def messages(runtime: Runtime, tenant: Tenant) -> list[int]:
    with runtime.transaction() as session:
        locations.create_location(session, tenant.id, SURREY)
    return archive_messages(runtime, tenant.id, "Drawings P-1234", "Invoice", "Site visit P-99")


def _rule(session: Session, tenant: Tenant, name: str = "Codes", **conditions: str) -> None:
    raw = {"name": name, "location": "Surrey Court", "conditions": conditions or {"project_code": CODE}}
    filing_rules.create_rule(session, tenant.id, raw)


def _filed(session: Session, tenant: Tenant) -> list[int]:
    return sorted(f.message_id for f in filings.list_filings(session, tenant.id))


def test_rules_file_matching_mail_once(runtime: Runtime, tenant: Tenant, messages: list[int]) -> None:
    with runtime.transaction() as session:
        _rule(session, tenant)
        result = filing_rules.apply_rules(session, tenant.id)
        assert (result.messages, result.filed, result.by_rule) == (3, 1, {"Codes": 1})
        assert _filed(session, tenant) == [messages[0]]
        filing = filings.list_filings(session, tenant.id)[0]
        assert (filing.source, filing.filed_by) == ("rule", "rule Codes")
    with runtime.transaction() as session:
        _rule(session, tenant, "From Anna", sender="@EXAMPLE.com")
        again = filing_rules.apply_rules(session, tenant.id)
        assert (again.filed, again.by_rule) == (2, {"Codes": 0, "From Anna": 2})
        assert filing_rules.apply_rules(session, tenant.id).filed == 0  # twice is once
        assert _filed(session, tenant) == sorted(messages)
        assert filing_rules.apply_rules(session, tenant.id, message_ids=[messages[1], 2**64]).messages == 1


def test_a_disabled_rule_does_nothing(session: Session, tenant: Tenant, messages: list[int]) -> None:
    _rule(session, tenant)
    filing_rules.update_rule(session, tenant.id, "codes", {"enabled": False})
    assert filing_rules.apply_rules(session, tenant.id).filed == 0
    with pytest.raises(InvalidInput, match="disabled"):
        filing_rules.apply_rules(session, tenant.id, rule_key="Codes")
    filing_rules.update_rule(session, tenant.id, "codes", {"enabled": True})
    locations.update_location(session, tenant.id, "Surrey Court", {"enabled": False})
    assert filing_rules.apply_rules(session, tenant.id).filed == 0
    assert _filed(session, tenant) == []


def test_the_folder_condition_uses_the_archive_folders(session: Session, tenant: Tenant, messages: list[int]) -> None:
    box = ArchiveMailbox(tenant_id=tenant.id, address="anna@example.com", address_key="anna@example.com")
    session.add(box)
    session.flush()
    parent = ArchiveFolder(mailbox_id=box.id, name="Projects", path="Projects")
    session.add(parent)
    session.flush()
    child = ArchiveFolder(mailbox_id=box.id, parent_id=parent.id, name="Surrey", path="Projects/Surrey")
    session.add(child)
    session.flush()
    session.add(FolderEntry(folder_id=child.id, message_id=messages[1], source_id="1"))
    session.flush()
    _rule(session, tenant, "Projects", folder="projects/*")
    assert filing_rules.apply_rules(session, tenant.id).filed == 1
    assert _filed(session, tenant) == [messages[1]]


def test_crud_and_bad_input(session: Session, tenant: Tenant, messages: list[int]) -> None:
    _rule(session, tenant)
    with pytest.raises(NameTaken):
        _rule(session, tenant, "CODES")
    with pytest.raises(InvalidInput) as caught:
        _rule(session, tenant, "Bad", subject="(unclosed")
    assert caught.value.errors[0].field == "conditions.subject"
    with pytest.raises(InvalidInput, match="no location"):
        filing_rules.create_rule(
            session, tenant.id, {"name": "x", "location": "Nowhere", "conditions": {"subject": "x"}}
        )
    rule = filing_rules.update_rule(
        session, tenant.id, "Codes", {"name": "Project codes", "conditions": {"sender": "@x.example"}}
    )
    data = filing_rules.rule_to_dict(session, rule)
    assert (data["name"], data["location"]) == ("Project codes", "Surrey Court")
    assert data["conditions"] == {"sender": "@x.example", "project_code": CODE}
    assert [r.id for r in filing_rules.list_rules(session, tenant.id)] == [rule.id]
    other = create_tenant(session, Actor.local_admin(), "other")
    with pytest.raises(NotFound):
        filing_rules.get_rule(session, other.id, rule.id)
    filing_rules.delete_rule(session, tenant.id, rule.id.upper())
    assert filing_rules.list_rules(session, tenant.id) == []
    _rule(session, tenant)
    locations.delete_location(session, tenant.id, "Surrey Court")
    session.expire_all()
    assert filing_rules.list_rules(session, tenant.id) == []  # the rule goes with its location
