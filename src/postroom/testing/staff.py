"""A staff for multiple-mailbox runs, shared by the cluster test and bench/cluster_bench.py: the
people a :class:`~postroom.testing.slapd.Slapd` lists (``user01@example.test`` …) get mailboxes
in a :class:`~postroom.testing.dovecot.Dovecot` (password ``pw-<user>``) with generated mail in
three folders, a Dovecot master user ``archiver`` reads them all, and a tenant gets the LDAP
directory service, a multiple-mailbox profile and a schedule "Nightly" for it."""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass

from postroom.db.models import Tenant
from postroom.runtime import Runtime
from postroom.services import directories, profiles, schedules
from postroom.services import secrets as secret_service
from postroom.testing.dovecot import Dovecot
from postroom.testing.dovecot_client import append_message
from postroom.testing.slapd import Slapd, user_address

FOLDERS = ("INBOX", "Projects", "Archive")
MASTER, MASTER_PASSWORD = "archiver", "archiver-secret"
SIZES = (2_000, 10_000, 30_000, 60_000, 150_000)


@dataclass(frozen=True)
class Loaded:
    messages: int
    bytes: int


def message(subject: str, body: str) -> bytes:
    head = f"From: staff@example.test\r\nTo: everyone@example.test\r\nSubject: {subject}\r\n"
    head += f"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{secrets.token_hex(8)}@staff.test>\r\n"
    return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body).encode()


def user_of(number: int) -> str:
    return user_address(number).split("@")[0]


def load_mailboxes(dovecot: Dovecot, people: int, per_mailbox: int, seed: int = 1) -> Loaded:
    """Give each person a mailbox with ``per_mailbox`` messages of 2 KB to 150 KB, and add the master user."""
    rng = random.Random(seed)
    count = size = 0
    for n in range(1, people + 1):
        user = user_of(n)
        dovecot.add_user(user, "pw-" + user)
        for folder in FOLDERS[1:]:
            dovecot.create_folder(user, "pw-" + user, folder)
        with dovecot.connect_imaplib(user, "pw-" + user) as imap:
            for m in range(per_mailbox):
                body = "".join(rng.choice("abcdefgh \r\n") for _ in range(64)) * (rng.choice(SIZES) // 64)
                raw = message(f"{user} message {m}", body)
                append_message(imap, FOLDERS[m % len(FOLDERS)], raw, (), None)
                count, size = count + 1, size + len(raw)
    dovecot.add_master_user(MASTER, MASTER_PASSWORD)
    return Loaded(count, size)


def staff_profile(
    runtime: Runtime, tenant: Tenant, ldap: Slapd, dovecot: Dovecot, *, synchronize_users: bool = False
) -> str:
    """The tenant's LDAP directory service "Staff" (people not marked disabled), a multiple-mailbox
    profile "Everyone" reading them as the master user, and its schedule "Nightly"; the profile's ID."""
    with runtime.transaction() as session:
        bind = secret_service.create_secret(
            session, runtime.secret_box, tenant.id, "LDAP bind", "basic",
            {"username": ldap.bind_dn, "password": ldap.bind_password},
        )  # fmt: skip
        master = secret_service.create_secret(
            session, runtime.secret_box, tenant.id, "Dovecot master", "basic",
            {"username": MASTER, "password": MASTER_PASSWORD},
        )  # fmt: skip
        directory = directories.create_directory(
            session,
            tenant.id,
            {
                "name": "Staff",
                "type": "ldap",
                "server_name": "127.0.0.1",
                "port": ldap.port,
                "security": "starttls",
                "tls_trusted_ca": ldap.ca_pem,
                "secret_id": bind.id,
                "base_dn": "dc=example,dc=test",
                "filter": "(&(objectClass=person)(mail=*)(!(employeeType=disabled)))",
            },
        )
        profile = profiles.create_profile(
            session,
            tenant.id,
            {
                "name": "Everyone",
                "type": "imap",
                "mode": "multiple",
                "directory_service_id": directory.id,
                "synchronize_users": synchronize_users,
                "server_name": dovecot.host,
                "port": dovecot.imaps_port,
                "protocol": "IMAP-SSL",
                "secret_id": master.id,
                "timeout": 60,
                "tls_trusted_ca": dovecot.ca_cert_path.read_text(),
            },
        )
        schedules.create_schedule(
            session,
            tenant.id,
            {"name": "Nightly", "profile_id": profile.id, "recurrence": {"kind": "daily", "at": "02:00"}},
        )
        return profile.id
