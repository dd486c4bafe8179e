"""Run a profile through the API against a real Dovecot, follow it in the process log, and read
the archived message back byte for byte."""

from __future__ import annotations

import time

import extract_msg

from postroom.testing.dovecot import Dovecot
from tests.api.conftest import Caller
from tests.sync.conftest import make_message


def wait_for(caller: Caller, url: str, seconds: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        process = caller.get(url).json()
        if process["status"] not in ("queued", "running"):
            return process  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"{url} still running after {seconds} s")


def test_run_follow_browse_download(alice: Caller, bob: Caller, dovecot: Dovecot) -> None:
    dovecot.add_user("api-sync", "api-sync-password")
    message = make_message("Surrey Court drawings")
    dovecot.create_folder("api-sync", "api-sync-password", "Projects")
    dovecot.append("api-sync", "api-sync-password", "Projects", message)
    base = "/api/v1/tenants/alpha"
    secret = {"name": "Dovecot", "kind": "basic", "values": {"username": "api-sync", "password": "api-sync-password"}}
    assert alice.post(f"{base}/secrets", json=secret).status_code == 201
    profile = {
        "name": "Dovecot test",
        "type": "imap",
        "mode": "single",
        "server_name": dovecot.host,
        "port": dovecot.imaps_port,
        "protocol": "IMAP-SSL",
        "secret_id": "Dovecot",
        "mailbox": "api-sync@example.test",
        "tls_trusted_ca": dovecot.ca_cert_path.read_text(),
    }
    assert alice.post(f"{base}/profiles", json=profile).status_code == 201

    started = alice.post(f"{base}/profiles/dovecot%20test/run")
    assert started.status_code == 202, started.text
    process = wait_for(alice, started.json()["process"])
    assert process["status"] == "succeeded", process
    assert any("1 new" in m["text"] for m in process["subprocesses"][0]["messages"])  # type: ignore[index]

    mailboxes = alice.get(f"{base}/archive/mailboxes").json()
    assert [(m["address"], m["messages"]) for m in mailboxes] == [("api-sync@example.test", 1)]
    folders = alice.get(f"{base}/archive/mailboxes/api-sync@example.test/folders").json()
    assert {f["path"] for f in folders} == {"INBOX", "Projects"}
    listed = alice.get(f"{base}/archive/mailboxes/api-sync@example.test/messages", params={"folder": "Projects"}).json()
    assert [m["subject"] for m in listed] == ["Surrey Court drawings"]
    raw = alice.get(f"{base}/archive/messages/{listed[0]['id']}/eml")
    assert raw.headers["content-type"] == "message/rfc822"
    assert raw.content == message
    as_msg = alice.get(f"{base}/archive/messages/{listed[0]['id']}/download", params={"format": "msg"})
    assert as_msg.headers["content-type"] == "application/vnd.ms-outlook"
    assert 'filename="20261122T101530Z Surrey Court drawings.msg"' in as_msg.headers["content-disposition"]
    with extract_msg.openMsg(as_msg.content) as opened:
        assert opened.subject == "Surrey Court drawings"
    bad = alice.get(f"{base}/archive/messages/{listed[0]['id']}/download", params={"format": "pdf"})
    assert bad.status_code == 422
    details = alice.get(f"{base}/archive/messages/{listed[0]['id']}").json()
    assert details["folders"][0]["folder"] == "Projects"

    # another tenant sees none of it
    assert bob.get(f"{base}/archive/mailboxes").status_code == 404
    assert bob.get(f"/api/v1/tenants/beta/archive/messages/{listed[0]['id']}").status_code == 404
    assert bob.get(f"/api/v1/tenants/beta/archive/messages/{listed[0]['id']}/eml").status_code == 404
    assert bob.post(f"{base}/profiles/dovecot%20test/run").status_code == 404


def test_download_names_the_file_like_a_location_would(alice: Caller) -> None:
    from postroom.web.api.archive import content_disposition

    header = content_disposition('20261122T101530Z Grüße "quoted".msg')
    assert header.startswith('attachment; filename="20261122T101530Z Gr__e _quoted_.msg"; ')
    assert header.endswith("filename*=UTF-8''20261122T101530Z%20Gr%C3%BC%C3%9Fe%20%22quoted%22.msg")
