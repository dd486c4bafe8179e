"""Reading an archived message through the API: bodies, attachments, the same as the portal shows."""

from __future__ import annotations

from postroom.runtime import Runtime
from tests.api.conftest import Caller
from tests.portal.archived import archive_raw, html_mail, tenant_id

BASE = "/api/v1/tenants/alpha/archive/messages"


def test_content_and_attachments_of_a_message(alice: Caller, bob: Caller, runtime: Runtime) -> None:
    raw = html_mail("Plans", "<p>See <b>attached</b>.</p><img src='cid:logo@example.com'>", attachment_name="Plän.pdf")
    message_id = archive_raw(runtime, tenant_id(runtime), raw)

    content = alice.get(f"{BASE}/{message_id}/content")
    assert content.status_code == 200, content.text
    data = content.json()
    assert "Subject: Plans" in data["headers"]
    assert data["text"].strip() == "The plain text."
    assert "<b>attached</b>" in data["html"]  # the sender's HTML, as written: the caller sandboxes it
    pdf = next(a for a in data["attachments"] if a["name"] == "Plän.pdf")
    assert (pdf["content_type"], pdf["size"]) == ("application/pdf", len(b"the attachment's bytes"))
    assert data["warnings"] == []

    download = alice.get(f"{BASE}/{message_id}/attachments/{pdf['index']}")
    assert download.status_code == 200
    assert download.content == b"the attachment's bytes"
    assert download.headers["content-type"] == "application/octet-stream"  # never rendered by a browser
    assert download.headers["content-security-policy"] == "sandbox"
    assert "filename*=UTF-8''Pl%C3%A4n.pdf" in download.headers["content-disposition"]

    assert alice.get(f"{BASE}/{message_id}/attachments/99").status_code == 404
    assert alice.get(f"{BASE}/{message_id}/attachments/0").status_code == 422
    assert alice.get(f"{BASE}/{message_id + 1000}/content").status_code == 404
    other = f"/api/v1/tenants/beta/archive/messages/{message_id}"
    assert bob.get(f"{other}/content").status_code == 404  # tenant beta cannot read alpha's mail
    assert bob.get(f"{other}/attachments/{pdf['index']}").status_code == 404
