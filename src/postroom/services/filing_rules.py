"""Filing rules: stored, edited, deleted, and applied to archived mail.

The conditions are pure (``domain/filing_rule.py``); this module adds names unique per tenant,
the location a rule files to, and :func:`apply_rules`, which files every matching message through
:func:`postroom.services.filings.file_messages` — so a message already filed to the location stays
one filing. Sync runs apply the rules to what they archived (``services/sync.py``); ``postroom rule
apply`` and ``POST …/filing-rules/apply`` apply them to all the tenant's mail, in batches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from postroom.db.archive import ArchiveFolder, FolderEntry, Message
from postroom.db.models import FilingRule, Location
from postroom.domain.filing import FilingSource
from postroom.domain.filing_rule import Conditions, Matcher, MessageFacts, RuleSettings, validate_rule
from postroom.domain.naming import name_key
from postroom.errors import FieldError, InvalidInput, NameTaken, NotFound
from postroom.services import lookup
from postroom.services.filings import MAX_MESSAGE_ID, file_messages
from postroom.services.locations import get_location

BATCH_SIZE = 500


def settings_of(session: Session, rule: FilingRule) -> RuleSettings:
    location = session.get(Location, rule.location_id)
    return RuleSettings(
        name=rule.name,
        location=location.name if location else rule.location_id,
        conditions=Conditions(**rule.conditions),
        enabled=rule.enabled,
    )


def _store(session: Session, tenant_id: str, rule: FilingRule, settings: RuleSettings) -> None:
    clash = session.scalar(
        select(FilingRule).where(FilingRule.tenant_id == tenant_id, FilingRule.name_key == name_key(settings.name))
    )
    if clash is not None and clash.id != rule.id:
        raise NameTaken("filing rule", settings.name)
    try:
        location = get_location(session, tenant_id, settings.location)
    except NotFound:
        raise InvalidInput(FieldError("location", f"no location {settings.location!r} in this tenant")) from None
    rule.name = settings.name
    rule.name_key = name_key(settings.name)
    rule.location_id = location.id
    rule.enabled = settings.enabled
    rule.conditions = settings.conditions.to_dict()


def create_rule(session: Session, tenant_id: str, raw: Mapping[str, object]) -> FilingRule:
    settings = validate_rule(raw)
    rule = FilingRule(tenant_id=tenant_id)
    _store(session, tenant_id, rule, settings)
    session.add(rule)
    session.flush()
    return rule


def get_rule(session: Session, tenant_id: str, key: str) -> FilingRule:
    """A filing rule of the tenant by ID (case-insensitive) or exact name (case-insensitive)."""
    return lookup.get(session, FilingRule, tenant_id, key, "filing rule")


def update_rule(session: Session, tenant_id: str, key: str, changes: Mapping[str, object]) -> FilingRule:
    """Change the fields given; the result must pass the same rules as a new filing rule."""
    rule = get_rule(session, tenant_id, key)
    settings = validate_rule(changes, settings_of(session, rule))
    _store(session, tenant_id, rule, settings)
    session.flush()
    return rule


def delete_rule(session: Session, tenant_id: str, key: str) -> None:
    session.delete(get_rule(session, tenant_id, key))
    session.flush()


def list_rules(session: Session, tenant_id: str) -> list[FilingRule]:
    return list(
        session.scalars(select(FilingRule).where(FilingRule.tenant_id == tenant_id).order_by(FilingRule.name_key))
    )


def rule_to_dict(session: Session, rule: FilingRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        **settings_of(session, rule).to_dict(),
        "location_id": rule.location_id,
        "created_at": rule.created_at.isoformat(),
        "updated_at": rule.updated_at.isoformat(),
    }


# --- applying -------------------------------------------------------------------------------


@dataclass
class ApplyResult:
    """Messages looked at, filings made, and the filings each rule made (by rule name)."""

    messages: int = 0
    filed: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"messages": self.messages, "filed": self.filed, "by_rule": dict(self.by_rule)}


def _facts(session: Session, rows: list[Any]) -> dict[int, MessageFacts]:
    ids = [row.id for row in rows]
    folders: dict[int, list[str]] = {}
    for message_id, path in session.execute(
        select(FolderEntry.message_id, ArchiveFolder.path)
        .join(ArchiveFolder, ArchiveFolder.id == FolderEntry.folder_id)
        .where(FolderEntry.message_id.in_(ids))
    ):
        folders.setdefault(message_id, []).append(path)
    return {
        row.id: MessageFacts(
            folders=tuple(folders.get(row.id, ())),
            sender=row.from_address,
            recipients=tuple(row.recipients.split()),
            subject=row.subject,
        )
        for row in rows
    }


def apply_rules(
    session: Session,
    tenant_id: str,
    *,
    message_ids: Iterable[int] | None = None,
    since: datetime | None = None,
    mailbox_id: int | None = None,
    rule_key: str | None = None,
) -> ApplyResult:
    """File the tenant's messages that its enabled rules (or the one named) match.

    All messages, or those in ``message_ids``, or those listed in an archive folder (of
    ``mailbox_id``, if given) at or after ``since``. Rules whose location is disabled are skipped.
    Filing is idempotent: a message already filed to a rule's location stays one filing.
    """
    if rule_key is not None:
        rules = [get_rule(session, tenant_id, rule_key)]
        if not rules[0].enabled:
            raise InvalidInput(FieldError("rule", f"filing rule {rules[0].name!r} is disabled: enable it to apply it"))
    else:
        rules = list(
            session.scalars(
                select(FilingRule)
                .where(FilingRule.tenant_id == tenant_id, FilingRule.enabled.is_(True))
                .order_by(FilingRule.name_key)
            )
        )
    active = []
    for rule in rules:
        location = session.get(Location, rule.location_id)
        if location is not None and location.enabled:
            active.append((rule, Matcher(Conditions(**rule.conditions))))
    result = ApplyResult(by_rule={rule.name: 0 for rule, _ in active})
    if not active:
        return result
    stmt = select(Message.id, Message.subject, Message.from_address, Message.recipients).where(
        Message.tenant_id == tenant_id
    )
    if message_ids is not None:
        stmt = stmt.where(Message.id.in_([m for m in message_ids if 0 < m <= MAX_MESSAGE_ID]))
    if since is not None or mailbox_id is not None:
        entries = select(FolderEntry.message_id).join(ArchiveFolder, ArchiveFolder.id == FolderEntry.folder_id)
        if since is not None:
            entries = entries.where(FolderEntry.archived_at >= since)
        if mailbox_id is not None:
            entries = entries.where(ArchiveFolder.mailbox_id == mailbox_id)
        stmt = stmt.where(Message.id.in_(entries))
    last = 0
    while True:
        rows = list(session.execute(stmt.where(Message.id > last).order_by(Message.id).limit(BATCH_SIZE)))
        if not rows:
            return result
        last = rows[-1].id
        result.messages += len(rows)
        facts = _facts(session, rows)
        for rule, matcher in active:
            matched = [message_id for message_id, fact in facts.items() if matcher(fact)]
            if matched:
                filed = file_messages(
                    session,
                    tenant_id,
                    rule.location_id,
                    matched,
                    source=FilingSource.RULE,
                    filed_by=f"rule {rule.name}",
                )
                result.by_rule[rule.name] += len(filed.created)
                result.filed += len(filed.created)
