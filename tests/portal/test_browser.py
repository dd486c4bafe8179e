"""The portal in a real browser: Debian's Chromium, driven by Playwright, against a real
``postroom serve``. Sign in, create a profile (with a validation error first), see it, search it,
delete it; a screenshot of each main page goes to ``$POSTROOM_TEST_ARTIFACTS/portal`` (default:
``test-artifacts/portal`` in the checkout).
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.portal.browser import artifacts, chromium, needs_chromium, page, server
from tests.portal.conftest import PASSWORD

pytestmark = needs_chromium
__all__ = ["artifacts", "chromium", "page", "server"]


def test_sign_in_create_search_and_delete_a_profile(page: Page, artifacts: Path) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_label("E-mail")).to_be_focused()
    page.screenshot(path=artifacts / "login.png", full_page=True)

    page.get_by_label("E-mail").fill("alice@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=re.compile("^Dashboard"))).to_be_visible()
    page.keyboard.press("Tab")  # the first stop of every page is the skip link
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    page.screenshot(path=artifacts / "dashboard.png", full_page=True)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Profiles").click()
    expect(page.get_by_role("heading", name="Folder synchronization profiles")).to_be_visible()
    page.get_by_role("link", name="Create folder synchronization profile").click()

    # The form shows the fields of the chosen type (an htmx swap), keeping what was typed.
    page.get_by_label(re.compile(r"^Name")).fill("Main IMAP")
    page.get_by_label("Type").focus()  # as a keyboard user: the focus stays on the field across the swap
    page.get_by_label("Type").select_option("microsoft365")
    expect(page.get_by_label("Application ID")).to_be_visible()
    expect(page.get_by_label("Server name")).to_have_count(0)
    expect(page.get_by_label(re.compile(r"^Name"))).to_have_value("Main IMAP")
    expect(page.get_by_label("Type")).to_be_focused()
    page.get_by_label("Type").select_option("imap")
    expect(page.get_by_label("Server name")).to_be_visible()

    page.get_by_label("Mailbox").fill("anna@example.com")
    page.get_by_label("Server name").fill("mail.example.com")
    page.get_by_label("Port").fill("70000")
    page.get_by_label("Credentials").select_option(label="Mail login (Basic authentication (username/password))")
    page.get_by_role("button", name="Create profile").click()
    expect(page.locator("#f-port-error")).to_contain_text("between 0 and 65535")
    expect(page.get_by_label("Server name")).to_have_value("mail.example.com")
    page.screenshot(path=artifacts / "profile-form-errors.png", full_page=True)

    page.get_by_label("Port").fill("")
    page.get_by_role("button", name="Create profile").click()
    expect(page.get_by_role("status")).to_contain_text("Profile “Main IMAP” saved.")
    expect(page.get_by_role("cell", name="Main IMAP", exact=True)).to_be_visible()
    page.screenshot(path=artifacts / "profiles.png", full_page=True)

    search = page.get_by_label("Search name or ID")
    search.fill("zzz")
    expect(page.get_by_text(re.compile(r"No profile.s name contains .zzz."))).to_be_visible()
    search.fill("MAIN")
    expect(page.get_by_role("cell", name="Main IMAP", exact=True)).to_be_visible()
    expect(page).to_have_url(re.compile(r"q=MAIN"))

    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.screenshot(path=artifacts / "profiles-phone.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})

    page.get_by_role("link", name="Delete Main IMAP").click()
    page.get_by_role("button", name="Delete profile").click()
    expect(page.get_by_text("No folder synchronization profile yet.")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("You are signed out.")
