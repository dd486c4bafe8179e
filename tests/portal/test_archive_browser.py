"""The archive and connectors pages in real Chromium against a real ``postroom serve``: browse,
file, read a hostile HTML mail, create a connector license and download it.

The hostile mail has scripts (inline, remote, an ``onerror`` handler), a meta refresh, remote
images, styles, a frame and a form, all pointing at a small HTTP server this test runs: nothing
may run (no console message from the mail, the titles unchanged) and nothing may reach it.
Screenshots go where ``test_browser.py`` puts them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from postroom.domain.connector import parse_license
from postroom.domain.filing import FilingSource
from postroom.runtime import Runtime
from postroom.services import connectors, filings, locations
from postroom.testing.processes import ServeProcess
from tests.portal.archived import archive_raw, html_mail, plain_mail, tenant_id
from tests.portal.browser import artifacts, chromium, needs_chromium, server
from tests.portal.conftest import PASSWORD

__all__ = ["artifacts", "chromium", "server"]  # fixtures of tests/portal/browser.py, used here

pytestmark = needs_chromium


class Trap:
    """An HTTP server on a free local port that records every request it gets."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        trap = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                trap.requests.append(f"GET {self.path}")
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"caught")

            def do_POST(self) -> None:
                trap.requests.append(f"POST {self.path}")
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Trap:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def trap() -> Iterator[Trap]:
    with Trap() as running:
        yield running


def hostile_html(trap: str) -> str:
    return f"""<!doctype html><html><head><title>Innocent</title>
<meta http-equiv="refresh" content="0;url={trap}/refresh">
<link rel="stylesheet" href="{trap}/style.css">
<style>@import url({trap}/import.css); body {{ background: url({trap}/background.png) }}</style>
<script src="{trap}/script.js"></script>
</head><body>
<p>Hello from HTML</p>
<img src="{trap}/remote.png" alt="remote image">
<img src="x" alt="broken" onerror="console.log('pwned-onerror'); fetch('{trap}/onerror')">
<script>
console.log('pwned-script'); document.title = 'pwned';
try {{ parent.document.title = 'pwned'; }} catch (e) {{}}
fetch('{trap}/fetch'); new Image().src = '{trap}/image';
</script>
<iframe src="{trap}/frame"></iframe>
<form action="{trap}/form" method="post"><button>Go</button></form>
<img src="cid:logo@example.com" alt="inline logo">
</body></html>"""


@pytest.fixture
def secure_page(chromium: Browser, server: ServeProcess) -> Iterator[tuple[Page, list[str]]]:
    """A page of its own: Chromium reports every blocked load in the console, which is the point here."""
    context = chromium.new_context(base_url=server.url, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(10_000)
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    yield page, console
    context.close()


def sign_in(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("E-mail").fill("alice@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=re.compile("^Dashboard"))).to_be_visible()


def test_browse_file_and_read_a_hostile_mail_safely(
    secure_page: tuple[Page, list[str]], runtime: Runtime, trap: Trap, artifacts: Path
) -> None:
    page, console = secure_page
    alpha = tenant_id(runtime)
    for day in (1, 2):
        archive_raw(runtime, alpha, plain_mail(f"Report {day}", day=day))
    hostile = archive_raw(
        runtime, alpha, html_mail("Invoice overdue", hostile_html(trap.url), attachment_name="invoice.pdf")
    )
    with runtime.transaction() as session:
        locations.create_location(session, alpha, {"name": "Surrey Court", "sync_path": "/srv/surrey"})
    sign_in(page)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Archive").click()
    expect(page.get_by_role("heading", name="Archive")).to_be_visible()
    page.screenshot(path=artifacts / "archive.png", full_page=True)
    page.get_by_role("link", name="anna@example.com").click()
    expect(page.get_by_role("heading", name=re.compile("Messages in INBOX"))).to_be_visible()
    page.get_by_label("Select “Report 1”").check()
    page.get_by_label("Select “Report 2”").check()
    page.get_by_label("File to location").select_option(label="Surrey Court")
    page.screenshot(path=artifacts / "archive-folder.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: one card per message
    page.screenshot(path=artifacts / "archive-folder-phone.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.get_by_role("button", name="File selected messages").click()
    expect(page.get_by_role("status")).to_contain_text("2 messages filed to “Surrey Court”")
    with runtime.transaction() as session:
        assert len(filings.list_filings(session, alpha, location="Surrey Court")) == 2
    page.get_by_role("link", name="Back").click()

    page.get_by_role("link", name="Invoice overdue").click()
    expect(page.get_by_role("heading", name="Invoice overdue")).to_be_visible()
    frame = page.frame_locator("iframe.mail-html")
    expect(frame.get_by_text("Hello from HTML")).to_be_visible()
    expect(page.get_by_role("link", name="invoice.pdf")).to_be_visible()
    page.wait_for_timeout(1500)  # time for anything that would load or run
    page.screenshot(path=artifacts / "archive-message.png", full_page=True)
    assert trap.requests == []
    assert page.title() == "Invoice overdue · Postroom"
    assert not [m for m in console if "pwned" in m and not m.startswith("Blocked")], console

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download .eml").click()
    assert download_info.value.suggested_filename == "20261122T101530Z Invoice overdue.eml"

    # Opened on its own, the HTML is still sandboxed by its Content-Security-Policy.
    page.goto(f"/tenants/alpha/archive/messages/{hostile}/html")
    expect(page.get_by_text("Hello from HTML")).to_be_visible()
    page.wait_for_timeout(1500)
    assert page.title() == "Innocent"
    assert trap.requests == []
    assert not [m for m in console if "pwned" in m and not m.startswith("Blocked")], console


def test_create_a_connector_license_and_see_its_status(
    secure_page: tuple[Page, list[str]], runtime: Runtime, artifacts: Path, server: ServeProcess
) -> None:
    page, _console = secure_page
    sign_in(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Connectors").click()
    expect(page.get_by_role("heading", name="Connectors")).to_be_visible()
    page.get_by_role("link", name="Create connector license").click()
    page.get_by_label(re.compile("^Name")).fill("File server")
    page.get_by_label("Path roots").fill("\\\\fs\\projects=/mnt/projects")
    with page.expect_download() as download_info:  # at once, without another click
        page.get_by_role("button", name="Create connector and license").click()
    expect(page.get_by_role("status")).to_contain_text("shown only this once")
    page.screenshot(path=artifacts / "connector-created.png", full_page=True)
    download = download_info.value
    assert download.suggested_filename == "Sync-license.lic"
    license = parse_license(Path(download.path()).read_bytes(), "Sync-license.lic")
    assert (license.server_url, license.tenant, license.name) == (server.url, "alpha", "File server")
    with runtime.transaction() as session:
        assert connectors.authenticate(session, license.secret).id == license.connector_id

    # the connector takes the lease with its license, with a delivery waiting for it
    alpha = tenant_id(runtime)
    message = archive_raw(runtime, alpha, plain_mail("Report 1"))
    with runtime.transaction() as session:
        place = locations.create_location(session, alpha, {"name": "Surrey Court", "sync_path": "/srv/surrey"})
        filings.file_messages(session, alpha, place.id, [message], source=FilingSource.API, filed_by="test")
    lease = httpx.post(
        f"{license.server_url}/api/connector/v1/lease",
        json={"instance_id": "inst-1", "host": "fs01.example.com", "version": "1.2.3"},
        headers={"Authorization": f"Bearer {license.secret}"},
    )
    assert lease.status_code == 200, lease.text

    page.get_by_role("link", name="Back to the connectors").click()
    expect(page.get_by_role("cell", name="File server", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="active", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="fs01.example.com", exact=True)).to_be_visible()
    page.screenshot(path=artifacts / "connectors.png", full_page=True)
    page.get_by_role("link", name="Revoke File server").click()
    page.get_by_role("button", name="Revoke license").click()
    expect(page.get_by_text(re.compile(r"^revoked "))).to_be_visible()
