"""The process log page: filters, paging, details with sub-processes and JSON, cancel, live refresh."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import httpx

from postroom.db.types import utcnow
from postroom.domain.process import ProcessStatus, ProcessType, Severity
from postroom.runtime import Runtime
from postroom.services import processes
from tests.portal.conftest import Browser
from tests.portal.test_profiles_page import create as create_profile
from tests.portal.test_profiles_page import tenant_id


def request_ids(page: str) -> list[str]:
    return re.findall(r'<td data-label="Request ID"><a href="[^"]+"><code>(R-[0-9A-F]+)</code>', page)


def start(
    runtime: Runtime,
    tenant: str = "alpha",
    *,
    configuration_id: str | None = None,
    status: ProcessStatus = ProcessStatus.RUNNING,
) -> str:
    with runtime.transaction() as session:
        t = tenant_id(runtime, tenant)
        return processes.start_process(
            session, t, ProcessType.FOLDER_SYNC, configuration_id=configuration_id, status=status
        ).request_id


def finish(runtime: Runtime, request_id: str, severity: Severity | None = None, text: str = "") -> None:
    with runtime.transaction() as session:
        process = processes.get_process(session, tenant_id(runtime), request_id)
        if severity is not None:
            processes.log(session, process, severity, text)
        processes.finish_process(session, process)


def test_list_with_filters(browser: Browser, people: None, runtime: Runtime) -> None:
    browser.sign_in("alice@example.com")
    profile = create_profile(browser, runtime)
    failed = start(runtime, configuration_id=profile)
    finish(runtime, failed, Severity.ERROR, "LOGIN failed")
    ok = start(runtime)
    finish(runtime, ok, Severity.INFO, "fine")
    with runtime.transaction() as session:
        test = processes.start_process(session, tenant_id(runtime), ProcessType.CONNECTION_TEST).request_id
    page = browser.client.get("/tenants/alpha/processes")
    assert page.status_code == 200
    assert request_ids(page.text) == [test, ok, failed]  # newest first
    assert "Main IMAP" in page.text  # the profile's ID resolved to its name
    assert re.search(r'class="status status-failed">failed', page.text)
    assert re.search(r'class="severity severity-error">error', page.text)

    def ids(**params: str) -> list[str]:
        response = browser.client.get("/tenants/alpha/processes", params=params)
        assert response.status_code == 200, response.text
        return request_ids(response.text)

    assert ids(type="connection-test") == [test]
    assert ids(min_severity="error") == [failed]
    assert ids(min_severity="info") == [test, ok, failed]
    assert ids(request_id=ok.lower()) == [ok]
    tomorrow = (utcnow() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    yesterday = (utcnow() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert ids(since=tomorrow) == []
    assert ids(since=yesterday, until=tomorrow) == [test, ok, failed]
    assert ids(until=yesterday) == []
    filtered = browser.client.get("/tenants/alpha/processes", params={"type": "connection-test"}).text
    assert '<option value="connection-test" selected>' in filtered  # the filter is kept
    assert "Clear filters" in filtered
    # the dashboard's "errors in the last 24 hours" opens the filtered process log
    link = re.search(r'<a href="([^"]+)">Open in the process log</a>', browser.client.get("/tenants/alpha/").text)
    assert link and "min_severity=error" in link[1]
    assert request_ids(browser.client.get(link[1].replace("&amp;", "&")).text) == [failed]


def test_filter_errors_are_next_to_the_fields_and_keep_the_input(browser: Browser, people: None) -> None:
    browser.sign_in("alice@example.com")
    response = browser.client.get(
        "/tenants/alpha/processes",
        params={"since": "yesterday", "request_id": "R-1", "until": "2026-01-01T00:00", "min_severity": "error"},
    )
    assert response.status_code == 422
    error = re.search(r'<p class="field-error" id="f-since-error">([^<]*)</p>', response.text)
    assert error and "YYYY-MM-DD HH:MM" in error[1]
    assert 'value="yesterday"' in response.text
    assert 'value="R-1"' in response.text
    assert '<option value="error" selected>' in response.text
    later_first = browser.client.get(
        "/tenants/alpha/processes", params={"since": "2026-02-01T00:00", "until": "2026-01-01T00:00"}
    )
    assert later_first.status_code == 422
    assert re.search(r'id="f-since-error">[^<]*must not be later than until', later_first.text)


def test_paging(browser: Browser, people: None, runtime: Runtime) -> None:
    browser.sign_in("alice@example.com")
    with runtime.transaction() as session:
        t = tenant_id(runtime)
        made = [processes.start_process(session, t, ProcessType.FILING) for _ in range(53)]
        base = utcnow() - timedelta(hours=1)
        for n, process in enumerate(made):  # distinct creation times, so the order is certain
            process.created_at = base + timedelta(seconds=n)
        newest_first = [p.request_id for p in reversed(made)]
    first = browser.client.get("/tenants/alpha/processes?type=filing").text
    assert request_ids(first) == newest_first[:50]
    assert "Processes 1\N{EN DASH}50" in first
    older = re.search(r'href="([^"]+)">Older', first)
    assert older and "offset=50" in older[1] and "type=filing" in older[1]
    second = browser.client.get(older[1].replace("&amp;", "&")).text
    assert request_ids(second) == newest_first[50:]
    assert "Newer" in second and "Older" not in second


def test_details_with_messages_subprocesses_and_json(browser: Browser, people: None, runtime: Runtime) -> None:
    browser.sign_in("alice@example.com")
    profile = create_profile(browser, runtime)
    with runtime.transaction() as session:
        t = tenant_id(runtime)
        parent = processes.start_process(session, t, ProcessType.FOLDER_SYNC, configuration_id=profile)
        child = processes.start_process(session, t, ProcessType.MAILBOX_SYNC, configuration_id=profile, parent=parent)
        processes.log(session, child, Severity.WARNING, "folder <Drafts> skipped")
        processes.finish_process(session, child)
        processes.finish_process(session, parent)
        parent_id, child_id = parent.request_id, child.request_id
    page = browser.client.get(f"/tenants/alpha/processes/{parent_id.lower()}")
    assert page.status_code == 200
    html = page.text
    assert f"Sub-process {child_id}" in html
    assert "folder &lt;Drafts&gt; skipped" in html  # escaped, never markup
    assert "Main IMAP" in html
    assert 'data-copy="process-json"' in html
    shown = re.search(r'<pre id="process-json" class="json">(.*?)</pre>', html, re.DOTALL)
    assert shown
    data = json.loads(shown[1].replace("&lt;", "<").replace("&gt;", ">").replace("&#34;", '"').replace("&amp;", "&"))
    assert data["request_id"] == parent_id
    assert data["subprocesses"][0]["messages"][0]["text"] == "folder <Drafts> skipped"
    assert data["configuration_name"] == "Main IMAP"
    assert 'hx-trigger="every 2s"' not in html  # finished: no live refresh
    assert "Cancel process" not in html
    child_page = browser.client.get(f"/tenants/alpha/processes/{child_id}").text  # a sub-process by its own ID
    parent_link = re.search(r'<a href="([^"]+)">the parent process</a>', child_page)
    assert parent_link and parent_id in browser.client.get(parent_link[1]).text


def test_a_running_process_refreshes_and_can_be_cancelled(browser: Browser, people: None, runtime: Runtime) -> None:
    browser.sign_in("alice@example.com")
    running = start(runtime)
    page = browser.client.get(f"/tenants/alpha/processes/{running}").text
    live = re.search(r'<div id="process-live"([^>]*)>', page)
    assert live and 'hx-trigger="every 2s"' in live[1] and 'hx-select="#process-live"' in live[1]
    assert 'hx-trigger="every 2s"' in browser.client.get("/tenants/alpha/processes").text  # the list too
    response = browser.post(
        f"/tenants/alpha/processes/{running}/cancel", {}, csrf_from=f"/tenants/alpha/processes/{running}"
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/tenants/alpha/processes/{running}?cancelled=true"
    after = browser.client.get(response.headers["location"]).text
    assert "Cancellation requested" in after
    assert "Cancel process" not in after
    with runtime.transaction() as session:
        process = processes.get_process(session, tenant_id(runtime), running)
        assert process.cancel_requested  # the API's cancel: the running code stops it
        processes.finish_process(session, process)
        assert process.status == ProcessStatus.CANCELLED
    finished = browser.client.get(f"/tenants/alpha/processes/{running}").text
    assert 'hx-trigger="every 2s"' not in finished  # done: the refresh stops
    refused = browser.post(f"/tenants/alpha/processes/{running}/cancel", {}, csrf_from="/tenants/alpha/processes")
    assert refused.status_code == 409
    assert "already finished" in refused.text


def test_a_queued_process_is_cancelled_at_once(browser: Browser, people: None, runtime: Runtime) -> None:
    browser.sign_in("alice@example.com")
    queued = start(runtime, status=ProcessStatus.QUEUED)
    browser.post(f"/tenants/alpha/processes/{queued}/cancel", {}, csrf_from="/tenants/alpha/processes")
    with runtime.transaction() as session:
        assert processes.get_process(session, tenant_id(runtime), queued).status == ProcessStatus.CANCELLED


def test_other_tenants_processes_are_not_found_and_users_are_refused(
    browser: Browser, people: None, runtime: Runtime, server_url: str
) -> None:
    beta = start(runtime, "beta")
    browser.sign_in("alice@example.com")
    assert browser.client.get(f"/tenants/alpha/processes/{beta}").status_code == 404
    assert browser.client.get(f"/tenants/beta/processes/{beta}").status_code == 404
    assert browser.client.get("/tenants/beta/processes").status_code == 404
    assert request_ids(browser.client.get("/tenants/alpha/processes").text) == []
    cancel = browser.post(f"/tenants/alpha/processes/{beta}/cancel", {}, csrf_from="/tenants/alpha/processes")
    assert cancel.status_code == 404
    with runtime.transaction() as session:
        assert not processes.get_process(session, tenant_id(runtime, "beta"), beta).cancel_requested
    dave = Browser(httpx.Client(base_url=server_url))
    try:
        dave.sign_in("dave@example.com")  # a user, not an administrator, of alpha: the API refuses too
        alpha = start(runtime)
        assert dave.client.get("/tenants/alpha/processes").status_code == 403
        assert dave.client.get(f"/tenants/alpha/processes/{alpha}").status_code == 403
        assert dave.post(f"/tenants/alpha/processes/{alpha}/cancel", {}, csrf_from="/tenants/alpha/").status_code == 403
        assert 'href="/tenants/alpha/processes"' not in dave.client.get("/tenants/alpha/").text
    finally:
        dave.client.close()
