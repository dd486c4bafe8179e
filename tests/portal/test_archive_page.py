"""The archive browser: mailboxes, folder tree, paged messages, one message (HTML in a sandboxed
frame with its own strict policy), attachments, .eml/.msg downloads, filing, and tenant isolation
for every route of the pages added with it (archive, locations, filing rules, connectors)."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.routing import APIRoute

from postroom.archive.repository import list_mailboxes
from postroom.runtime import Runtime
from postroom.services import connectors, filing_rules, filings, locations
from postroom.services.access import Actor, tenant_for
from postroom.testing.archive import archive_messages
from postroom.web.portal import archive
from postroom.web.portal import connectors as connectors_page
from postroom.web.portal import filing_rules as filing_rules_page
from postroom.web.portal import locations as locations_page
from tests.portal.archived import archive_raw, html_mail, plain_mail, tenant_id
from tests.portal.conftest import Browser

HTML = '<p>Hello <b>Bob</b> <img src="cid:logo@example.com" alt="logo"></p><script>document.title="x"</script>'


def post_pairs(browser: Browser, path: str, pairs: list[tuple[str, str]]) -> httpx.Response:
    """A form with repeated names (the checked messages)."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return browser.client.post(path, content=urlencode(pairs), headers=headers, follow_redirects=False)


def subjects(page: str) -> list[str]:
    return re.findall(r'<a href="/tenants/alpha/archive/messages/\d+">([^<]+)</a>', page)


def test_browse_mailboxes_folders_and_messages_newest_first(
    browser: Browser, people: None, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    alpha = tenant_id(runtime)
    for day in (3, 1, 2):
        archive_raw(runtime, alpha, plain_mail(f"Report {day}", day=day))
    archive_raw(runtime, alpha, plain_mail("Surrey Court plans"), folder="Projects/Surrey Court")
    browser.sign_in("alice@example.com")

    mailboxes = browser.client.get("/tenants/alpha/archive").text
    assert "anna@example.com" in mailboxes
    link = re.search(r'href="(/tenants/alpha/archive/mailboxes/\d+)"', mailboxes)
    assert link
    page = browser.client.get(link[1]).text  # INBOX first
    assert subjects(page) == ["Report 3", "Report 2", "Report 1"]
    assert "Anna" in page and "2026-11-03 10:15" in page
    assert re.search(r">Projects</a>.*?<ul>\s*<li>\s*<a [^>]*>Surrey Court</a>", page, re.S)  # the tree
    project = re.search(r'href="([^"]+)">Surrey Court</a>', page)
    assert project
    assert subjects(browser.client.get(unescape(project[1])).text) == ["Surrey Court plans"]

    monkeypatch.setattr(archive, "PAGE_SIZE", 2)  # the server runs in this process
    first = browser.client.get(link[1]).text
    assert subjects(first) == ["Report 3", "Report 2"]
    assert "Page 1 of 2" in first and 'rel="next"' in first
    older = re.search(r'href="([^"]+)" rel="next"', first)
    assert older
    second = browser.client.get(unescape(older[1])).text
    assert subjects(second) == ["Report 1"]
    assert 'rel="prev"' in second and 'rel="next"' not in second


def test_a_message_page_shows_headers_text_and_html_in_a_sandboxed_frame(
    browser: Browser, people: None, runtime: Runtime
) -> None:
    alpha = tenant_id(runtime)
    message_id = archive_raw(runtime, alpha, html_mail("Plans", HTML, attachment_name='../Plan "v2".pdf'))
    browser.sign_in("alice@example.com")
    response = browser.client.get(f"/tenants/alpha/archive/messages/{message_id}")
    assert response.status_code == 200
    page = response.text
    assert "<h1>Plans</h1>" in page
    assert "Anna &lt;anna@example.com&gt;" in page
    assert "The plain text." in page
    assert "frame-src 'self'" in response.headers["content-security-policy"]
    assert "script-src 'self'" in response.headers["content-security-policy"]
    frame = re.search(r"<iframe[^>]*>", page)
    assert frame
    assert " sandbox " in frame[0] and "allow-" not in frame[0]
    assert f'src="/tenants/alpha/archive/messages/{message_id}/html"' in frame[0]
    assert "<script" not in page.split("<main", 1)[1]  # the mail's HTML is never in the portal page

    html = browser.client.get(f"/tenants/alpha/archive/messages/{message_id}/html")
    assert html.status_code == 200
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    policy = html.headers["content-security-policy"]
    for directive in ("default-src 'none'", "img-src data:", "sandbox", "form-action 'none'", "base-uri 'none'"):
        assert directive in policy
    assert "script-src" not in policy and "http" not in policy
    assert html.headers["x-frame-options"] == "SAMEORIGIN"
    assert html.headers["referrer-policy"] == "no-referrer"
    assert "<b>Bob</b>" in html.text
    assert "cid:" not in html.text and "data:image/png;base64," in html.text  # the inline image


def test_attachments_download_with_safe_names(browser: Browser, people: None, runtime: Runtime) -> None:
    alpha = tenant_id(runtime)
    message_id = archive_raw(runtime, alpha, html_mail("Plans", HTML, attachment_name='..\\..\\Plan "v2".pdf'))
    browser.sign_in("alice@example.com")
    page = browser.client.get(f"/tenants/alpha/archive/messages/{message_id}").text
    link = re.search(rf'href="(/tenants/alpha/archive/messages/{message_id}/attachments/\d+)" download>([^<]+)<', page)
    assert link and link[2] == "Plan _v2_.pdf"
    assert "logo" not in page.split("Attachments", 1)[1].split("</ul>", 1)[0]  # the inline image is not one
    response = browser.client.get(link[1])
    assert response.content == b"the attachment's bytes"
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"].startswith('attachment; filename="Plan _v2_.pdf"')
    assert response.headers["x-content-type-options"] == "nosniff"
    assert browser.client.get(link[1].rsplit("/", 1)[0] + "/99").status_code == 404


def test_download_as_eml_and_msg(browser: Browser, people: None, runtime: Runtime) -> None:
    alpha = tenant_id(runtime)
    raw = plain_mail("Quarterly report", day=22)
    message_id = archive_raw(runtime, alpha, raw)
    browser.sign_in("alice@example.com")
    eml = browser.client.get(f"/tenants/alpha/archive/messages/{message_id}/download?format=eml")
    assert eml.content == raw  # exactly as archived
    assert eml.headers["content-type"] == "message/rfc822"
    assert 'filename="20261122T101530Z Quarterly report.eml"' in eml.headers["content-disposition"]
    msg = browser.client.get(f"/tenants/alpha/archive/messages/{message_id}/download?format=msg")
    assert msg.content.startswith(bytes.fromhex("d0cf11e0a1b11ae1"))  # a compound file
    assert msg.headers["content-disposition"].startswith('attachment; filename="20261122T101530Z Quarterly report.msg"')


def test_file_selected_messages_to_a_location(browser: Browser, people: None, runtime: Runtime) -> None:
    alpha = tenant_id(runtime)
    ids = [archive_raw(runtime, alpha, plain_mail(f"Report {day}", day=day)) for day in (1, 2, 3)]
    with runtime.transaction() as session:
        location = locations.create_location(session, alpha, {"name": "Surrey Court", "sync_path": "/srv/surrey"})
        location_id = location.id
        locations.create_location(session, alpha, {"name": "Old", "sync_path": "/srv/old", "enabled": False})
    browser.sign_in("alice@example.com")
    listing = browser.client.get("/tenants/alpha/archive/mailboxes/anna@example.com").text
    assert f'<option value="{location_id}">Surrey Court</option>' in listing
    assert ">Old</option>" not in listing  # a disabled location takes no filings
    back = "/tenants/alpha/archive/mailboxes/anna@example.com"
    form = [("location", location_id), ("back", back), ("message", str(ids[0])), ("message", str(ids[2]))]
    token = browser.csrf(back)
    response = post_pairs(browser, "/tenants/alpha/archive/filings", [*form, ("csrf_token", token)])
    assert response.status_code == 200, response.text
    assert "2 messages filed to “Surrey Court”" in response.text
    assert f'href="{back}"' in response.text
    again = post_pairs(browser, "/tenants/alpha/archive/filings", [*form, ("csrf_token", token)])
    assert "0 messages filed" in again.text and "2 were filed there already" in again.text
    with runtime.transaction() as session:
        filed = filings.list_filings(session, alpha, location="Surrey Court")
        assert sorted(f.message_id for f in filed) == sorted([ids[0], ids[2]])
        assert {(f.filed_by, f.source) for f in filed} == {("alice@example.com", "portal")}
    nothing = browser.client.post(
        "/tenants/alpha/archive/filings", data={"location": location_id, "back": back, "csrf_token": token}
    )
    assert nothing.status_code == 422 and "check at least one message" in nothing.text
    evil_back = browser.client.post(
        "/tenants/alpha/archive/filings",
        data={"location": location_id, "message": str(ids[1]), "back": "https://evil.example/", "csrf_token": token},
    )
    assert 'href="/"' in evil_back.text and "evil.example" not in evil_back.text


def test_messages_of_another_tenant_are_not_found_anywhere(browser: Browser, people: None, runtime: Runtime) -> None:
    """Every route of the archive, locations, filing rules and connectors pages, in tenant alpha,
    with the IDs of tenant beta's message, mailbox, location, rule and connector: 404 for each."""
    beta = tenant_id(runtime, "beta")
    beta_message = archive_raw(runtime, beta, html_mail("Beta secret", HTML, attachment_name="b.pdf"))
    [beta_loose] = archive_messages(runtime, beta, "Beta loose")
    with runtime.transaction() as session:
        location = locations.create_location(session, beta, {"name": "Beta place", "sync_path": "/srv/beta"})
        rule = filing_rules.create_rule(
            session, beta, {"name": "Beta rule", "location": location.id, "conditions": {"sender": "@example.com"}}
        )
        beta_tenant = tenant_for(session, Actor.local_admin(), "beta")
        connector, _license = connectors.create_connector(
            session, beta_tenant, "Beta box", [], "bob", "http://x.example"
        )
        keys = [str(beta_message), str(beta_loose), location.id, rule.id, connector.id, "Beta place", "Beta rule"]
        beta_mailbox = str(list_mailboxes(session, beta)[0]["id"])
    alpha = tenant_id(runtime)
    with runtime.transaction() as session:  # alpha has places of its own, so a form could succeed
        locations.create_location(session, alpha, {"name": "Alpha place", "sync_path": "/srv/alpha"})
    browser.sign_in("alice@example.com")
    token = browser.csrf("/tenants/alpha/")
    routers = (archive.router, locations_page.router, filing_rules_page.router, connectors_page.router)
    routes = [r for router in routers for r in router.routes if isinstance(r, APIRoute)]
    assert len(routes) >= 25
    tried = 0
    for route in routes:
        params = set(re.findall(r"{(\w+)}", route.path)) - {"tenant"}
        cases = [("beta", key) for key in keys[:2]] + [(beta, keys[0])]  # beta's own pages: not hers
        if params:
            cases += [("alpha", key) for key in keys]  # beta's IDs in her tenant's pages
        for tenant, key in cases:
            path = (
                route.path.replace("{tenant}", tenant)
                .replace("{key}", key)
                .replace("{mailbox}", beta_mailbox)
                .replace("{index}", "1")
            )
            form = {
                "csrf_token": token,
                "name": "Taken over",
                "sync_path": "/srv/taken",
                "location": key,
                "message": str(beta_message),
                "rule": key,
                "sender": "@x.example",
            }
            for method in route.methods:
                response = browser.client.request(method, path, data=form, follow_redirects=False)
                tried += 1
                assert response.status_code == 404, (method, path, response.status_code)
    assert tried > 100
    # filing beta's message into alpha's own location is refused too, and nothing changed in beta
    response = browser.client.post(
        "/tenants/alpha/archive/filings",
        data={"location": "Alpha place", "message": str(beta_message), "csrf_token": token},
    )
    assert response.status_code == 404
    with runtime.transaction() as session:
        assert filings.list_filings(session, beta) == []
        assert connectors.get_connector(session, beta, connector.id).revoked_at is None
        assert locations.get_location(session, beta, "Beta place").sync_path == "/srv/beta"
        assert filing_rules.get_rule(session, beta, "Beta rule").name == "Beta rule"


def test_a_user_who_is_not_an_administrator_cannot_browse(browser: Browser, people: None, runtime: Runtime) -> None:
    message_id = archive_raw(runtime, tenant_id(runtime), html_mail("Plans", HTML))
    browser.sign_in("dave@example.com")
    for path in ("/tenants/alpha/archive", f"/tenants/alpha/archive/messages/{message_id}/html"):
        assert browser.client.get(path).status_code == 403
