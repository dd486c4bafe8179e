"""The portal's browser fixtures: Debian's Chromium driven by Playwright (``executable_path``,
never a downloaded browser) against a real ``postroom serve``, and where screenshots go
(``$POSTROOM_TEST_ARTIFACTS/portal``, by default ``test-artifacts/portal`` in the checkout).
Browser test modules import these fixtures and ``needs_chromium``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from postroom.config import Settings
from postroom.testing.processes import ServeProcess
from tests.cli.conftest import cli_env

CHROMIUM = Path("/usr/bin/chromium")

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed: run scripts/install-system-deps"
)


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    base = os.environ.get("POSTROOM_TEST_ARTIFACTS")
    folder = (Path(base) if base else request.config.rootpath / "test-artifacts") / "portal"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def server(settings: Settings, database_url: str, people: None, tmp_path: Path) -> Iterator[ServeProcess]:
    env = cli_env(settings.data_dir, database_url, POSTROOM_SECRET_KEY=str(settings.secret_key))
    with ServeProcess(env, tmp_path / "serve.log").start() as serve:
        yield serve


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Browser, server: ServeProcess) -> Iterator[Page]:
    """A signed-out tab at a laptop's size that may use the clipboard; any console error fails the
    test (4xx answers a test provokes on purpose excepted)."""
    context = chromium.new_context(base_url=server.url, viewport={"width": 1280, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "status of 4" not in m.text else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    assert errors == [], f"the browser console reported errors: {errors}"
