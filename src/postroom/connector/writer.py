"""One delivery, from claim to file: where it goes, what it is called, its bytes, and the outcome.

Split in the steps the agent runs on different threads:

* :func:`destinations` (once per config): each location's folder on this machine — the
  connector's own ``--root`` options first, then the path roots the server keeps for it, then the
  sync path itself if this system can open it as it is (POSIX paths on Linux and macOS; drive and
  UNC paths on Windows). No folder: every delivery there is skipped ``no_path``.
* :func:`prepare` (a fetch thread): the name from the location's template and the claim's facts,
  the bytes converted to ``.msg`` when the location asks for it. Both are deterministic, so a
  delivery written before a crash is found ``present`` the next time.
* :func:`write` (the one writer): :func:`~postroom.destinations.local.write_file_atomically`, and
  the outcome — a :class:`~postroom.errors.DestinationError` becomes ``skipped`` with its reason,
  anything else ``failed``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from postroom.connector.client import FetchedMessage
from postroom.connector.protocol import Config, Delivery, DeliveryResult, LocationConfig
from postroom.destinations.local import WriteOutcome, write_file_atomically
from postroom.domain.connector import Outcome, Reason, reason_for
from postroom.domain.location import FileFormat, PathKind, PathRoot, SyncPath, resolve
from postroom.errors import ContentMismatch, DestinationError, InvalidInput
from postroom.formats.naming import NamingTemplate, file_name, path_length

__all__ = [
    "DIRECT_KINDS",
    "Destination",
    "Prepared",
    "destinations",
    "failed",
    "locate",
    "prepare",
    "skipped",
    "write",
]

DIRECT_KINDS: frozenset[PathKind] = (
    frozenset({PathKind.DRIVE, PathKind.UNC}) if os.name == "nt" else frozenset({PathKind.POSIX})
)


@dataclass(frozen=True)
class Destination:
    """A location as this connector reaches it: its folder here, or why there is none."""

    location: LocationConfig
    folder: Path | None
    template: NamingTemplate | None
    problem: tuple[Outcome, Reason | None, str] | None = None


def locate(
    sync_path: SyncPath,
    local_roots: Sequence[PathRoot],
    server_roots: Sequence[PathRoot],
    direct: Collection[PathKind] = DIRECT_KINDS,
) -> Path | None:
    """The folder ``sync_path`` is on this machine, or None when no root maps it and it is not direct."""
    found = resolve(sync_path, local_roots, direct=()) or resolve(sync_path, server_roots, direct=direct)
    if found is None or found.kind not in direct:
        return None
    return Path(str(found))


def destinations(
    config: Config, local_roots: Sequence[PathRoot], direct: Collection[PathKind] = DIRECT_KINDS
) -> dict[str, Destination]:
    """Every location of ``config`` by ID, with its folder here."""
    found = {}
    for location in config.locations.values():
        found[location.id] = _destination(location, local_roots, config.path_roots, direct)
    return found


def _destination(
    location: LocationConfig,
    local_roots: Sequence[PathRoot],
    server_roots: Sequence[PathRoot],
    direct: Collection[PathKind],
) -> Destination:
    try:
        template = NamingTemplate.parse(location.naming_template)
        sync_path = SyncPath.parse(location.sync_path)
    except InvalidInput as exc:
        return Destination(location, None, None, (Outcome.FAILED, None, f"the location is not usable here: {exc}"))
    folder = locate(sync_path, local_roots, server_roots, direct)
    if folder is None:
        return Destination(
            location,
            None,
            template,
            (Outcome.SKIPPED, Reason.NO_PATH, f"no path root maps {location.sync_path} to a folder on this machine"),
        )
    return Destination(location, folder, template)


# ---------------------------------------------------------------- outcomes


def skipped(delivery: Delivery, reason: Reason, error: str) -> DeliveryResult:
    return DeliveryResult(delivery.id, delivery.attempt, Outcome.SKIPPED, reason=reason, error=error)


def failed(delivery: Delivery, error: str) -> DeliveryResult:
    return DeliveryResult(delivery.id, delivery.attempt, Outcome.FAILED, error=error)


def problem_result(delivery: Delivery, destination: Destination) -> DeliveryResult | None:
    """The result every delivery to a destination without a folder gets, or None when it has one."""
    if destination.problem is None:
        return None
    outcome, reason, error = destination.problem
    if outcome is Outcome.SKIPPED and reason is not None:
        return skipped(delivery, reason, error)
    return failed(delivery, error)


def destination_result(delivery: Delivery, error: DestinationError) -> DeliveryResult:
    if isinstance(error, ContentMismatch):
        return failed(delivery, str(error))
    return skipped(delivery, reason_for(error), str(error))


# ---------------------------------------------------------------- preparing and writing


@dataclass
class Prepared:
    """A delivery ready to be written: its folder, name and bytes (and their SHA-256)."""

    delivery: Delivery
    destination: Destination
    folder: Path
    name: str
    content: bytes | FetchedMessage
    sha256: str
    warnings: tuple[str, ...] = ()

    def close(self) -> None:
        if isinstance(self.content, FetchedMessage):
            self.content.close()


def prepare(delivery: Delivery, destination: Destination, message: FetchedMessage) -> Prepared | DeliveryResult:
    """Name ``message`` and convert it as ``destination`` asks; a skipped/failed result if that cannot be done.

    ``message`` is handed on (EML) or closed (after conversion to .msg, or on a problem).
    """
    assert destination.folder is not None and destination.template is not None
    location = destination.location
    extension = ".msg" if location.format is FileFormat.MSG else ".eml"
    try:
        name = file_name(
            destination.template, delivery.facts, extension, base_path_length=path_length(str(destination.folder))
        )
    except DestinationError as exc:
        message.close()
        return destination_result(delivery, exc)
    if location.format is FileFormat.EML:
        return Prepared(delivery, destination, destination.folder, name, message, message.sha256)
    try:
        from postroom.formats.msg.convert import msg_bytes  # loaded only when a location asks for .msg

        data, conversion = msg_bytes(message.read(), received=delivery.facts.received)
    except Exception as exc:  # a converter bug must cost one delivery, not the connector
        return failed(delivery, f"cannot convert the message to .msg: {type(exc).__name__}: {exc}")
    finally:
        message.close()
    sha256 = hashlib.sha256(data).hexdigest()
    return Prepared(delivery, destination, destination.folder, name, data, sha256, conversion.warnings)


def write(prepared: Prepared, unsynced: set[Path] | None = None) -> DeliveryResult:
    """Write ``prepared`` into its folder; the outcome to report. Closes its content.

    With ``unsynced`` the folders are fsynced by the caller (see ``write_file_atomically``)
    before the outcome may be reported."""
    delivery = prepared.delivery
    content = prepared.content
    try:
        result = write_file_atomically(
            prepared.folder,
            prepared.name,
            content if isinstance(content, bytes) else content.chunks(),
            mtime=delivery.mtime,
            content_sha256=prepared.sha256,
            unsynced=unsynced,
        )
    except DestinationError as exc:
        return destination_result(delivery, exc)
    except (OSError, ValueError) as exc:
        return failed(delivery, f"{type(exc).__name__}: {exc}")
    finally:
        prepared.close()
    outcome = Outcome.WRITTEN if result.outcome is WriteOutcome.WRITTEN else Outcome.PRESENT
    return DeliveryResult(
        delivery.id, delivery.attempt, outcome, path=str(result.path), size=result.size, sha256=result.sha256
    )
