"""Profiles that trust a server's own CA or pin its certificate, through the real running server."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes

from postroom.testing.certificates import certificate_sha256_as_openssl_prints, issue_certificate, self_signed
from tests.api.conftest import BASIC, IMAP, Caller

BASE = "/api/v1/tenants/alpha"
OWN_CA = {**IMAP, "name": "Own CA"}


def test_imap_profile_with_a_trusted_ca_and_a_pinned_certificate(alice: Caller) -> None:
    assert alice.post(f"{BASE}/secrets", json=BASIC).status_code == 201
    ca_pem, ca_key_pem = self_signed("Example Root CA", ca=True)
    server = issue_certificate("mail.example.com", ca=False).cert
    fingerprint = server.fingerprint(hashes.SHA256())

    pasted = "Certificate chain\r\n 0 s:CN = Example Root CA\r\n" + ca_pem.replace("\n", "\r\n")
    created = alice.post(
        f"{BASE}/profiles",
        json={**OWN_CA, "tls_trusted_ca": pasted, "tls_fingerprint": certificate_sha256_as_openssl_prints(server)},
    )
    assert created.status_code == 201, created.text
    profile = created.json()
    assert (profile["tls_trusted_ca"], profile["tls_fingerprint"]) == (ca_pem, fingerprint.hex())

    shown = alice.get(f"{BASE}/profiles/own ca").json()
    assert (shown["id"], shown["tls_trusted_ca"], shown["tls_fingerprint"]) == (
        profile["id"],
        ca_pem,
        fingerprint.hex(),
    )

    # A private key pasted with the certificate is refused, named, and never echoed back.
    for response in (
        alice.patch(f"{BASE}/profiles/{profile['id']}", json={"tls_trusted_ca": ca_pem + ca_key_pem}),
        alice.post(f"{BASE}/profiles", json={**OWN_CA, "name": "Leaky", "tls_trusted_ca": ca_key_pem}),
    ):
        assert response.status_code == 422
        [detail] = response.json()["detail"]
        assert detail["field"] == "tls_trusted_ca"
        assert "never paste private keys" in detail["msg"]
        assert ca_key_pem.splitlines()[1] not in response.text
    assert [p["name"] for p in alice.get(f"{BASE}/profiles").json()] == ["Own CA"]
    assert alice.get(f"{BASE}/profiles/own ca").json()["tls_trusted_ca"] == ca_pem

    unpinned = alice.patch(f"{BASE}/profiles/{profile['id']}", json={"tls_fingerprint": None})
    assert unpinned.status_code == 200, unpinned.text
    assert (unpinned.json()["tls_fingerprint"], unpinned.json()["tls_trusted_ca"]) == (None, ca_pem)


def test_tls_fields_are_checked_and_only_for_imap_and_exchange(alice: Caller) -> None:
    assert alice.post(f"{BASE}/secrets", json=BASIC).status_code == 201
    sha1 = alice.post(f"{BASE}/profiles", json={**OWN_CA, "tls_fingerprint": "ab" * 20})
    assert sha1.status_code == 422
    assert sha1.json()["detail"][0]["field"] == "tls_fingerprint"
    assert "openssl x509 -noout -fingerprint -sha256" in sha1.json()["detail"][0]["msg"]

    not_pem = alice.post(f"{BASE}/profiles", json={**OWN_CA, "tls_trusted_ca": "trust me"})
    assert not_pem.status_code == 422
    assert "-----BEGIN CERTIFICATE-----" in not_pem.json()["detail"][0]["msg"]

    google = alice.post(
        f"{BASE}/profiles",
        json={
            "name": "Google",
            "type": "google-workspace",
            "mode": "single",
            "mailbox": "anna@example.com",
            "secret_id": "Mail login",
            "tls_fingerprint": "ab" * 32,
        },
    )
    assert google.status_code == 422
    assert [(d["field"], d["msg"]) for d in google.json()["detail"]] == [
        ("tls_fingerprint", "not used by Google Workspace profiles")
    ]

    exchange = alice.post(
        f"{BASE}/profiles",
        json={
            "name": "Exchange",
            "type": "exchange",
            "mode": "single",
            "mailbox": "anna@example.com",
            "server_name": "exchange.example.com",
            "secret_id": "Mail login",
            "tls_fingerprint": "AB " * 32,
        },
    )
    assert exchange.status_code == 201, exchange.text
    assert exchange.json()["tls_fingerprint"] == "ab" * 32


def test_openapi_describes_the_tls_fields(alice: Caller) -> None:
    spec = alice.get("/api/openapi.json").json()
    fields = spec["components"]["schemas"]["ProfileFields"]["properties"]
    assert "never a private key" in fields["tls_trusted_ca"]["description"]
    assert "SHA-256" in fields["tls_fingerprint"]["description"]
