"""Bugs the API fuzzer (tests/api/test_fuzz.py) found, and their kin found while fixing them,
each pinned by a plain request.

Each answered 500 on PostgreSQL, on SQLite or on both, or an error body without a message; each
must now be an answer a client can act on, in the usual error shape, the same on both databases.
"""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import BASIC, IMAP, Caller

BASE = "/api/v1/tenants/alpha"


@pytest.fixture
def alpha(root: Caller, two_tenants: None) -> Caller:
    """A superadmin, with a secret and a profile in tenant alpha."""
    assert root.post(f"{BASE}/secrets", json=BASIC).status_code == 201
    assert root.post(f"{BASE}/profiles", json=IMAP).status_code == 201
    return root


def post_raw(caller: Caller, url: str, body: bytes) -> httpx.Response:
    """POST ``body`` as JSON byte for byte, e.g. what httpx would not encode itself."""
    headers = {"Authorization": f"Bearer {caller.token}", "Content-Type": "application/json"}
    return caller.client.post(url, content=body, headers=headers)


def fields(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    return {d["field"] for d in response.json()["detail"]}


# --- the framework's own refusals (web/errors.py) -------------------------------------------------


def test_wrong_method_and_unknown_path_answer_in_the_error_shape(http: httpx.Client) -> None:
    wrong = http.request("TRACE", "/api/v1/health")
    assert wrong.status_code == 405 and "GET" in wrong.headers["allow"]
    assert wrong.json() == {
        "error": "MethodNotAllowed",
        "message": "TRACE /api/v1/health: Method Not Allowed",
    }
    missing = http.get("/api/v1/no-such-thing")
    assert missing.status_code == 404 and missing.json()["message"].endswith("Not Found")


def test_a_body_that_is_not_utf8_is_a_bad_request(root: Caller) -> None:
    sent = post_raw(root, "/api/v1/tenants", b'{"name": "\xff\xfe"}')
    assert sent.status_code == 400
    assert sent.json()["error"] == "BadRequest" and "parsing the body" in sent.json()["message"]


# --- NUL characters, which PostgreSQL refuses in text ---------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/v1/tenants/alpha%00"),
        ("get", f"{BASE}/profiles/Main%00IMAP"),
        ("get", f"{BASE}/secrets/Mail%00login"),
        ("delete", f"{BASE}/schedules/%00"),
        ("get", f"{BASE}/processes/R-%00"),
        ("delete", "/api/v1/tokens/%00"),
    ],
)
def test_a_key_with_nul_names_nothing(alpha: Caller, method: str, url: str) -> None:
    answer = getattr(alpha, method)(url)
    assert answer.status_code == 404 and "not found" in answer.json()["message"]


@pytest.mark.parametrize(
    ("url", "params"),
    [
        (f"{BASE}/profiles", {"q": "Main\x00"}),
        (f"{BASE}/secrets", {"q": "\x00"}),
        (f"{BASE}/schedules", {"q": "\x00"}),
        (f"{BASE}/processes", {"request_id": "R-\x00"}),
    ],
)
def test_a_search_with_nul_finds_nothing(alpha: Caller, url: str, params: dict[str, str]) -> None:
    answer = alpha.get(url, params=params)
    assert answer.status_code == 200 and answer.json() == []


def test_a_reference_with_nul_is_an_unknown_reference(alpha: Caller) -> None:
    profile = alpha.post(f"{BASE}/profiles", json={**IMAP, "name": "Other", "secret_id": "Mail\x00login"})
    assert fields(profile) == {"secret_id"}
    schedule = alpha.post(
        f"{BASE}/schedules",
        json={
            "name": "Nightly",
            "profile_id": "Main\x00IMAP",
            "recurrence": {"kind": "daily", "at": "02:30"},
        },
    )
    assert fields(schedule) == {"profile_id"}


def test_login_with_nul_in_the_email_is_a_wrong_password(http: httpx.Client, root: Caller) -> None:
    answer = http.post("/api/v1/auth/token", json={"email": "root@example.com\x00", "password": "x"})
    assert answer.status_code == 401 and answer.json()["message"] == "wrong e-mail or password"


def test_text_fields_refuse_nul(root: Caller, two_tenants: None) -> None:
    assert fields(root.post("/api/v1/tokens", json={"name": "ci\x00"})) == {"name"}
    assert fields(root.post("/api/v1/tenants", json={"name": "gamma", "display_name": "G\x00"})) == {"display_name"}
    user = {"email": "new@example.com", "password": "a-long-password-1"}
    assert fields(root.post(f"{BASE}/users", json={**user, "email": "new\x00@example.com"})) == {"email"}
    assert fields(root.post(f"{BASE}/users", json={**user, "display_name": "N\x00"})) == {"display_name"}


# --- lengths the database enforces (PostgreSQL only) ----------------------------------------------


def test_a_name_whose_case_folded_key_is_too_long_is_refused(root: Caller, two_tenants: None) -> None:
    # 100 characters, but its key "ss" * 100 is 200: too long for the name_key column.
    answer = root.post(f"{BASE}/secrets", json={**BASIC, "name": "ß" * 100})
    assert fields(answer) == {"name"} and "ignoring case" in answer.json()["message"]


def test_display_names_are_limited_to_200_characters(root: Caller, two_tenants: None) -> None:
    assert fields(root.post("/api/v1/tenants", json={"name": "gamma", "display_name": "x" * 201})) == {"display_name"}
    user = {"email": "new@example.com", "password": "a-long-password-1", "display_name": "x" * 201}
    assert fields(root.post(f"{BASE}/users", json=user)) == {"display_name"}


# --- numbers and dates past what the database takes -----------------------------------------------


def test_process_log_offset_past_64_bits_is_refused(root: Caller, two_tenants: None) -> None:
    assert fields(root.get(f"{BASE}/processes", params={"offset": 2**63})) == {"offset"}


@pytest.mark.parametrize("instant", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"])
def test_process_log_dates_that_leave_the_calendar_in_utc_are_refused(
    root: Caller, two_tenants: None, instant: str
) -> None:
    assert fields(root.get(f"{BASE}/processes", params={"since": instant, "until": instant})) == {
        "since",
        "until",
    }


# --- lone surrogates: JSON's "\ud800" escape decodes to text no database or hash takes --------------


def test_lone_surrogates_in_names_and_passwords_are_refused(root: Caller, two_tenants: None) -> None:
    secret = post_raw(
        root,
        f"{BASE}/secrets",
        b'{"name": "Mail \\ud800", "kind": "basic", "values": {"username": "a", "password": "b"}}',
    )
    assert fields(secret) == {"name"}
    user = post_raw(root, f"{BASE}/users", b'{"email": "new@example.com", "password": "a-long-password-\\ud800"}')
    assert fields(user) == {"password"}
    login = post_raw(root, "/api/v1/auth/token", b'{"email": "root@example.com", "password": "\\ud800"}')
    assert login.status_code == 401


def test_lone_surrogates_in_secret_values_are_refused(root: Caller, two_tenants: None) -> None:
    body = b'{"name": "s", "kind": "basic", "values": {"username": "\\ud800", "password": "p"}}'
    assert fields(post_raw(root, f"{BASE}/secrets", body)) == {"username"}


# --- secret values that broke their parsers --------------------------------------------------------


def test_an_oauth_expiry_past_the_year_9999_in_utc_is_refused(root: Caller, two_tenants: None) -> None:
    values = {"access_token": "t", "expires_at": "9999-12-31T23:59:59-23:59"}
    answer = root.post(f"{BASE}/secrets", json={"name": "o", "kind": "oauth", "values": values})
    assert fields(answer) == {"expires_at"} and "out of range" in answer.json()["message"]


def test_a_pfx_that_is_not_even_ascii_is_not_base64(root: Caller, two_tenants: None) -> None:
    answer = root.post(f"{BASE}/secrets", json={"name": "c", "kind": "certificate", "values": {"pfx": "ÿÿÿ"}})
    assert fields(answer) == {"pfx"} and "base64" in answer.json()["message"]
