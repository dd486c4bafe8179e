"""``postroom connector doctor``: why files are not syncing, one check per line, each with what to fix.

In order: the license file, reaching the server (``hello``), the lease (free, this installation's,
or another connector's — only looked at, never taken), and every location's folder (mapped by the
path roots, present, a folder, writable, with space). Nothing is written but the write check's
probe file, which is removed at once.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from postroom.connector.client import ConnectorClient
from postroom.connector.state import read_instance_id
from postroom.connector.writer import DIRECT_KINDS, locate
from postroom.destinations.local import check_writable
from postroom.domain.connector import License, Reason, parse_license, reason_for
from postroom.domain.location import PathKind, PathRoot, SyncPath
from postroom.errors import (
    DestinationError,
    InvalidInput,
    LicenseError,
    LicenseRevoked,
    NotAuthenticated,
    PostroomError,
)

__all__ = ["Check", "diagnose"]

LOW_SPACE = 1 << 30


@dataclass(frozen=True)
class Check:
    ok: bool
    what: str
    fix: str = ""
    warning: bool = False

    def line(self) -> str:
        mark = "!" if self.warning else ("✓" if self.ok else "✗")
        return f"{mark} {self.what}" + (f" — {self.fix}" if self.fix else "")


def diagnose(
    license_path: Path,
    *,
    roots: Sequence[PathRoot] = (),
    state_dir: Path | None = None,
    transport: httpx.BaseTransport | None = None,
    direct: frozenset[PathKind] = DIRECT_KINDS,
    say: Callable[[Check], None] = lambda check: None,
) -> list[Check]:
    """Run every check that can run, passing each to ``say`` as it is made; all the checks."""
    checks: list[Check] = []

    def add(check: Check) -> None:
        checks.append(check)
        say(check)

    license = _license(license_path, add)
    if license is None:
        return checks
    with ConnectorClient(license, transport=transport, timeout=20.0) as client:
        try:
            hello = client.hello()
        except LicenseRevoked as exc:
            add(Check(False, f"server {license.server_url}: {exc}", "create a new license for this connector"))
            return checks
        except NotAuthenticated as exc:
            add(Check(False, f"server {license.server_url}: {exc}", "download the license again from the server"))
            return checks
        except PostroomError as exc:
            add(
                Check(
                    False,
                    f"server {license.server_url}: {exc}",
                    "fix the network path or server_url, then run doctor again",
                )
            )
            return checks
        add(
            Check(
                True,
                f"server {license.server_url} answers (version {hello.server_version}); "
                f"connector {hello.connector_name!r} of tenant {hello.tenant!r}",
            )
        )
        if state_dir is None:
            from postroom.connector.state import default_state_dir

            state_dir = default_state_dir(license.connector_id)
        mine = read_instance_id(state_dir)
        holder = hello.lease
        if holder is None:
            add(Check(True, "the lease is free: a connector started now takes it"))
        elif holder.connector_id == license.connector_id and (
            holder.instance_id == mine if holder.instance_id else holder.host in (None, socket.gethostname())
        ):
            add(Check(True, f"the lease is held by this installation ({holder.describe()})"))
        else:
            add(
                Check(
                    False,
                    f"the lease is held by {holder.describe()}",
                    "stop that connector (only one runs per tenant), or wait for its lease to expire",
                )
            )
        try:
            config = client.config()
        except PostroomError as exc:
            add(Check(False, f"cannot read the locations: {exc}", "run doctor again; see the server's log"))
            return checks
    for problem in config.problems:
        add(
            Check(
                False, f"a path root the server keeps is unusable: {problem}", "correct it on the server", warning=True
            )
        )
    if not config.locations:
        add(Check(True, "the tenant has no locations yet: nothing to write"))
    for location in config.locations.values():
        add(_location(location.name, location.sync_path, roots, config.path_roots, direct))
    return checks


def _license(path: Path, add: Callable[[Check], None]) -> License | None:
    try:
        license = parse_license(path.read_bytes(), source=str(path))
    except OSError as exc:
        add(
            Check(
                False,
                f"cannot read the license file {path}: {exc.strerror or exc}",
                "give the path of Sync-license.lic",
            )
        )
        return None
    except LicenseError as exc:
        add(Check(False, str(exc)))
        return None
    add(
        Check(True, f"license {path}: connector {license.name!r} ({license.connector_id}) of tenant {license.tenant!r}")
    )
    return license


def _location(
    name: str, sync_path: str, roots: Sequence[PathRoot], server_roots: Sequence[PathRoot], direct: frozenset[PathKind]
) -> Check:
    label = f"location {name!r} ({sync_path})"
    try:
        folder = locate(SyncPath.parse(sync_path), roots, server_roots, direct)
    except InvalidInput as exc:
        return Check(False, f"{label}: {exc}", "correct the location's sync path on the server")
    if folder is None:
        return Check(
            False, f"{label}: no path root maps it to a folder here", Reason.NO_PATH.advice + " (--root SERVER=LOCAL)"
        )
    try:
        check_writable(folder)
    except DestinationError as exc:
        return Check(False, f"{label} → {folder}: {exc}", reason_for(exc).advice)
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return Check(True, f"{label} → {folder}: writable")
    if free < LOW_SPACE:
        return Check(
            True, f"{label} → {folder}: writable, but only {free >> 20} MiB free", Reason.DISK_FULL.advice, True
        )
    return Check(True, f"{label} → {folder}: writable, {free >> 30} GiB free")
