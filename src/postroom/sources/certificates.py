"""What a server's certificate says, in facts for JSON and lines for people (connection tests)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from postroom.sources.imap import certificate_sha256


def certificate_facts(der: bytes) -> dict[str, Any]:
    from cryptography import x509  # ~15 ms to import: only connection tests and TLS errors need it

    facts: dict[str, Any] = {"sha256": certificate_sha256(der)}
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return facts
    facts["subject"] = cert.subject.rfc4514_string()
    facts["issuer"] = cert.issuer.rfc4514_string()
    facts["not_before"] = cert.not_valid_before_utc.isoformat()
    facts["not_after"] = cert.not_valid_after_utc.isoformat()
    try:
        alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        facts["names"] = []
    else:
        facts["names"] = [*alt.get_values_for_type(x509.DNSName), *map(str, alt.get_values_for_type(x509.IPAddress))]
    return facts


def certificate_notes(facts: dict[str, Any]) -> list[str]:
    notes = []
    if "subject" in facts:
        notes.append(f"certificate {facts['subject']}, issued by {facts['issuer']}")
        notes.append(f"valid {facts['not_before'][:10]} to {facts['not_after'][:10]}")
        if facts["names"]:
            notes.append(f"for {', '.join(facts['names'])}")
    if "sha256" in facts:
        notes.append(f"SHA-256 fingerprint {facts['sha256']}")
    return notes


def days_left(not_after: str | None) -> int | None:
    if not not_after:
        return None
    return (datetime.fromisoformat(not_after) - datetime.now(UTC)).days
