"""Throwaway certificates for tests: a CA per test process and server certificates, and the keys
and certificates tests paste, upload or parse.

Every real server the tests start (Dovecot now; Samba, WsgiDAV or the connector later) can be
signed by the one CA of the test process, :func:`shared_test_ca`, so a client that trusts its PEM
trusts them all. A test of certificate verification signs with a CA of its own instead::

    cert_pem, key_pem = shared_test_ca().issue_server_certificate()
    untrusted = CertificateAuthority.generate("Postroom untrusted CA")

Their keys are ECDSA P-256; their certificates are valid from a day ago for 30 days.

Material that tests hand to the code under test (a CA to trust, a client certificate, a key that
must never be echoed) comes from :func:`issue_certificate`, or :func:`self_signed` for just the
PEM texts::

    ca_pem, ca_key_pem = self_signed("Example Root CA", ca=True)
    client = issue_certificate("client.example.test", key="rsa")
    pfx = client.pkcs12("export password")
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import threading
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
KeyType = Literal["ec", "rsa"]


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA for tests: its private key and self-signed certificate."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def generate(cls, common_name: str) -> CertificateAuthority:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = dt.datetime.now(dt.UTC)
        cert = (
            _builder(name, name, key, now - dt.timedelta(days=1), now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    def issue_server_certificate(self) -> tuple[bytes, bytes]:
        """(certificate PEM, key PEM) for localhost, 127.0.0.1 and ::1."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        names = [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        cert = (
            _builder(subject, self.cert.subject, key, now - dt.timedelta(days=1), now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return cert.public_bytes(serialization.Encoding.PEM), key_pem

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _builder(
    subject: x509.Name, issuer: x509.Name, key: PrivateKey, not_before: dt.datetime, not_after: dt.datetime
) -> x509.CertificateBuilder:
    """A certificate for *key*'s public half, with a random serial number, ready for extensions."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


_test_ca: CertificateAuthority | None = None
_test_ca_lock = threading.Lock()


def shared_test_ca() -> CertificateAuthority:
    """The CA every test server of this process is signed by (unless told otherwise)."""
    global _test_ca
    with _test_ca_lock:
        if _test_ca is None:
            _test_ca = CertificateAuthority.generate("Postroom test CA")
        return _test_ca


def certificate_sha256(cert_pem: bytes) -> str:
    """Hex SHA-256 fingerprint of a PEM certificate (of its DER form), as pinned by clients."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def certificate_sha256_as_openssl_prints(cert: x509.Certificate) -> str:
    """The SHA-256 fingerprint as ``openssl x509 -noout -fingerprint -sha256`` prints it."""
    return "sha256 Fingerprint=" + ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


# --- keys and certificates that tests hand to the code under test -------------------------------


def _new_key(key: KeyType = "ec") -> PrivateKey:
    """A new ECDSA P-256 key, or a 2048-bit RSA key."""
    if key == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _encryption(password: str | None) -> serialization.KeySerializationEncryption:
    if password is None:
        return serialization.NoEncryption()
    return serialization.BestAvailableEncryption(password.encode())


@dataclass(frozen=True)
class KeyAndCertificate:
    """A private key and its certificate, in the forms a user would paste or upload them."""

    key: PrivateKey
    cert: x509.Certificate

    def cert_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def key_pem(
        self,
        password: str | None = None,
        fmt: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8,
    ) -> str:
        """The key as PEM text (PKCS#8 unless *fmt* says otherwise), encrypted when *password* is given."""
        return self.key.private_bytes(serialization.Encoding.PEM, fmt, _encryption(password)).decode()

    def pkcs12(self, password: str | None, *, with_key: bool = True) -> bytes:
        """A PKCS#12 (.pfx) file of the certificate and (unless *with_key* is false) the key."""
        key = self.key if with_key else None
        return pkcs12.serialize_key_and_certificates(b"postroom", key, self.cert, None, _encryption(password))


def issue_certificate(
    common_name: str,
    *,
    key: KeyType = "ec",
    issuer: KeyAndCertificate | None = None,
    ca: bool | None = None,
    organization: str | None = None,
    days: int = 365,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> KeyAndCertificate:
    """A new key and a certificate for it: self-signed, or signed by *issuer*.

    The subject is CN=*common_name* (then O=*organization* when given). It is valid from a day ago
    for *days* days unless *not_before* or *not_after* say otherwise. It carries a critical
    BasicConstraints extension saying whether it is a CA only when *ca* is given, and no other.
    """
    private_key = _new_key(key)
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    subject = x509.Name(attributes)
    now = dt.datetime.now(dt.UTC)
    builder = _builder(
        subject,
        issuer.cert.subject if issuer else subject,
        private_key,
        not_before or now - dt.timedelta(days=1),
        not_after or now + dt.timedelta(days=days),
    )
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    cert = builder.sign(issuer.key if issuer else private_key, hashes.SHA256())
    return KeyAndCertificate(private_key, cert)


def self_signed(common_name: str, *, key: KeyType = "ec", ca: bool | None = None, days: int = 365) -> tuple[str, str]:
    """(certificate PEM, unencrypted PKCS#8 key PEM) of a new self-signed certificate, as text."""
    issued = issue_certificate(common_name, key=key, ca=ca, days=days)
    return issued.cert_pem(), issued.key_pem()
