"""Filing rules applied to what a real Dovecot sync archived."""

from __future__ import annotations

import pytest

from postroom.domain.process import ProcessStatus
from postroom.services import filing_rules, filings, locations
from tests.sync.conftest import Mailbox, make_message

SURREY = {"name": "Surrey Court", "sync_path": "/srv/projects/Surrey Court"}


def test_a_sync_files_what_it_archived(mailbox: Mailbox) -> None:
    with mailbox.runtime.transaction() as session:
        locations.create_location(session, mailbox.tenant.id, SURREY)
        conditions = {"folder": "Projects/*", "project_code": r"\b(P-\d{3,5})\b"}
        filing_rules.create_rule(
            session, mailbox.tenant.id, {"name": "Surrey", "location": "Surrey Court", "conditions": conditions}
        )
    mailbox.create("Projects/Surrey Court")
    mailbox.append("Projects/Surrey Court", make_message("Drawings for P-1234"))
    mailbox.append("Projects/Surrey Court", make_message("No code here"))
    mailbox.append("INBOX", make_message("P-555 but in the inbox"))

    result = mailbox.sync()

    assert result.status is ProcessStatus.SUCCEEDED, mailbox.log_texts(result.request_id)
    assert "filing rules: 1 messages filed" in mailbox.log_texts(result.request_id)
    with mailbox.runtime.sessions() as session:
        filed = filings.list_filings(session, mailbox.tenant.id)
        assert [(f.source, f.filed_by) for f in filed] == [("rule", "rule Surrey")]
    again = mailbox.sync()
    assert "filing rules: 0 messages filed" in mailbox.log_texts(again.request_id)


def test_mail_a_crashed_run_archived_is_filed_by_the_next_run(
    mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that dies between archiving and filing leaves nothing new at the source for the next
    run: that run still files what was archived since the last successful run began."""
    with mailbox.runtime.transaction() as session:
        locations.create_location(session, mailbox.tenant.id, SURREY)
        filing_rules.create_rule(
            session, mailbox.tenant.id, {"name": "Codes", "location": "Surrey Court", "conditions": {"subject": "P-"}}
        )
    mailbox.append("INBOX", make_message("first P-1"))
    assert mailbox.sync().status is ProcessStatus.SUCCEEDED
    mailbox.append("INBOX", make_message("second P-2"))
    real = filing_rules.apply_rules

    def crash(*args: object, **kw: object) -> object:
        raise KeyboardInterrupt  # the process dies right after archiving (SIGKILL, as the crash tests do)

    monkeypatch.setattr(filing_rules, "apply_rules", crash)  # the sync imports it when it files
    with pytest.raises(KeyboardInterrupt):
        mailbox.sync()
    monkeypatch.setattr(filing_rules, "apply_rules", real)
    again = mailbox.sync()
    assert again.mailboxes[mailbox.address].total().new == 0  # nothing new at the source …
    assert "filing rules: 1 messages filed" in mailbox.log_texts(again.request_id)  # … but P-2 is filed now
    with mailbox.runtime.sessions() as session:
        assert len(filings.list_filings(session, mailbox.tenant.id)) == 2
