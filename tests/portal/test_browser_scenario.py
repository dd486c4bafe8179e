"""Issue 6's end-to-end scenario in Debian's Chromium against a real ``postroom serve`` and a real
Dovecot: sign in, create a secret and an IMAP profile, test the connection, create a schedule,
try to delete the profile (refused), run it, follow the process log, browse the archived
message, file it to a location, and download it. Screenshots go where test_browser.py puts them."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from playwright.sync_api import Page, expect

from postroom.runtime import Runtime
from postroom.services import locations
from postroom.services.access import Actor, tenant_for
from postroom.testing.dovecot import Dovecot
from tests.portal.browser import artifacts, chromium, needs_chromium, page, server

pytestmark = needs_chromium
__all__ = ["artifacts", "chromium", "page", "server"]

MESSAGE = (
    b"From: Sally <sally@example.com>\r\nTo: anna@example.com\r\nSubject: Drawings for Surrey Court\r\n"
    b"Date: Mon, 23 Nov 2026 09:30:00 +0000\r\nMessage-ID: <drawings@example.com>\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nThe revised drawings are attached in spirit.\r\n"
)


def test_the_administrators_day(
    page: Page, artifacts: Path, runtime: Runtime, dovecot: Dovecot, tmp_path: Path
) -> None:
    user, password = f"portal-{secrets.token_hex(3)}", secrets.token_urlsafe(10)
    dovecot.add_user(user, password)
    dovecot.append(user, password, "INBOX", MESSAGE)
    folder = tmp_path / "Surrey Court"
    with runtime.transaction() as session:
        tenant = tenant_for(session, Actor.local_admin(), "alpha")
        locations.create_location(session, tenant.id, {"name": "Surrey Court", "sync_path": str(folder)})

    page.goto("/login")
    page.get_by_label("E-mail").fill("alice@example.com")
    page.get_by_label("Password").fill("a-long-password-1")
    page.get_by_role("button", name="Sign in").click()
    nav = page.get_by_role("navigation", name="Main")

    # a secret
    nav.get_by_role("link", name="Secrets").click()
    page.get_by_role("link", name=re.compile("Create secret")).click()
    page.get_by_label("Name", exact=True).fill("Dovecot login")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Create secret").click()
    expect(page.get_by_role("cell", name="Dovecot login", exact=True)).to_be_visible()
    expect(page.locator("body")).not_to_contain_text(password)

    # an IMAP profile
    nav.get_by_role("link", name="Profiles").click()
    page.get_by_role("link", name="Create folder synchronization profile").click()
    page.get_by_label(re.compile(r"^Name")).fill("Anna's mailbox")
    page.get_by_label("Mailbox").fill(f"{user}@example.test")
    page.get_by_label("Server name").fill(dovecot.host)
    page.get_by_label("Port").fill(str(dovecot.imaps_port))
    page.get_by_label("Credentials").select_option(label="Dovecot login (Basic authentication (username/password))")
    page.get_by_label(re.compile("Trusted CA")).fill(dovecot.ca_cert_path.read_text())
    page.get_by_role("button", name="Create profile").click()
    expect(page.get_by_role("status")).to_contain_text("saved")

    # Test Connection
    page.get_by_role("link", name="Test the connection of Anna's mailbox").click()
    page.get_by_role("button", name="Run the test").click()
    expect(page.get_by_text("✓ The connection test passed.")).to_be_visible()
    page.screenshot(path=artifacts / "test-connection.png", full_page=True)

    # a schedule, then deleting the profile is refused
    nav.get_by_role("link", name="Profiles").click()
    page.get_by_role("link", name="Create a schedule for Anna's mailbox").click()
    page.get_by_label("Name", exact=True).fill("Nightly")
    page.get_by_role("button", name="Create schedule").click()
    expect(page.get_by_role("cell", name="Nightly", exact=True)).to_be_visible()
    nav.get_by_role("link", name="Profiles").click()
    expect(page.get_by_role("button", name="Delete")).to_be_disabled()
    expect(page.get_by_text("Used by schedule “Nightly”")).to_be_visible()

    # run it and follow the process log
    page.get_by_role("button", name="Run Anna's mailbox now").click()
    expect(page).to_have_url(re.compile(r"/processes/R-"))
    expect(page.locator("main")).to_contain_text("succeeded", timeout=30_000)  # the page refreshes itself
    page.screenshot(path=artifacts / "run-process.png", full_page=True)

    # browse the archived message, file it, download it
    nav.get_by_role("link", name="Archive").click()
    page.get_by_role("link", name=f"{user}@example.test").click()
    page.get_by_role("link", name="INBOX").first.click()
    page.get_by_role("checkbox", name="Select “Drawings for Surrey Court”").check()
    page.get_by_label("File to location").select_option(label="Surrey Court")
    page.get_by_role("button", name="File selected messages").click()
    expect(page.locator("main")).to_contain_text("Surrey Court")
    nav.get_by_role("link", name="Archive").click()
    page.get_by_role("link", name=f"{user}@example.test").click()
    page.get_by_role("link", name="INBOX").first.click()
    page.get_by_role("link", name="Drawings for Surrey Court").click()
    expect(page.locator("main")).to_contain_text("The revised drawings are attached in spirit.")
    page.screenshot(path=artifacts / "archived-message.png", full_page=True)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download .eml").click()
    saved = tmp_path / "downloaded.eml"
    download.value.save_as(saved)
    assert saved.read_bytes() == MESSAGE  # byte for byte what the server holds
    with page.expect_download() as download:
        page.get_by_role("link", name="Download .msg").click()
    assert download.value.suggested_filename.endswith(".msg")
