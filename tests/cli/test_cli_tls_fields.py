"""`postroom profile create/edit` with `--tls-trusted-ca-file` and `--tls-fingerprint`, run for real."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization

from postroom.db.models import Tenant
from postroom.testing.certificates import certificate_sha256_as_openssl_prints, issue_certificate
from tests.cli.conftest import Cli

IMAP_OPTIONS = (
    "--type", "imap", "--server", "mail.example.com", "--protocol", "IMAP-SSL",
    "--secret", "mail login", "--mailbox", "anna@example.com",
)  # fmt: skip


def test_profile_trusts_a_ca_file_and_pins_a_fingerprint(cli: Cli, tenant: Tenant, tmp_path: Path) -> None:
    cli("secret", "create", "Mail login", "--kind", "basic", "--username", "anna", "--password-stdin",
        input="S3cret-value!\n")  # fmt: skip
    issued = issue_certificate("Example Root CA", ca=True)
    ca, ca_pem, ca_key_pem = issued.cert, issued.cert_pem(), issued.key_pem()
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("subject=CN = Example Root CA\n" + ca_pem)  # as `openssl x509 -subject` writes it
    fingerprint = ca.fingerprint(hashes.SHA256())
    printed = certificate_sha256_as_openssl_prints(ca)

    created = cli(
        "profile", "create", "Own CA", *IMAP_OPTIONS,
        "--tls-trusted-ca-file", str(ca_file), "--tls-fingerprint", printed, "--json",
    ).json()  # fmt: skip
    assert (created["tls_trusted_ca"], created["tls_fingerprint"]) == (ca_pem, fingerprint.hex())
    shown = cli("profile", "show", "own ca", "--json").json()
    assert (shown["tls_trusted_ca"], shown["tls_fingerprint"]) == (ca_pem, fingerprint.hex())
    assert f"tls_fingerprint: {fingerprint.hex()}" in cli("profile", "show", "own ca").stdout

    # A file holding a private key is refused without echoing any of it.
    leaky = tmp_path / "bundle.pem"
    leaky.write_text(ca_pem + ca_key_pem)
    result = cli.run("profile", "edit", "own ca", "--tls-trusted-ca-file", str(leaky))
    assert result.code == 1
    assert result.stderr.startswith("error: tls_trusted_ca: contains a private key")
    assert "never paste private keys" in result.stderr
    assert ca_key_pem.splitlines()[1] not in result.stdout + result.stderr

    error = cli.fails("profile", "edit", "own ca", "--tls-trusted-ca-file", str(tmp_path / "missing.pem"))
    assert error.startswith(f"error: tls_trusted_ca: cannot read {tmp_path / 'missing.pem'}")
    der = tmp_path / "ca.der"
    der.write_bytes(ca.public_bytes(serialization.Encoding.DER))
    error = cli.fails("profile", "edit", "own ca", "--tls-trusted-ca-file", str(der))
    assert f"`openssl x509 -inform der -in {der} -out ca.pem`" in error
    error = cli.fails("profile", "edit", "own ca", "--tls-fingerprint", "ab" * 20)
    assert error.startswith("error: tls_fingerprint: is a SHA-1 fingerprint")
    assert cli("profile", "show", "own ca", "--json").json()["tls_trusted_ca"] == ca_pem

    cleared = cli(
        "profile", "edit", "own ca", "--tls-trusted-ca-file", "", "--tls-fingerprint", "", "--json"
    ).json()  # fmt: skip
    assert (cleared["tls_trusted_ca"], cleared["tls_fingerprint"]) == (None, None)

    error = cli.fails("profile", "create", "Outlook", "--type", "outlook-com", "--tls-fingerprint", fingerprint.hex())
    assert error == "error: tls_fingerprint: not used by Microsoft Outlook.com profiles"
