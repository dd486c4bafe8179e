"""Fixtures for syncing a real Dovecot mailbox into the archive."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from imapclient import imap_utf7
from sqlalchemy import func, select

from postroom.db.archive import ArchiveFolder, ArchiveMailbox, FolderEntry, Message
from postroom.db.models import Tenant
from postroom.runtime import Runtime
from postroom.services import processes, profiles
from postroom.services import secrets as secret_service
from postroom.services.sync import RunResult, run_profile
from postroom.testing.dovecot import Dovecot


def make_message(subject: str, body: str = "Hello.", *, message_id: str | None = None, extra: bytes = b"") -> bytes:
    message_id = message_id or f"<{secrets.token_hex(8)}@test.example>"
    return (
        b"From: Anna Example <anna@example.com>\r\n"
        b"To: Bob <bob@example.com>\r\n"
        + f"Subject: {subject}\r\n".encode()
        + b"Date: Sun, 22 Nov 2026 10:15:30 +0000\r\n"
        + f"Message-ID: {message_id}\r\n".encode()
        + extra
        + b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + body.encode()
        + b"\r\n"
    )


@dataclass
class Mailbox:
    """A Dovecot user, the profile that syncs it, and ways to look at both sides."""

    runtime: Runtime
    tenant: Tenant
    server: Dovecot
    user: str
    password: str
    profile_id: str

    @property
    def address(self) -> str:
        return f"{self.user}@example.test"

    def append(self, folder: str, message: bytes, flags: tuple[str, ...] = (), date: datetime | None = None) -> int:
        uid = self.server.append(
            self.user, self.password, folder, message, flags, date or datetime(2026, 11, 1, tzinfo=UTC)
        )
        assert uid is not None
        return uid

    def create(self, folder: str) -> None:
        self.server.create_folder(self.user, self.password, folder)

    def imap(self) -> object:
        return self.server.connect_imaplib(self.user, self.password)

    def sync(self, **kw: object) -> RunResult:
        return run_profile(self.runtime, self.tenant.id, self.profile_id, **kw)  # type: ignore[arg-type]

    def edit(self, **changes: object) -> None:
        with self.runtime.transaction() as session:
            profiles.update_profile(session, self.tenant.id, self.profile_id, changes)

    def archive(self) -> dict[str, list[bytes]]:
        """Folder path → the archived bytes of each message listed there (not vanished), sorted."""
        out: dict[str, list[bytes]] = {}
        with self.runtime.sessions() as session:
            rows = session.execute(
                select(ArchiveFolder.path, Message.sha256)
                .join(ArchiveMailbox, ArchiveMailbox.id == ArchiveFolder.mailbox_id)
                .join(FolderEntry, FolderEntry.folder_id == ArchiveFolder.id)
                .join(Message, Message.id == FolderEntry.message_id)
                .where(ArchiveMailbox.tenant_id == self.tenant.id, FolderEntry.vanished_at.is_(None))
            ).all()
        for path, sha in rows:
            out.setdefault(path, []).append(self.runtime.blobs.get(self.tenant.id, sha))
        return {k: sorted(v) for k, v in out.items()}

    def log_texts(self, request_id: str) -> list[str]:
        """Every message of the run's process and its sub-processes, in order."""
        with self.runtime.sessions() as session:
            process = processes.get_process(session, self.tenant.id, request_id)
            details = processes.process_to_dict(session, process, details=True)
        texts = [m["text"] for m in details["messages"]]
        for child in details["subprocesses"]:
            texts += [m["text"] for m in child["messages"]]
        return texts

    def stored_messages(self) -> int:
        with self.runtime.sessions() as session:
            return session.scalar(select(func.count(Message.id)).where(Message.tenant_id == self.tenant.id)) or 0

    def source(self) -> dict[str, list[bytes]]:
        """Folder → the bytes the server serves for each message, sorted (what the archive must hold)."""
        out: dict[str, list[bytes]] = {}
        with self.server.connect_imaplib(self.user, self.password) as imap:
            _typ, listing = imap.list()
            for line in listing:
                assert isinstance(line, bytes)
                raw_name = line.rsplit(b' "/" ', 1)[1].strip().strip(b'"')
                status, _ = imap.select(b'"' + raw_name + b'"', readonly=True)
                if status != "OK":  # \Noselect parents
                    continue
                name = imap_utf7.decode(raw_name)
                _typ, data = imap.uid("SEARCH", "ALL")
                uids = data[0].split()
                messages = []
                for uid in uids:
                    _typ, fetched = imap.uid("FETCH", uid, "(BODY.PEEK[])")
                    messages.append(fetched[0][1])
                out[name] = sorted(messages)
        return out


@pytest.fixture
def mailbox_factory(runtime: Runtime, tenant: Tenant) -> Callable[..., Mailbox]:
    def make(server: Dovecot, *, security: str = "IMAP-SSL", **profile: object) -> Mailbox:
        user, password = f"user-{secrets.token_hex(4)}", secrets.token_urlsafe(12)
        server.add_user(user, password)
        with runtime.transaction() as session:
            secret = secret_service.create_secret(
                session,
                runtime.secret_box,
                tenant.id,
                f"login {user}",
                "basic",
                {"username": user, "password": password},
            )
            created = profiles.create_profile(
                session,
                tenant.id,
                {
                    "name": f"sync {user}",
                    "type": "imap",
                    "mode": "single",
                    "server_name": server.host,
                    "port": server.imaps_port if security == "IMAP-SSL" else server.imap_port,
                    "protocol": security,
                    "secret_id": secret.id,
                    "mailbox": f"{user}@example.test",
                    "timeout": 10,
                    "tls_trusted_ca": server.ca_cert_path.read_text(),
                    **profile,
                },
            )
        return Mailbox(runtime, tenant, server, user, password, created.id)

    return make


@pytest.fixture
def mailbox(mailbox_factory: Callable[..., Mailbox], dovecot: Dovecot) -> Mailbox:
    return mailbox_factory(dovecot)
