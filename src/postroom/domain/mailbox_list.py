"""Lists of mailboxes: static lists from CSV, and cleaning what any directory lists.

:func:`parse_static_csv` reads a static directory's list (``address,display name`` per line, a
header optional) and reports every bad line; :func:`clean_listing` turns what a directory lists
into the mailboxes to synchronize: addresses normalised (the domain in lower case), duplicates
dropped (ignoring case), entries without a valid address reported, never raised. Pure: no I/O.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from postroom.domain.naming import clean_text, is_encodable, name_key
from postroom.domain.profile import parse_mailbox
from postroom.errors import FieldError, InvalidInput

__all__ = [
    "MAX_STATIC_ENTRIES",
    "DirectoryEntry",
    "Listing",
    "StaticEntry",
    "clean_listing",
    "entries_from_list",
    "normalise_address",
    "parse_static_csv",
]

MAX_STATIC_ENTRIES = 100_000


@dataclass(frozen=True)
class StaticEntry:
    """One mailbox of a static list."""

    address: str
    display_name: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"address": self.address, "display_name": self.display_name}


def normalise_address(value: object, field: str = "address") -> str:
    """An e-mail address, stripped, with its domain in lower case (the local part keeps its case).

    Raises :class:`InvalidInput` naming ``field`` with the same rule as a profile's mailbox.
    """
    if isinstance(value, str) and not is_encodable(value):
        raise InvalidInput(FieldError(field, "must be valid Unicode text: it contains a lone surrogate"))
    address = parse_mailbox(value, field)
    local, _at, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}"


_ADDRESS_HEADERS = frozenset({"address", "email", "e-mail", "mail", "email address", "e-mail address", "mailbox"})
_NAME_HEADERS = frozenset({"display_name", "display name", "displayname", "name", "full name"})


def _delimiter(line: str) -> str:
    for candidate in (",", ";", "\t"):
        if candidate in line:
            return candidate
    return ","


def parse_static_csv(text: str, field: str = "entries") -> tuple[StaticEntry, ...]:
    """A static list from CSV text: ``address[,display name]`` per line, a header line optional.

    Blank lines and lines starting with ``#`` are skipped; ``;`` or tab separate the columns when
    the first line has no comma. With a header (a first line with a column named address, email,
    e-mail, mail or mailbox, and maybe one named display name or name) the columns are found by
    name and the others are ignored. Every bad line is
    reported as ``line N: …``; an address listed twice (ignoring case) is an error too.
    """
    text = text.lstrip("\ufeff")  # Excel's byte order mark
    lines = text.splitlines()
    first = next((line for line in lines if line.strip() and not line.lstrip().startswith("#")), "")
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=_delimiter(first), skipinitialspace=True)
    rows = []
    errors: list[FieldError] = []
    try:
        for number, row in enumerate(reader, start=1):
            if not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
                continue
            rows.append((number, [cell.strip() for cell in row]))
    except csv.Error as exc:
        raise InvalidInput(FieldError(field, f"is not readable CSV: {exc}")) from None
    address_col, name_col = 0, 1
    has_header = bool(rows) and any(cell.casefold() in _ADDRESS_HEADERS for cell in rows[0][1])
    if has_header:
        header = [cell.casefold() for cell in rows[0][1]]
        address_col = next(i for i, cell in enumerate(header) if cell in _ADDRESS_HEADERS)
        name_col = next((i for i, cell in enumerate(header) if cell in _NAME_HEADERS), -1)
        rows = rows[1:]
    items: list[tuple[str, object, object]] = []
    for number, row in rows:
        if not has_header and len(row) > 2:
            errors.append(
                FieldError(field, f"line {number}: has {len(row)} columns; give address,display name (or a header)")
            )
            continue
        address = row[address_col] if address_col < len(row) else ""
        name = row[name_col] if 0 <= name_col < len(row) else None
        items.append((f"line {number}", address, name))
    return _checked_entries(items, field, errors)


def entries_from_list(values: Iterable[object], field: str = "entries") -> tuple[StaticEntry, ...]:
    items: list[tuple[str, object, object]] = []
    errors: list[FieldError] = []
    for number, item in enumerate(values, start=1):
        if isinstance(item, str):
            items.append((f"entry {number}", item, None))
        elif isinstance(item, Mapping) and set(item) <= {"address", "display_name"}:
            items.append((f"entry {number}", item.get("address"), item.get("display_name")))
        else:
            errors.append(FieldError(field, f"entry {number}: must be an address or {{address, display_name}}"))
    return _checked_entries(items, field, errors)


def _checked_entries(
    items: list[tuple[str, object, object]], field: str, errors: list[FieldError]
) -> tuple[StaticEntry, ...]:
    entries: list[StaticEntry] = []
    seen: dict[str, str] = {}
    if len(items) > MAX_STATIC_ENTRIES:
        raise InvalidInput(FieldError(field, f"has {len(items):,} entries; at most {MAX_STATIC_ENTRIES:,} are allowed"))
    for where, raw_address, raw_name in items:
        try:
            address = normalise_address(raw_address, field)
        except InvalidInput:
            shown = raw_address if isinstance(raw_address, str) else ""
            errors.append(
                FieldError(field, f"{where}: {shown!r} is not an e-mail address like user@example.com")
                if shown
                else FieldError(field, f"{where}: the address is missing")
            )
            continue
        display: str | None = None
        if raw_name is not None:
            try:
                display = clean_text(raw_name, field, 200) or None
            except InvalidInput as exc:
                errors.append(FieldError(field, f"{where}: display name {exc.errors[0].message}"))
                continue
        key = name_key(address)
        if key in seen:
            errors.append(FieldError(field, f"{where}: {address} is listed already ({seen[key]})"))
            continue
        seen[key] = where
        entries.append(StaticEntry(address, display))
    if errors:
        raise InvalidInput(sorted(errors, key=_line_order))
    return tuple(entries)


def _line_order(error: FieldError) -> int:
    number = re.search(r"(?:line|entry) (\d+):", error.message)
    return int(number.group(1)) if number else 0


# --- what a directory lists ------------------------------------------------------------------


@dataclass(frozen=True)
class DirectoryEntry:
    """A mailbox as a directory lists it: its address (as found: maybe empty or invalid), its
    display name, and the directory's own stable ID for it (LDAP: entryUUID, objectGUID or DN)."""

    address: str
    display_name: str | None
    external_id: str

    def to_dict(self) -> dict[str, str | None]:
        return {"address": self.address, "display_name": self.display_name, "external_id": self.external_id}


@dataclass
class Listing:
    """The mailboxes of a directory, cleaned: unique normalised addresses, and what was left out."""

    mailboxes: list[DirectoryEntry] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)  # one line per entry left out, saying why
    duplicates: int = 0
    read: int = 0  # entries the directory returned

    def to_dict(self) -> dict[str, Any]:
        return {
            "mailboxes": [m.to_dict() for m in self.mailboxes],
            "count": len(self.mailboxes),
            "read": self.read,
            "duplicates": self.duplicates,
            "invalid": list(self.invalid),
        }


def clean_listing(entries: Iterable[DirectoryEntry]) -> Listing:
    """Normalise each address, drop the second and later entries of one address (ignoring case)
    and report entries without a valid address; sorted by address."""
    listing = Listing()
    seen: set[str] = set()
    for entry in entries:
        listing.read += 1
        if not entry.address.strip():
            listing.invalid.append(f"{entry.external_id}: has no e-mail address")
            continue
        try:
            address = normalise_address(entry.address)
        except InvalidInput:
            listing.invalid.append(f"{entry.external_id}: {entry.address!r} is not a valid e-mail address")
            continue
        key = name_key(address)
        if key in seen:
            listing.duplicates += 1
            continue
        seen.add(key)
        listing.mailboxes.append(dataclasses.replace(entry, address=address))
    listing.mailboxes.sort(key=lambda m: name_key(m.address))
    return listing
