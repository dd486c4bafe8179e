"""A real OpenLDAP ``slapd`` for tests: its own config, database and TLS, on dynamic ports.

``Slapd`` writes a ``slapd.conf`` (mdb backend, Debian's schema files, nothing read from
``/etc/ldap/slapd.d``) into a fresh temporary directory, loads the organisation offline with
``slapadd``, starts ``slapd -d 0`` under :class:`subprocess.Popen` as the current user (no
``-u``/``-g``: as a normal user it cannot change user, and as root in CI it stays root, which is
fine for a throwaway server), and stops exactly that process::

    with Slapd(users=12, size_limit=5) as server:
        server.url                      # ldap://127.0.0.1:PORT (StartTLS offered)
        server.ldaps_url                # ldaps://127.0.0.1:PORT
        server.bind_dn, server.bind_password

The directory ``dc=example,dc=test`` holds:

* ``ou=People``: ``users`` people ``uid=user01`` … with ``cn``, ``displayName`` and
  ``mail=user01@example.test``; plus ``uid=nomail`` (no mail), ``uid=disabled`` (its mail is
  real, ``employeeType: disabled`` marks it, as a filter can exclude), ``uid=shouty`` whose mail
  ``USER01@Example.TEST`` duplicates user01's in another case, and ``uid=broken`` whose mail is
  not an address;
* ``ou=Services``: ``cn=postroom``, the account the tests bind as (``bind_dn``, ``bind_password``);
* an ``organizationalUnit`` and a group, which the default filter does not match.

``size_limit`` caps what one search (or one page) may return, as Active Directory's
MaxPageSize does, so a test can prove the paged search reads past it. Anonymous users may
read nothing; bound users read everything but passwords.

TLS: the server certificate (``localhost``, ``127.0.0.1``) is signed by the test process's
shared CA (``ca_pem``) unless ``untrusted_certificate`` signs it with a CA of its own.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from postroom.testing.certificates import CertificateAuthority, shared_test_ca

HOST = "127.0.0.1"
BASE_DN = "dc=example,dc=test"
START_TIMEOUT = 15.0
START_ATTEMPTS = 5
STOP_TIMEOUT = 10.0
_SEARCH_PATH = "/usr/sbin:/usr/local/sbin:/sbin:/usr/bin:/bin"
_MODULE_PATHS = ("/usr/lib/ldap", "/usr/lib/x86_64-linux-gnu/ldap", "/usr/lib/openldap", "/usr/libexec/openldap")
_SCHEMA_PATHS = ("/etc/ldap/schema", "/etc/openldap/schema")


class SlapdError(Exception):
    """slapd is missing, or it did not start."""


def slapd_binary() -> str | None:
    return shutil.which("slapd", path=_SEARCH_PATH)


def require_slapd() -> str:
    """The path of slapd; raise (never skip) when it is missing."""
    binary = slapd_binary()
    if binary is None:
        raise SlapdError(
            "OpenLDAP slapd is not installed; the LDAP tests need a real server. "
            "Run `make system-deps` (installs slapd from scripts/debian-packages.txt)."
        )
    return binary


def _first_dir(candidates: tuple[str, ...], must_contain: str) -> Path:
    for candidate in candidates:
        if (Path(candidate) / must_contain).exists():
            return Path(candidate)
    raise SlapdError(f"cannot find {must_contain} in any of {', '.join(candidates)}; is slapd installed?")


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((HOST, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def user_address(number: int) -> str:
    return f"user{number:02d}@example.test"


class Slapd:
    """One throwaway slapd; use as a context manager or call start()/stop()."""

    host = HOST
    base_dn = BASE_DN
    bind_dn = f"cn=postroom,ou=Services,{BASE_DN}"
    bind_password = "directory-Secret-1"  # a throwaway test server's account
    people_dn = f"ou=People,{BASE_DN}"

    def __init__(self, *, users: int = 5, size_limit: int | None = None, untrusted_certificate: bool = False) -> None:
        self.users = users
        self.size_limit = size_limit
        self.untrusted_certificate = untrusted_certificate
        self._directory: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._ports: tuple[int, int] | None = None

    # -- lifecycle --

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> Self:
        if self._process is not None:
            raise SlapdError("this slapd is already running")
        binary = require_slapd()
        directory = Path(tempfile.mkdtemp(prefix="postroom-slapd-"))
        self._directory = directory
        try:
            self._prepare(binary, directory)
            for attempt in range(1, START_ATTEMPTS + 1):
                failure = self._launch(binary, directory)
                if failure is None:
                    break
                if attempt == START_ATTEMPTS or "Address already in use" not in failure:
                    raise SlapdError(f"slapd did not start:\n{failure}")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop our slapd (its PID only: SIGTERM, then SIGKILL) and remove its directory."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        directory, self._directory = self._directory, None
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    # -- what tests connect to --

    @property
    def pid(self) -> int:
        if self._process is None:
            raise SlapdError("this slapd is not running")
        return self._process.pid

    @property
    def port(self) -> int:
        return self._started_ports()[0]

    @property
    def ldaps_port(self) -> int:
        return self._started_ports()[1]

    @property
    def url(self) -> str:
        return f"ldap://{HOST}:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://{HOST}:{self.ldaps_port}"

    @property
    def directory(self) -> Path:
        if self._directory is None:
            raise SlapdError("this slapd is not running")
        return self._directory

    @property
    def ca_pem(self) -> str:
        """The CA clients should trust (PEM). Not the issuer when ``untrusted_certificate``."""
        return shared_test_ca().pem().decode("ascii")

    @property
    def ca_cert_path(self) -> Path:
        return self.directory / "ca.pem"

    def user_addresses(self) -> list[str]:
        return [user_address(n) for n in range(1, self.users + 1)]

    def log(self) -> str:
        path = self._directory / "slapd.log" if self._directory else None
        return path.read_text(errors="replace") if path and path.exists() else ""

    def _started_ports(self) -> tuple[int, int]:
        if self._ports is None:
            raise SlapdError("this slapd is not running")
        return self._ports

    # -- setting up --

    def _prepare(self, binary: str, directory: Path) -> None:
        issuer = CertificateAuthority.generate("Postroom untrusted LDAP CA") if self.untrusted_certificate else None
        cert_pem, key_pem = (issuer or shared_test_ca()).issue_server_certificate()
        (directory / "server.pem").write_bytes(cert_pem)
        (directory / "server.key").write_bytes(key_pem)
        (directory / "server.key").chmod(0o600)
        (directory / "ca.pem").write_text(self.ca_pem)
        (directory / "data").mkdir()
        (directory / "slapd.conf").write_text(self._config(directory))
        (directory / "data.ldif").write_text(self._ldif())
        slapadd = Path(binary).with_name("slapadd")
        conf = directory / "slapd.conf"
        done = subprocess.run(
            [str(slapadd if slapadd.exists() else binary), "-q", "-f", str(conf), "-l", str(directory / "data.ldif")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise SlapdError(f"slapadd failed ({done.returncode}):\n{done.stderr}")

    def _config(self, directory: Path) -> str:
        modules = _first_dir(_MODULE_PATHS, "back_mdb.la")
        schema = _first_dir(_SCHEMA_PATHS, "core.schema")
        limit = f"size.soft={self.size_limit} size.hard={self.size_limit} size.prtotal=unlimited"
        return "\n".join(
            [
                *(f"include {schema / name}.schema" for name in ("core", "cosine", "inetorgperson", "nis")),
                f"pidfile {directory / 'slapd.pid'}",
                f"argsfile {directory / 'slapd.args'}",
                f"modulepath {modules}",
                "moduleload back_mdb",
                f"TLSCACertificateFile {directory / 'ca.pem'}",
                f"TLSCertificateFile {directory / 'server.pem'}",
                f"TLSCertificateKeyFile {directory / 'server.key'}",
                f"sizelimit {limit}" if self.size_limit else "sizelimit unlimited",
                "",
                "database mdb",
                f"suffix {BASE_DN}",
                f"rootdn cn=admin,{BASE_DN}",
                "rootpw admin-Secret-1",
                f"directory {directory / 'data'}",
                "maxsize 16777216",
                "access to attrs=userPassword by self write by anonymous auth by * none",
                "access to * by users read by * none",
                "",
            ]
        )

    def _ldif(self) -> str:
        records = [
            [f"dn: {BASE_DN}", "objectClass: dcObject", "objectClass: organization", "dc: example", "o: Example"],
            [f"dn: {self.people_dn}", "objectClass: organizationalUnit", "ou: People"],
            [f"dn: ou=Services,{BASE_DN}", "objectClass: organizationalUnit", "ou: Services"],
            [
                f"dn: {self.bind_dn}",
                "objectClass: organizationalRole",
                "objectClass: simpleSecurityObject",
                "cn: postroom",
                f"userPassword: {self.bind_password}",
            ],
            [f"dn: cn=staff,{BASE_DN}", "objectClass: groupOfNames", "cn: staff", f"member: {self.bind_dn}"],
        ]
        for n in range(1, self.users + 1):
            records.append(self._person(f"user{n:02d}", f"User {n:02d}", user_address(n)))
        records.append(self._person("nomail", "No Mail", None))
        records.append([*self._person("disabled", "Disabled User", "disabled@example.test"), "employeeType: disabled"])
        records.append(self._person("shouty", "Shouty Duplicate", "USER01@Example.TEST"))
        records.append(self._person("broken", "Broken Address", "not-an-address"))
        return "\n\n".join("\n".join(record) for record in records) + "\n"

    def _person(self, uid: str, name: str, mail: str | None) -> list[str]:
        record = [
            f"dn: uid={uid},{self.people_dn}",
            "objectClass: inetOrgPerson",
            f"uid: {uid}",
            f"cn: {name}",
            f"sn: {name.split()[-1]}",
            f"displayName: {name}",
            f"userPassword: {uid}-password",
        ]
        return [*record, f"mail: {mail}"] if mail else record

    def _launch(self, binary: str, directory: Path) -> str | None:
        """Start slapd on fresh ports; None once it answers, else why it did not start."""
        self._ports = tuple(_free_ports(2))  # type: ignore[assignment]
        port, ldaps_port = self._started_ports()
        urls = f"ldap://{HOST}:{port}/ ldaps://{HOST}:{ldaps_port}/"
        log_path = directory / "slapd.log"
        with log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [binary, "-d", "0", "-f", str(directory / "slapd.conf"), "-h", urls],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                return log_path.read_text(errors="replace") or "slapd exited without a word"
            if _answers(port) and _answers(ldaps_port):
                return None
            time.sleep(0.02)
        self.stop_process_only()
        return f"slapd did not answer within {START_TIMEOUT:g} s:\n{log_path.read_text(errors='replace')}"

    def stop_process_only(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait()


def _answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.25):
            return True
    except OSError:
        return False
