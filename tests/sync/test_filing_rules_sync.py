"""Filing rules applied to what a real Dovecot sync archived."""

from __future__ import annotations

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
