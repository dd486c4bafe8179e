"""The process log, schedules, secrets, users and API tokens pages in a real browser (Debian's
Chromium, driven by Playwright, against a real ``postroom serve``): each page is visited, used
briefly and photographed into ``$POSTROOM_TEST_ARTIFACTS/portal`` (see test_browser.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from playwright.sync_api import Page, expect

from postroom.domain.process import ProcessType, Severity
from postroom.runtime import Runtime
from postroom.services import processes, secrets
from postroom.services.access import Actor, tenant_for
from tests.portal.browser import artifacts, chromium, needs_chromium, page, server
from tests.portal.conftest import PASSWORD

pytestmark = needs_chromium
__all__ = ["artifacts", "chromium", "page", "server"]


def test_process_log_schedules_secrets_users_and_tokens(page: Page, artifacts: Path, runtime: Runtime) -> None:
    with runtime.transaction() as session:
        alpha = tenant_for(session, Actor.local_admin(), "alpha").id
        secret_id = secrets.get_secret(session, alpha, "Mail login").id
        running = processes.start_process(session, alpha, ProcessType.FOLDER_SYNC)
        processes.log(session, running, Severity.INFO, "synchronizing anna@example.com")
        request_id, process_id = running.request_id, running.id

    page.goto("/login")
    page.get_by_label("E-mail").fill("alice@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    nav = page.get_by_role("navigation", name="Main")

    # Process log: the list, the details refreshing while the process runs, Copy as JSON.
    nav.get_by_role("link", name="Process log").click()
    expect(page.get_by_role("heading", name="Process log")).to_be_visible()
    page.screenshot(path=artifacts / "process-log.png", full_page=True)
    page.get_by_role("link", name=request_id).click()
    expect(page.get_by_text("Running: this page refreshes every 2 seconds.")).to_be_visible()
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    copied = json.loads(page.evaluate("navigator.clipboard.readText()"))
    assert copied["request_id"] == request_id and copied["status"] == "running"
    page.screenshot(path=artifacts / "process-details.png", full_page=True)
    with runtime.transaction() as session:
        process = processes.get_process(session, alpha, process_id)
        processes.log(session, process, Severity.WARNING, "folder Drafts skipped")
        processes.finish_process(session, process)
    expect(page.get_by_text("folder Drafts skipped", exact=True)).to_be_visible()  # no reload: htmx fetched it
    expect(page.locator("#process-live")).to_have_attribute("data-live", "false")  # and stopped polling

    # Schedules: the form shows the fields of the chosen recurrence only.
    page.goto("/tenants/alpha/profiles/new")
    page.get_by_label(re.compile(r"^Name")).fill("Main IMAP")
    page.get_by_label(re.compile(r"^Server name")).fill("mail.example.com")
    page.get_by_label(re.compile(r"^Mailbox")).fill("anna@example.com")
    page.get_by_label(re.compile(r"^Credentials")).select_option(secret_id)
    page.get_by_role("button", name="Create profile").click()
    nav.get_by_role("link", name="Schedules").click()
    page.get_by_role("link", name="Create schedule").click()
    page.get_by_label("Name", exact=True).fill("Nightly")
    page.get_by_label("Profile").select_option(label="Main IMAP")
    expect(page.get_by_label("Every (minutes)")).to_be_hidden()
    page.get_by_label("Recurrence").select_option("interval")
    expect(page.get_by_label("Time of day (daily)")).to_be_hidden()
    page.get_by_label("Every (minutes)").fill("20")
    page.get_by_role("button", name="Create schedule").click()
    expect(page.get_by_text("must be a multiple of 15").first).to_be_visible()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Nightly")
    page.get_by_label("Every (minutes)").fill("60")
    page.get_by_role("button", name="Create schedule").click()
    expect(page.get_by_role("status")).to_contain_text("Schedule “Nightly” saved.")
    expect(page.get_by_role("cell", name="every 1 hours")).to_be_visible()
    page.screenshot(path=artifacts / "schedules.png", full_page=True)
    page.get_by_role("button", name="Disable Nightly").click()
    expect(page.get_by_role("button", name="Enable Nightly")).to_be_visible()

    # Secrets: the fields of the chosen kind only; never a value shown again.
    nav.get_by_role("link", name="Secrets").click()
    page.get_by_role("link", name="Create secret").click()
    expect(page.get_by_label("Username")).to_be_visible()
    page.get_by_label("Kind").select_option("oauth")
    expect(page.get_by_label("Username")).to_be_hidden()
    page.get_by_label("Name", exact=True).fill("Graph token")
    page.get_by_label("Access token").fill("the-access-token")
    page.get_by_role("button", name="Create secret").click()
    expect(page.get_by_role("status")).to_contain_text("Secret “Graph token” saved.")
    page.screenshot(path=artifacts / "secrets.png", full_page=True)
    assert "the-access-token" not in page.content()

    # Users and API tokens.
    nav.get_by_role("link", name="Users").click()
    expect(page.get_by_role("cell", name="dave@example.com", exact=True)).to_be_visible()
    page.screenshot(path=artifacts / "users.png", full_page=True)
    nav.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name", exact=True).fill("backup script")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("heading", name="Token “backup script” created")).to_be_visible()
    page.screenshot(path=artifacts / "tokens.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto("/tenants/alpha/processes")
    page.screenshot(path=artifacts / "process-log-phone.png", full_page=True)
