"""Run now and Create schedule from the profiles page: the run is the API's (same lock, same
process log), followed on its process page."""

from __future__ import annotations

import re

from postroom.runtime import Runtime
from postroom.services import processes
from postroom.services.access import Actor, tenant_for
from postroom.testing.dovecot import Dovecot
from postroom.testing.processes import wait_for
from tests.portal.conftest import Browser
from tests.portal.test_connection_test_page import _dovecot_profile, _login_secret


def test_run_now_starts_the_run_and_shows_it_in_the_process_log(
    browser: Browser, people: None, runtime: Runtime, dovecot: Dovecot, account: tuple[str, str]
) -> None:
    user, password = account
    dovecot.append(user, password, "INBOX", b"Subject: archived from the portal\r\n\r\nhello\r\n")
    browser.sign_in("alice@example.com")
    secret = _login_secret(runtime, "right", user, password)
    profile = _dovecot_profile(browser, runtime, dovecot, secret, mailbox=f"{user}@example.com")
    listing = browser.client.get("/tenants/alpha/profiles").text
    assert f'action="/tenants/alpha/profiles/{profile}/run"' in listing
    assert f'href="/tenants/alpha/schedules/new?profile_id={profile}"' in listing

    started = browser.post(f"/tenants/alpha/profiles/{profile}/run", {}, csrf_from="/tenants/alpha/profiles")
    assert started.status_code == 303
    match = re.fullmatch(r"/tenants/alpha/processes/(R-[0-9A-Z-]+)", started.headers["location"])
    assert match, started.headers["location"]
    with runtime.sessions() as session:
        tenant_id = tenant_for(session, Actor.local_admin(), "alpha").id

    def status() -> str:
        with runtime.sessions() as session:
            return processes.get_process(session, tenant_id, match[1]).status

    wait_for(lambda: status() in {"succeeded", "failed"}, "the run to finish")
    assert status() == "succeeded"
    page = browser.client.get(started.headers["location"])
    assert page.status_code == 200 and match[1] in page.text
    assert browser.client.post(f"/tenants/alpha/profiles/{profile}/run").status_code == 403  # no CSRF token, no run
