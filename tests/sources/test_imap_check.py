"""Test Connection for IMAP against a real Dovecot: each step, each failure with its raw words.

The hint rules are pure functions; they get table tests at the end.
"""

from __future__ import annotations

import errno
import json
import socket
from datetime import UTC, datetime

import pytest

from postroom.domain.connection_test import ConnectionTest, Step, StepStatus
from postroom.sources.imap_check import check_imap
from postroom.sources.imap_hints import (
    certificate_hint,
    dns_hint,
    greeting_hint,
    login_hint,
    plain_text_tls_hint,
    port_question,
    tcp_hint,
)
from postroom.sources.imap_wire import Literal, Response, astring
from postroom.testing.dovecot import Dovecot
from tests.sources.conftest import Account, new_account

SSL_ORDER = ["dns", "tcp", "tls", "greeting", "capabilities", "login", "folders"]
STARTTLS_ORDER = ["dns", "tcp", "greeting", "tls", "capabilities", "login", "folders"]


def statuses(result: ConnectionTest) -> dict[str, str]:
    return {step.name: step.status.value for step in result.steps}


def step(result: ConnectionTest, name: str) -> Step:
    return next(s for s in result.steps if s.name == name)


def failed_at(result: ConnectionTest, name: str) -> Step:
    """Assert that ``name`` failed, everything before it passed and everything after was skipped."""
    names = [s.name for s in result.steps]
    at = names.index(name)
    assert [s.status for s in result.steps] == (
        [StepStatus.OK] * at + [StepStatus.FAILED] + [StepStatus.SKIPPED] * (len(names) - at - 1)
    ), result.as_text()
    assert not result.ok and result.failed_step is not None and result.failed_step.name == name
    failed = result.failed_step
    assert failed.error, "a failed step keeps the raw error"
    assert failed.duration_ms is not None
    assert all(s.duration_ms is None for s in result.steps[at + 1 :])
    return failed


def with_mail(account: Account) -> None:
    """INBOX: 2 messages; Projekte (only a parent), Projekte/Ärger: 1; Sent: 0."""
    server, user, password = account.server, account.user, account.password
    for subject in ("one", "two"):
        server.append(user, password, "INBOX", f"Subject: {subject}\r\n\r\nbody\r\n".encode())
    server.create_folder(user, password, "Projekte/Ärger")
    server.append(user, password, "Projekte/Ärger", b"Subject: three\r\n\r\nbody\r\n")
    server.create_folder(user, password, "Sent")


# --- passing ---------------------------------------------------------------------------------------


def test_imap_ssl_passes_every_step_and_counts_each_folder(imap_account: Account, dovecot: Dovecot) -> None:
    with_mail(imap_account)
    result = check_imap(imap_account.connection("IMAP-SSL"))

    assert result.ok, result.as_text()
    assert [s.name for s in result.steps] == SSL_ORDER
    assert all(s.status is StepStatus.OK and s.duration_ms is not None for s in result.steps)
    assert result.target == f"IMAP-SSL 127.0.0.1:{dovecot.imaps_port}"

    assert step(result, "dns").details["addresses"] == ["127.0.0.1"]
    assert step(result, "tcp").details["address"] == "127.0.0.1"
    tls = step(result, "tls").details
    assert tls["version"] in ("TLSv1.2", "TLSv1.3") and tls["cipher"]
    assert tls["certificate"]["sha256"] == dovecot.server_cert_sha256
    assert tls["certificate"]["subject"] == "CN=localhost"
    assert tls["certificate"]["issuer"] == "CN=Postroom test CA"
    assert "127.0.0.1" in tls["certificate"]["names"]
    assert datetime.fromisoformat(tls["certificate"]["not_after"]) > datetime.now(UTC)
    assert "Postroom test Dovecot" in step(result, "greeting").summary
    assert "IMAP4rev1" in step(result, "capabilities").details["capabilities"]
    login = step(result, "login")
    assert login.summary == f"logged in as {imap_account.user}"
    assert "CONDSTORE" in login.details["capabilities"]  # what a sync will see, after login

    folders = step(result, "folders")
    counts = {f["name"]: f["messages"] for f in folders.details["folders"]}
    assert counts == {"INBOX": 2, "Projekte": None, "Projekte/Ärger": 1, "Sent": 0}
    assert {f["name"]: f["special_use"] for f in folders.details["folders"]}["Sent"] == "\\Sent"
    assert folders.details["total_messages"] == 3
    assert folders.summary.startswith("4 folders, 3 messages")
    assert "Projekte/Ärger: 1 message" in folders.notes

    json.dumps(result.to_dict())  # JSON as it is
    text = result.as_text()
    assert text.startswith(f"Connection test passed: IMAP-SSL 127.0.0.1:{dovecot.imaps_port} as {imap_account.user}")
    assert "✓ Folders and counts" in text and "✗" not in text
    assert dovecot.server_cert_sha256 in text


def test_imap_tls_reads_the_greeting_then_starts_tls(imap_account: Account, dovecot: Dovecot) -> None:
    with_mail(imap_account)
    result = check_imap(imap_account.connection("IMAP-TLS", host="localhost"))

    assert result.ok, result.as_text()
    assert [s.name for s in result.steps] == STARTTLS_ORDER
    assert step(result, "tls").title == "TLS (STARTTLS)"
    assert "STARTTLS" in step(result, "greeting").details["greeting"]  # offered in plain text, before TLS
    assert step(result, "tls").details["certificate"]["sha256"] == dovecot.server_cert_sha256
    assert step(result, "folders").details["total_messages"] == 3


def test_a_password_that_needs_an_imap_literal_logs_in(dovecot: Dovecot) -> None:
    account = new_account(dovecot, password='Pässwörd "quoted" \\ back')
    result = check_imap(account.connection())
    assert result.ok, result.as_text()


# --- failing, step by step -------------------------------------------------------------------------


def test_unknown_host_fails_at_dns(imap_account: Account) -> None:
    result = check_imap(imap_account.connection(host="no-such-host.invalid"))
    failed = failed_at(result, "dns")
    assert failed.summary == "cannot resolve 'no-such-host.invalid'"
    assert failed.hint is not None and "server name" in failed.hint


def test_a_closed_port_fails_at_tcp(imap_account: Account, closed_port: int) -> None:
    result = check_imap(imap_account.connection("IMAP-SSL", port=closed_port))
    failed = failed_at(result, "tcp")
    assert "Connection refused" in failed.error  # type: ignore[operator]
    assert failed.hint == f"nothing accepts connections on port {closed_port}: did you mean 993 for IMAP-SSL?"


def test_imap_ssl_on_the_plain_port_fails_at_tls_and_says_what_the_port_speaks(
    imap_account: Account, dovecot: Dovecot
) -> None:
    result = check_imap(imap_account.connection("IMAP-SSL", port=dovecot.imap_port))
    failed = failed_at(result, "tls")
    assert "SSL" in failed.error  # type: ignore[operator]  # the TLS library's own text
    assert failed.details["plain_text_greeting"].startswith("* OK")
    assert failed.hint is not None
    assert "the server greeted in plain text" in failed.hint
    assert "did you mean 993 for IMAP-SSL?" in failed.hint
    assert f"Or choose IMAP-TLS for port {dovecot.imap_port}." in failed.hint


def test_imap_tls_on_the_implicit_tls_port_fails_at_the_greeting(imap_account: Account, dovecot: Dovecot) -> None:
    result = check_imap(imap_account.connection("IMAP-TLS", port=dovecot.imaps_port, timeout=0.5))
    failed = failed_at(result, "greeting")
    assert failed.summary == "no greeting within 0.5 s"
    assert failed.hint is not None and "did you mean 143 for IMAP-TLS?" in failed.hint


@pytest.mark.parametrize("security", ["IMAP-SSL", "IMAP-TLS"])
def test_an_untrusted_certificate_fails_at_tls_and_shows_it(untrusted_dovecot: Dovecot, security: str) -> None:
    account = new_account(untrusted_dovecot)
    result = check_imap(account.connection(security))
    failed = failed_at(result, "tls")
    assert "CERTIFICATE_VERIFY_FAILED" in failed.error  # type: ignore[operator]
    assert failed.summary.startswith("the certificate of 127.0.0.1 is not trusted")
    fingerprint = untrusted_dovecot.server_cert_sha256
    assert (
        failed.hint
        == f"the certificate is not trusted: trust its CA or pin its fingerprint in the profile ({fingerprint})"
    )
    assert failed.details["certificate"]["issuer"] == "CN=Postroom untrusted CA"
    assert f"SHA-256 fingerprint {fingerprint}" in failed.notes


def test_trusting_the_issuing_ca_or_pinning_the_certificate_passes(untrusted_dovecot: Dovecot) -> None:
    account = new_account(untrusted_dovecot)
    issuer = untrusted_dovecot.issuer_ca_cert_path.read_text()
    assert check_imap(account.connection(trusted_ca_pem=issuer)).ok
    pinned = check_imap(account.connection(trusted_ca_pem=None, fingerprint=untrusted_dovecot.server_cert_sha256))
    assert pinned.ok, pinned.as_text()
    assert "pinned certificate" in step(pinned, "tls").summary


def test_a_pinned_fingerprint_matches_or_fails_at_tls(imap_account: Account, dovecot: Dovecot) -> None:
    right = dovecot.server_cert_sha256
    ok = check_imap(imap_account.connection(trusted_ca_pem=None, fingerprint=right))
    assert ok.ok, ok.as_text()
    assert step(ok, "tls").details["trust"] == "only the pinned certificate"

    wrong = "ab" * 32
    result = check_imap(imap_account.connection(trusted_ca_pem=None, fingerprint=wrong))
    failed = failed_at(result, "tls")
    assert failed.summary == "the certificate is not the pinned one"
    assert failed.error == f"the certificate of 127.0.0.1 has SHA-256 fingerprint {right}, not the pinned {wrong}"
    assert failed.hint is not None and right in failed.hint


def test_a_wrong_password_fails_at_login_with_dovecots_words(imap_account: Account) -> None:
    result = check_imap(imap_account.connection(password="not-the-password"))
    failed = failed_at(result, "login")
    assert failed.error == "NO [AUTHENTICATIONFAILED] Authentication failed."
    assert failed.hint == "check the secret's user name and password"
    for shown in (json.dumps(result.to_dict()), result.as_text(), *(s.log_line() for s in result.steps)):
        assert "not-the-password" not in shown


def test_an_oauth_token_against_a_server_without_xoauth2_fails_at_login(imap_account: Account) -> None:
    result = check_imap(imap_account.connection(password=None, oauth_token="ya29.token"))
    failed = failed_at(result, "login")
    assert "NO" in failed.error  # type: ignore[operator]
    assert failed.hint is not None and "AUTH=XOAUTH2" in failed.hint
    assert "ya29.token" not in json.dumps(result.to_dict())


def test_the_text_copy_shows_each_step_its_error_and_hint(imap_account: Account) -> None:
    result = check_imap(imap_account.connection(password="wrong"))
    lines = result.as_text().splitlines()
    assert lines[0] == f"Connection test failed at Login: the server rejected the login of {imap_account.user!r}"
    ok, failed, skipped = (status.symbol for status in (StepStatus.OK, StepStatus.FAILED, StepStatus.SKIPPED))
    marks = [line[0] for line in lines if line[:1] in (ok, failed, skipped)]
    assert marks == [ok] * 5 + [failed, skipped]
    login_at = next(i for i, line in enumerate(lines) if line.startswith("✗ Login"))
    assert lines[login_at + 1].split() == ["error:", "NO", "[AUTHENTICATIONFAILED]", "Authentication", "failed."]
    assert lines[login_at + 2].split(None, 1) == ["hint:", "check the secret's user name and password"]
    assert lines[-1].startswith(f"{skipped} Folders and counts") and lines[-1].endswith(
        "skipped: an earlier step failed"
    )


# --- pure rules, in tables -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("port", "starttls", "question"),
    [
        (993, False, None),
        (143, True, None),
        (143, False, "did you mean 993 for IMAP-SSL?"),
        (993, True, "did you mean 143 for IMAP-TLS?"),
        (10993, False, "did you mean 993 for IMAP-SSL?"),
    ],
)
def test_port_question(port: int, starttls: bool, question: str | None) -> None:
    assert port_question(port, starttls) == question


REFUSED = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")


@pytest.mark.parametrize(
    ("error", "port", "starttls", "hint"),
    [
        (REFUSED, 143, False, "nothing accepts connections on port 143: did you mean 993 for IMAP-SSL?"),
        (REFUSED, 993, False, "nothing accepts connections on port 993: is the IMAP server running there?"),
        (REFUSED, 993, True, "nothing accepts connections on port 993: did you mean 143 for IMAP-TLS?"),
        (TimeoutError("timed out"), 993, False, "no answer within 5 s: a firewall may drop the connection, or the …"),
        (OSError(errno.EHOSTUNREACH, "No route to host"), 993, False, "no route to the host: check the network …"),
    ],
)
def test_tcp_hint(error: OSError, port: int, starttls: bool, hint: str) -> None:
    said = tcp_hint(error, port, starttls, 5)
    assert said == hint or (hint.endswith(" …") and said.startswith(hint[:-2]))


@pytest.mark.parametrize(
    ("line", "starttls", "says"),
    [
        (None, True, "did you mean 143 for IMAP-TLS? Or choose IMAP-SSL."),
        (None, False, "sent no IMAP greeting"),
        (b"* BYE Too many connections", False, "refuses sessions now"),
        (b"220 mail.example.com ESMTP Postfix", False, "this is an SMTP server, not IMAP"),
        (b"+OK Dovecot ready.", False, "this is a POP3 server, not IMAP"),
        (b"HTTP/1.1 400 Bad Request", False, "this is a web server, not IMAP"),
        (b"SSH-2.0-OpenSSH_9.2", False, "this is another service, not IMAP"),
    ],
)
def test_greeting_hint(line: bytes | None, starttls: bool, says: str) -> None:
    response = None
    if line is not None:
        tag, _, rest = line.partition(b" ")
        response = Response(tag, [rest])
    assert says in greeting_hint(response, 993, starttls)


@pytest.mark.parametrize(
    ("text", "oauth", "capabilities", "says"),
    [
        ("NO [AUTHENTICATIONFAILED] Authentication failed.", False, [], "check the secret's user name and password"),
        ("NO [UNAVAILABLE] Temporary failure", False, [], "try again later"),
        ("NO [EXPIRED] Password expired", False, [], "the password has expired"),
        ("NO Plaintext authentication disallowed", False, ["LOGINDISABLED"], "only over TLS"),
        ("NO [ALERT] Unsupported authentication mechanism.", True, ["AUTH=PLAIN"], "does not offer XOAUTH2"),
        ('NO [AUTHENTICATIONFAILED]\n{"status":"401"}', True, ["AUTH=XOAUTH2"], "renew the secret's token"),
    ],
)
def test_login_hint(text: str, oauth: bool, capabilities: list[str], says: str) -> None:
    assert says in login_hint(text, oauth=oauth, capabilities=capabilities)


@pytest.mark.parametrize(
    ("code", "says"),
    [
        (20, "not trusted: trust its CA or pin its fingerprint in the profile (ab12)"),
        (18, "not trusted: trust its CA or pin its fingerprint in the profile (ab12)"),
        (62, "it is for mail.example.com, 192.0.2.1: use a name the certificate covers"),
        (10, "outside its validity period (2020-01-01T00:00:00+00:00): renew it on the server, or pin"),
    ],
)
def test_certificate_hint(code: int, says: str) -> None:
    assert says in certificate_hint(code, ["mail.example.com", "192.0.2.1"], "2020-01-01T00:00:00+00:00", "ab12")


def test_plain_text_tls_hint() -> None:
    assert plain_text_tls_hint(143, "* OK ready") == (
        'the server greeted in plain text ("* OK ready"), as IMAP-TLS ports do: did you mean 993 for IMAP-SSL? '
        "Or choose IMAP-TLS for port 143."
    )
    assert (
        plain_text_tls_hint(993, None) == "the server does not speak TLS on this port: choose IMAP-TLS for this port."
    )


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        (b"anna", b'"anna"'),
        (b"", b'""'),
        (b'say "hi"', b'"say \\"hi\\""'),
        (b"back\\slash", b'"back\\\\slash"'),
        ("pässwörd".encode(), Literal("pässwörd".encode())),
        (b"line\r\nbreak", Literal(b"line\r\nbreak")),
    ],
)
def test_astring_quotes_printable_ascii_and_sends_the_rest_as_a_literal(value: bytes, sent: bytes | Literal) -> None:
    assert astring(value) == sent


def test_dns_hint_tells_no_answer_from_no_such_name() -> None:
    assert "typos" in dns_hint(socket.gaierror(socket.EAI_NONAME, "Name or service not known"))
    assert "DNS settings" in dns_hint(socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"))
