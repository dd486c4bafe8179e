"""The connector end to end, with real processes: Dovecot → profile sync → filing rules →
``postroom serve`` → ``postroom connector run`` (as ``nobody``) → files in location folders.

The test process shares the database and blob store with the ``serve`` process it starts, so it
arranges mail, locations and rules through the services and reads back what the server recorded.
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import extract_msg
import pytest
from sqlalchemy import select

from postroom.config import Settings
from postroom.db.models import Filing
from postroom.runtime import Runtime
from postroom.services import filing_rules, filings, locations
from postroom.testing.archive import archive_messages
from postroom.testing.processes import ConnectorProcess, ServeProcess, give_to_nobody, wait_for
from tests.cli.conftest import Cli, cli_env
from tests.sync.conftest import Mailbox, make_message

pytestmark = pytest.mark.usefixtures("runtime")

LEASE_SECONDS = 5
RETRY_SECONDS = 1


@dataclass
class Site:
    """A running server, a CLI on the same database, and location folders owned by ``nobody``."""

    runtime: Runtime
    tenant_id: str
    serve: ServeProcess
    cli: Cli
    root: Path

    def folder(self, name: str) -> Path:
        path = self.root / "shares" / name
        path.mkdir(parents=True, exist_ok=True)
        give_to_nobody(path)
        return path

    def location(self, name: str, fmt: str, folder: Path) -> None:
        with self.runtime.transaction() as session:
            locations.create_location(session, self.tenant_id, {"name": name, "sync_path": str(folder), "format": fmt})

    def license(self, name: str) -> Path:
        path = self.root / f"{name}.lic"
        self.cli("connector", "license", "create", "--name", name, "--server-url", self.serve.url, "-o", str(path))
        give_to_nobody(path)
        return path

    def connector(self, license: Path, *extra: str, name: str = "connector") -> ConnectorProcess:
        state = self.root / f"state-{name}"
        state.mkdir(exist_ok=True)
        give_to_nobody(state)
        args = ["run", "--license", str(license), "--state-dir", str(state), "--interval", "0.5", *extra]
        return ConnectorProcess(self.cli.env, self.root / f"{name}.log", args, cwd=self.root)

    def statuses(self) -> dict[str, int]:
        with self.runtime.sessions() as session:
            rows = session.scalars(select(Filing.status).where(Filing.tenant_id == self.tenant_id)).all()
        counts: dict[str, int] = {}
        for status in rows:
            counts[status] = counts.get(status, 0) + 1
        return counts

    def filings(self) -> list[Filing]:
        with self.runtime.sessions() as session:
            return list(session.scalars(select(Filing).where(Filing.tenant_id == self.tenant_id)))

    def all_written(self, count: int) -> Callable[[], bool]:
        return lambda: self.statuses().get("written", 0) + self.statuses().get("present", 0) == count


@pytest.fixture
def site(runtime: Runtime, settings: Settings, database_url: str, tenant: object) -> Iterator[Site]:
    env = cli_env(
        settings.data_dir,
        database_url,
        POSTROOM_SECRET_KEY=str(settings.secret_key),
        POSTROOM_TENANT="acme",
        POSTROOM_CONNECTOR_LEASE_SECONDS=str(LEASE_SECONDS),
        POSTROOM_CONNECTOR_RETRY_SECONDS=str(RETRY_SECONDS),
    )
    # Not below tmp_path: pytest's base folder is private to root, and nobody must reach the
    # shares, licenses and state folders.
    root = Path(tempfile.mkdtemp(prefix="postroom-e2e-"))
    root.chmod(0o755)
    serve = ServeProcess(env, root / "serve.log").start()
    try:
        yield Site(runtime, tenant.id, serve, Cli(env, settings.data_dir), root)  # type: ignore[attr-defined]
    finally:
        serve.stop()
        for path in root.rglob("*"):  # folders a test made read-only
            if path.is_dir():
                path.chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)


def files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def temp_files(folder: Path) -> list[Path]:
    return list(folder.rglob(".postroom-*.tmp"))


def test_synced_mail_is_filed_as_eml_and_msg_and_a_fixed_folder_catches_up(site: Site, mailbox: Mailbox) -> None:
    eml_folder, msg_folder = site.folder("Surrey Court"), site.folder("Office")
    site.location("Surrey Court", "eml", eml_folder)
    site.location("Office", "msg", msg_folder)
    with site.runtime.transaction() as session:
        filing_rules.create_rule(
            session,
            site.tenant_id,
            {"name": "Projects", "location": "Surrey Court", "conditions": {"folder": "Projects/*"}},
        )
        filing_rules.create_rule(
            session,
            site.tenant_id,
            {"name": "Codes", "location": "Office", "conditions": {"project_code": r"\b(P-\d+)\b"}},
        )
    mailbox.create("Projects/Surrey Court")
    first = make_message("Drawings for P-1234")
    mailbox.append("Projects/Surrey Court", first)
    mailbox.append("INBOX", make_message("Nothing to file"))
    mailbox.sync()
    assert site.statuses() == {"pending": 2}  # one message, two locations

    connector = site.connector(site.license("fileserver")).start()
    with connector:
        wait_for(site.all_written(2), "both filings written", detail=connector.log, timeout=20)
        [eml] = files_in(eml_folder)
        assert eml.name.endswith(" Drawings for P-1234.eml") and eml.name.startswith("20261122T101530Z")
        assert eml.read_bytes() == mailbox.source()["Projects/Surrey Court"][0]
        [msg] = files_in(msg_folder)
        with extract_msg.openMsg(str(msg)) as opened:
            assert opened.subject == "Drawings for P-1234"
        written = {f.written_path: f for f in site.filings()}
        assert str(eml) in written and written[str(eml)].sha256 == hashlib.sha256(eml.read_bytes()).hexdigest()

        # A folder the connector may not write to: skipped with the reason, then written once fixed.
        msg_folder.chmod(0o555)
        mailbox.append("Projects/Surrey Court", make_message("Revised drawings P-1235"))
        mailbox.sync()
        wait_for(lambda: site.statuses().get("skipped") == 1, "the Office filing skipped", detail=connector.log)
        [skipped] = [f for f in site.filings() if f.status == "skipped"]
        assert skipped.reason is not None and skipped.reason.startswith("permission_denied")
        shown = site.cli("connector", "show", "fileserver", "--json").json()
        assert "permission_denied" in str(shown)
        msg_folder.chmod(0o755)
        wait_for(site.all_written(4), "the skipped filing written after the fix", detail=connector.log)
        assert len(files_in(msg_folder)) == 2 and len(files_in(eml_folder)) == 2
        assert connector.running
    assert connector.process is not None and connector.process.returncode == 0  # SIGTERM: a clean stop
    assert "skipped" in connector.log() and "permission" in connector.log()


def test_a_second_connector_of_the_tenant_is_refused_and_takes_over_when_the_first_stops(site: Site) -> None:
    folder = site.folder("Archive")
    site.location("Archive", "eml", folder)
    first = site.connector(site.license("fs-one"), name="one").start()
    with first:
        wait_for(lambda: "lease" in first.log().lower(), "the first connector's lease", detail=first.log, timeout=30)
        second = site.connector(site.license("fs-two"), "--once", name="two").start()
        code = second.wait(timeout=60)
        assert code == 4, second.log()
        assert "fs-one" in second.log()  # the refusal names the active connector
        first.stop()
    ids = archive_messages(site.runtime, site.tenant_id, "After the hand-over")
    with site.runtime.transaction() as session:
        filings.file_messages(session, site.tenant_id, "Archive", ids, source="cli", filed_by="test")
    # The first released its lease on a clean stop, so the second need not wait for it to expire.
    second = site.connector(site.license("fs-three"), "--once", name="three").start()
    assert second.wait(timeout=60) == 0, second.log()
    assert len(files_in(folder)) == 1


def test_sigkill_mid_batch_then_restart_files_every_message_exactly_once(site: Site) -> None:
    folder = site.folder("Bulk")
    site.location("Bulk", "msg", folder)
    ids = archive_messages(site.runtime, site.tenant_id, *(f"Bulk message {n}" for n in range(600)))
    with site.runtime.transaction() as session:
        filings.file_messages(session, site.tenant_id, "Bulk", ids, source="cli", filed_by="test")
    license = site.license("bulk")
    connector = site.connector(license, name="bulk").start()
    wait_for(lambda: len(files_in(folder)) >= 40, "the first files", detail=connector.log, every=0.005)
    connector.kill()
    assert site.statuses().get("pending", 0) > 0, "the connector finished before it was killed"

    again = site.connector(license, name="bulk").start()  # the same installation: takes over at once
    with again:
        wait_for(site.all_written(600), "every filing delivered", detail=again.log)
    names = [p.name for p in files_in(folder)]
    assert len(names) == 600 and len(set(names)) == 600
    assert not temp_files(folder)
    assert not any("[" in name for name in names)  # no collision-suffixed second copies


def test_the_connector_rides_out_a_server_restart(site: Site) -> None:
    folder = site.folder("Letters")
    site.location("Letters", "eml", folder)
    connector = site.connector(site.license("patient")).start()
    with connector:
        wait_for(lambda: "lease" in connector.log().lower(), "the lease", detail=connector.log, timeout=30)
        site.serve.stop()
        ids = archive_messages(site.runtime, site.tenant_id, "While the server was down", "And another")
        with site.runtime.transaction() as session:
            filings.file_messages(session, site.tenant_id, "Letters", ids, source="cli", filed_by="test")
        time.sleep(2)  # the connector meets a closed port a few times
        assert connector.running, connector.log()
        site.serve.start()
        wait_for(site.all_written(2), "the catch-up after the restart", detail=connector.log)
        assert "unreachable" in connector.log().lower()
    assert len(files_in(folder)) == 2


def test_a_revoked_license_stops_the_connector(site: Site) -> None:
    site.location("Letters", "eml", site.folder("Letters"))
    connector = site.connector(site.license("retired")).start()
    with connector:
        wait_for(lambda: "lease" in connector.log().lower(), "the lease", detail=connector.log, timeout=30)
        site.cli("connector", "revoke", "retired")
        assert connector.wait(timeout=60) == 3, connector.log()
    assert "revoked" in connector.log()


def test_a_connector_stops_cleanly_on_sigterm(site: Site) -> None:
    site.location("Letters", "eml", site.folder("Letters"))
    connector = site.connector(site.license("polite")).start()
    wait_for(lambda: "lease" in connector.log().lower(), "the lease", detail=connector.log, timeout=30)
    connector.signal(signal.SIGTERM)
    assert connector.wait(timeout=30) == 0, connector.log()
