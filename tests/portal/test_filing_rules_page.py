"""The filing rules page over ``services.filing_rules``: list, create, edit, delete, apply now."""

from __future__ import annotations

import re

from postroom.runtime import Runtime
from postroom.services import filing_rules, filings, locations
from tests.portal.archived import archive_raw, plain_mail, tenant_id
from tests.portal.conftest import Browser


def location(runtime: Runtime, name: str = "Surrey Court", path: str = "/srv/surrey") -> str:
    with runtime.transaction() as session:
        return locations.create_location(session, tenant_id(runtime), {"name": name, "sync_path": path}).id


def create(browser: Browser, **form: str) -> str:
    response = browser.post("/tenants/alpha/filing-rules/new", {"enabled": "true", **form})
    assert response.status_code == 303, response.text
    match = re.search(r"saved=([0-9a-f-]+)", response.headers["location"])
    assert match
    return match[1]


def test_create_edit_and_delete(browser: Browser, people: None, runtime: Runtime) -> None:
    place = location(runtime)
    browser.sign_in("alice@example.com")
    form = browser.client.get("/tenants/alpha/filing-rules/new").text
    assert f'<option value="{place}">Surrey Court</option>' in form
    rule_id = create(browser, name="Surrey mail", location=place, sender="@surrey.example", subject="surrey")
    listing = browser.client.get(f"/tenants/alpha/filing-rules?saved={rule_id}").text
    assert "Filing rule “Surrey mail” saved." in listing
    assert "sender: <code>@surrey.example</code>" in listing and "subject: <code>surrey</code>" in listing

    edit = browser.client.get(f"/tenants/alpha/filing-rules/{rule_id}").text
    assert 'value="@surrey.example"' in edit and f'<option value="{place}" selected>' in edit
    saved = browser.post(
        f"/tenants/alpha/filing-rules/{rule_id}",
        {"name": "Surrey", "location": place, "enabled": "true", "sender": "", "project_code": r"\b(P-\d{3})\b"},
    )
    assert saved.status_code == 303
    with runtime.transaction() as session:
        data = filing_rules.rule_to_dict(session, filing_rules.get_rule(session, tenant_id(runtime), rule_id))
    assert data["name"] == "Surrey"
    assert data["conditions"] == {"project_code": r"\b(P-\d{3})\b"}  # emptied conditions are removed

    confirm = browser.client.get(f"/tenants/alpha/filing-rules/{rule_id}/delete").text
    assert "Delete filing rule “Surrey”?" in confirm
    deleted = browser.post(f"/tenants/alpha/filing-rules/{rule_id}/delete", {}, csrf_from="/tenants/alpha/filing-rules")
    assert deleted.status_code == 303
    assert "No filing rule yet." in browser.client.get("/tenants/alpha/filing-rules").text


def test_errors_are_next_to_the_fields(browser: Browser, people: None, runtime: Runtime) -> None:
    place = location(runtime)
    browser.sign_in("alice@example.com")
    nothing = browser.post("/tenants/alpha/filing-rules/new", {"name": "No conditions", "location": place})
    assert nothing.status_code == 422
    assert re.search(r'id="f-conditions">[^<]*', nothing.text)
    assert 'value="No conditions"' in nothing.text
    bad = browser.post(
        "/tenants/alpha/filing-rules/new", {"name": "Bad", "location": "", "subject": "([", "project_code": "P-1"}
    )
    assert bad.status_code == 422
    for field in ("location", "subject", "project_code"):
        assert re.search(rf'<p class="field-error" id="f-{field}-error">[^<]+</p>', bad.text), field
        assert f'href="#f-{field}"' in bad.text
    assert 'value="(["' in bad.text
    create(browser, name="Taken", location=place, sender="@x.example")
    taken = browser.post(
        "/tenants/alpha/filing-rules/new", {"name": "TAKEN", "location": place, "sender": "@y.example"}
    )
    assert re.search(r'id="f-name-error">[^<]*already', taken.text)


def test_apply_now(browser: Browser, people: None, runtime: Runtime) -> None:
    alpha = tenant_id(runtime)
    surrey = archive_raw(runtime, alpha, plain_mail("Surrey Court plans", day=1))
    archive_raw(runtime, alpha, plain_mail("Lunch", day=2))
    bath = archive_raw(runtime, alpha, plain_mail("Bath Road survey", day=3))
    place, other = location(runtime), location(runtime, "Bath Road", "/srv/bath")
    browser.sign_in("alice@example.com")
    create(browser, name="Surrey", location=place, subject="surrey court")
    bath_rule = create(browser, name="Bath", location=other, subject="bath road")

    one = browser.post(
        "/tenants/alpha/filing-rules/apply", {"rule": bath_rule}, csrf_from="/tenants/alpha/filing-rules"
    )
    assert one.status_code == 200
    assert "Applied to 3 archived messages: 1 new filing (“Bath”: 1)" in one.text
    every = browser.post("/tenants/alpha/filing-rules/apply", {}, csrf_from="/tenants/alpha/filing-rules")
    assert "Applied to 3 archived messages: 1 new filing (“Bath”: 0, “Surrey”: 1)" in every.text
    with runtime.transaction() as session:
        assert [f.message_id for f in filings.list_filings(session, alpha, location="Surrey Court")] == [surrey]
        assert [f.message_id for f in filings.list_filings(session, alpha, location="Bath Road")] == [bath]
        filing_rules.update_rule(session, alpha, "Bath", {"enabled": False})
    refused = browser.post(
        "/tenants/alpha/filing-rules/apply", {"rule": bath_rule}, csrf_from="/tenants/alpha/filing-rules"
    )
    assert refused.status_code == 422
    assert "is disabled" in refused.text
