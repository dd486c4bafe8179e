"""Write Compound File Binary files ([MS-CFB] version 3, 512-byte sectors), the container of Outlook ``.msg``.

A compound file is a little FAT file system inside one file: *storages* (folders) hold *streams* (files)
and other storages. The caller describes the tree with :class:`Storage` and :class:`Stream`;
:func:`write_compound_file` lays it out and writes it in one forward pass. The file it writes::

    offset 0         header, 512 bytes (2.2), ending with the first 109 DIFAT entries
    sector 0 ...     FAT sectors (2.3): for every sector, the next sector of its chain
    then             DIFAT sectors (2.5): where the FAT sectors are, past the 109 in the header
    then             mini FAT sectors (2.4): the FAT of the mini stream, one entry per 64-byte mini sector
    then             directory sectors (2.6): 128-byte entries; stream ID 0 is the root storage
    then             the mini stream (2.6.2): every stream under 4,096 bytes, each in whole mini sectors
    then             every stream of 4,096 bytes or more, in directory order, each in whole sectors

Every structure and every stream is one contiguous run of sectors, so each FAT entry simply points to
the next sector, or ends the chain. The layout is computed from the sizes alone before the first byte
is written; the writer then never seeks, never joins the file into one ``bytes`` and writes each
stream's data as it was given (mini streams included), so a 50 MB attachment is not copied here.

Output is deterministic: stream IDs follow the tree (storages breadth first, each one's children in
[MS-CFB] name order), every time stamp is zero and unused fields are zero.

Names follow 2.6.1: 1 to 31 UTF-16 code units, none of ``/ \\ : !`` (nor NUL); siblings must differ
under CFB's case-insensitive comparison (2.6.4), and each storage's children form a red-black tree
in that order. Section numbers above and below are those of [MS-CFB].
"""

from __future__ import annotations

import functools
import io
import struct
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, islice, pairwise, repeat
from operator import itemgetter
from typing import BinaryIO

# 2.1 Compound file sector numbers and types.
_DIFSECT = 0xFFFFFFFC
_FATSECT = 0xFFFFFFFD
_ENDOFCHAIN = 0xFFFFFFFE
_FREESECT = 0xFFFFFFFF
# 2.6 stream IDs: NOSTREAM is the empty link of the directory's trees.
_NOSTREAM = 0xFFFFFFFF

_SECTOR_SIZE = 512  # version 3 (2.2: sector shift 9)
_MINI_SECTOR_SIZE = 64  # 2.2: mini sector shift 6
_MINI_STREAM_CUTOFF = 4096  # 2.2: streams smaller than this live in the mini stream
_ENTRIES_PER_TABLE_SECTOR = _SECTOR_SIZE // 4  # FAT and mini FAT sectors hold 128 sector numbers
_HEADER_DIFAT_ENTRIES = 109  # 2.2: the header holds the first 109 FAT sector locations
_DIFAT_ENTRIES_PER_SECTOR = _ENTRIES_PER_TABLE_SECTOR - 1  # 2.5: the last one links the next DIFAT sector
_DIRECTORY_ENTRY_SIZE = 128  # 2.6.1
_MAX_NAME_UNITS = 31  # 2.6.1: 32 UTF-16 code units including the terminating NUL
_FORBIDDEN_NAME_CHARACTERS = frozenset("/\\:!\0")  # 2.6.1 forbids the first four; NUL would end the name
# 2.8: a file with 512-byte sectors is limited to 2 GB, below the range lock sector at offset 0x7FFFFF00.
_MAX_FILE_SIZE = 0x7FFFFF00

# 2.6.1 object types and colours.
_STORAGE = 0x01
_STREAM = 0x02
_ROOT_STORAGE = 0x05
_RED = 0x00
_BLACK = 0x01

# 2.2 header: signature, CLSID, minor and major version, byte order, sector and mini sector shift, reserved,
# directory sector count, FAT sector count, first directory sector, transaction signature, mini stream cutoff,
# first mini FAT sector, mini FAT sector count, first DIFAT sector, DIFAT sector count, then 109 DIFAT entries.
_HEADER = struct.Struct(f"<8s16s5H6s9I{_HEADER_DIFAT_ENTRIES}I")
_SIGNATURE = bytes.fromhex("D0CF11E0A1B11AE1")
_MINOR_VERSION = 0x003E
_MAJOR_VERSION = 0x0003
_BYTE_ORDER = 0xFFFE
# 2.6.1 directory entry: name, name length, object type, colour, left, right and child IDs, CLSID,
# state bits, creation time, modified time, starting sector, stream size.
_DIRECTORY_ENTRY = struct.Struct("<64sHBBIII16sIQQIQ")
# 2.3, 2.4, 2.5: FAT, mini FAT and DIFAT sectors are arrays of 128 little-endian sector numbers.
_TABLE_SECTOR = struct.Struct(f"<{_ENTRIES_PER_TABLE_SECTOR}I")

_NO_CLSID = bytes(16)
_NO_DATA = memoryview(b"")
# 2.6.3: an unused entry is all zeros but for its three links, which are NOSTREAM.
_UNUSED_ENTRY = _DIRECTORY_ENTRY.pack(b"", 0, 0, 0, _NOSTREAM, _NOSTREAM, _NOSTREAM, _NO_CLSID, 0, 0, 0, 0, 0)


class CompoundFileError(ValueError):
    """The tree cannot be written as a compound file: a bad or duplicate name, a bad CLSID, or too much data.

    The MSG writer builds every name itself, so this is a bug in the caller, not something a user can fix;
    it is therefore a ``ValueError`` rather than part of the ``PostroomError`` tree.
    """


@dataclass(frozen=True, slots=True)
class Stream:
    """A named run of bytes: a compound file's 'file'. ``data`` must be contiguous (any buffer is fine)."""

    name: str
    data: bytes | bytearray | memoryview


@dataclass(frozen=True, slots=True)
class Storage:
    """A named container of streams and storages: a compound file's 'folder', tagged with an optional CLSID."""

    name: str
    children: Sequence[Stream | Storage] = ()
    clsid: bytes = _NO_CLSID


def write_compound_file(root: Storage, out: BinaryIO) -> None:
    """Write ``root`` and everything under it to ``out`` as a version 3 compound file.

    ``root.name`` is ignored: the root entry is always called "Root Entry" (2.6.2); ``root.clsid`` is kept.
    ``out`` is only written to, front to back, so it need not be seekable.
    Raises :class:`CompoundFileError` before writing anything if the tree breaks a rule.
    """
    entries = _directory_entries(root)
    layout = _allocate(entries)
    out.write(_header(layout))
    _write_table(out, _fat(layout, entries), layout.fat_sectors)
    _write_difat_sectors(out, layout)
    _write_table(out, _mini_fat(entries), layout.mini_fat_sectors)
    _write_directory(out, entries, layout.directory_sectors)
    _write_mini_stream(out, entries)
    _write_large_streams(out, entries)


def compound_file_bytes(root: Storage) -> bytes:
    """The compound file for ``root`` as one ``bytes`` object; prefer :func:`write_compound_file` for big trees."""
    buffer = io.BytesIO()
    write_compound_file(root, buffer)
    return buffer.getvalue()


# --- the directory: one entry per storage and stream (2.6) -------------------------------------------------


@dataclass(slots=True, eq=False)
class _Entry:
    """One directory entry while the file is planned; the links, colour and placement are filled in later."""

    name: bytes  # UTF-16LE, without the terminating NUL
    object_type: int
    clsid: bytes = _NO_CLSID
    data: memoryview = _NO_DATA  # streams only
    left: int = _NOSTREAM
    right: int = _NOSTREAM
    child: int = _NOSTREAM
    color: int = _BLACK
    start: int = 0  # 2.6.3: zero for storages
    size: int = 0

    @property
    def is_small_stream(self) -> bool:
        return self.object_type == _STREAM and 0 < self.size < _MINI_STREAM_CUTOFF

    @property
    def is_large_stream(self) -> bool:
        return self.object_type == _STREAM and self.size >= _MINI_STREAM_CUTOFF


def _directory_entries(root: Storage) -> list[_Entry]:
    """Flatten the tree into directory entries, stream ID = list index, the root first (2.6.2).

    Storages are visited breadth first; each one's children get consecutive IDs in name order and are
    linked into a red-black tree whose root becomes the storage's child ID (2.6.4).
    """
    entries = [_Entry(_encode_name("Root Entry", "/"), _ROOT_STORAGE, clsid=_checked_clsid(root, "/"))]
    pending: deque[tuple[Storage, _Entry, str]] = deque([(root, entries[0], "")])
    while pending:
        storage, parent, path = pending.popleft()
        ids: list[int] = []
        for child in _sorted_children(storage, path):
            child_path = f"{path}/{child.name}"
            entry = _entry_for(child, child_path)
            ids.append(len(entries))
            entries.append(entry)
            if isinstance(child, Storage):
                pending.append((child, entry, child_path))
        parent.child = _link_red_black(entries, ids)
    return entries


def _entry_for(node: Stream | Storage, path: str) -> _Entry:
    name = _encode_name(node.name, path)
    if isinstance(node, Storage):
        return _Entry(name, _STORAGE, clsid=_checked_clsid(node, path))
    data = memoryview(node.data).cast("B")
    return _Entry(name, _STREAM, data=data, start=_ENDOFCHAIN, size=data.nbytes)


def _encode_name(name: str, path: str) -> bytes:
    """The name as UTF-16LE after checking the rules of 2.6.1."""
    if not name:
        raise CompoundFileError(f"{path}: a stream or storage name cannot be empty")
    forbidden = sorted(_FORBIDDEN_NAME_CHARACTERS.intersection(name))
    if forbidden:
        raise CompoundFileError(f"{path}: name {name!r} contains {''.join(forbidden)!r}, which names cannot hold")
    try:
        encoded = name.encode("utf-16-le")
    except UnicodeEncodeError as exc:
        raise CompoundFileError(f"{path}: name {name!r} is not valid Unicode text") from exc
    if len(encoded) // 2 > _MAX_NAME_UNITS:
        raise CompoundFileError(
            f"{path}: name {name!r} is {len(encoded) // 2} UTF-16 code units long; the limit is {_MAX_NAME_UNITS}"
        )
    return encoded


def _checked_clsid(storage: Storage, path: str) -> bytes:
    if len(storage.clsid) != len(_NO_CLSID):
        raise CompoundFileError(f"{path}: a CLSID is 16 bytes, not {len(storage.clsid)}")
    return bytes(storage.clsid)


def _sorted_children(storage: Storage, path: str) -> list[Stream | Storage]:
    """The children in CFB name order (2.6.4), refusing two names that compare equal."""
    keyed = sorted(((_name_key(child.name), child) for child in storage.children), key=itemgetter(0))
    for (key, child), (next_key, next_child) in pairwise(keyed):
        if key == next_key:
            raise CompoundFileError(
                f"{path or '/'}: names {child.name!r} and {next_child.name!r} are the same to a compound file "
                "(names are compared case-insensitively)"
            )
    return [child for _, child in keyed]


@functools.lru_cache(maxsize=4096)  # .msg files repeat the same few hundred stream names
def _name_key(name: str) -> tuple[int, tuple[int, ...]]:
    """2.6.4: a shorter name sorts first; names of equal length compare by uppercased UTF-16 code unit."""
    if name.isascii():  # every [MS-OXMSG] stream name: ASCII uppercase is the same mapping
        return len(name), tuple(name.upper().encode("ascii"))
    encoded = name.encode("utf-16-le", "surrogatepass")
    units = struct.unpack(f"<{len(encoded) // 2}H", encoded)
    return len(units), tuple(_uppercase_unit(unit) for unit in units)


def _uppercase_unit(unit: int) -> int:
    """One code unit uppercased on its own (2.6.4); surrogates, and characters whose uppercase is not one
    BMP character (the simple mapping of, say, 'ß' is itself), stay as they are."""
    if 0xD800 <= unit <= 0xDFFF:
        return unit
    upper = chr(unit).upper()
    return ord(upper) if len(upper) == 1 and ord(upper) <= 0xFFFF else unit


def _link_red_black(entries: list[_Entry], ids: Sequence[int]) -> int:
    """Link ``ids`` (in name order) into a red-black tree (2.6.4) and return the ID of its root.

    Choosing the middle entry as the root of every subtree puts every empty link on the last two levels:
    the first ``full_levels`` levels are complete. Those are black and any nodes below them red; red nodes
    are then leaves, and every path from the root to an empty link passes ``full_levels`` black nodes.
    """
    full_levels = (len(ids) + 1).bit_length() - 1

    def link(low: int, high: int, depth: int) -> int:
        if low >= high:
            return _NOSTREAM
        middle = (low + high) // 2
        entry = entries[ids[middle]]
        entry.left = link(low, middle, depth + 1)
        entry.right = link(middle + 1, high, depth + 1)
        entry.color = _RED if depth >= full_levels else _BLACK
        return ids[middle]

    return link(0, len(ids), 0)


# --- the layout: how many sectors of each kind, and where every stream starts ------------------------------


@dataclass(frozen=True, slots=True)
class _Layout:
    """How many sectors each structure takes, in file order; each is one contiguous chain after the header."""

    fat_sectors: int
    difat_sectors: int
    mini_fat_sectors: int
    directory_sectors: int
    mini_stream_sectors: int

    @property
    def difat_start(self) -> int:
        return self.fat_sectors

    @property
    def mini_fat_start(self) -> int:
        return self.difat_start + self.difat_sectors

    @property
    def directory_start(self) -> int:
        return self.mini_fat_start + self.mini_fat_sectors

    @property
    def mini_stream_start(self) -> int:
        return self.directory_start + self.directory_sectors

    @property
    def large_streams_start(self) -> int:
        return self.mini_stream_start + self.mini_stream_sectors


def _allocate(entries: list[_Entry]) -> _Layout:
    """Size every structure, then give each stream its starting (mini) sector and the root the mini stream."""
    mini_sectors = sum(_ceil_div(entry.size, _MINI_SECTOR_SIZE) for entry in entries if entry.is_small_stream)
    large_sectors = sum(_ceil_div(entry.size, _SECTOR_SIZE) for entry in entries if entry.is_large_stream)
    mini_fat_sectors = _ceil_div(mini_sectors, _ENTRIES_PER_TABLE_SECTOR)
    directory_sectors = _ceil_div(len(entries) * _DIRECTORY_ENTRY_SIZE, _SECTOR_SIZE)
    mini_stream_sectors = _ceil_div(mini_sectors * _MINI_SECTOR_SIZE, _SECTOR_SIZE)
    content_sectors = mini_fat_sectors + directory_sectors + mini_stream_sectors + large_sectors
    fat_sectors, difat_sectors = _fat_and_difat_sectors(content_sectors)
    file_size = _SECTOR_SIZE * (1 + fat_sectors + difat_sectors + content_sectors)
    if file_size > _MAX_FILE_SIZE:
        raise CompoundFileError(f"the compound file would be {file_size} bytes; a version 3 file stays under 2 GiB")
    layout = _Layout(fat_sectors, difat_sectors, mini_fat_sectors, directory_sectors, mini_stream_sectors)
    _place_streams(entries, layout)
    return layout


def _fat_and_difat_sectors(content_sectors: int) -> tuple[int, int]:
    """The fewest FAT sectors that can describe the content, the DIFAT sectors and themselves (2.3, 2.5).

    Iterating from zero climbs to the least fixed point: every step still needs at least as many sectors.
    """
    fat_sectors = 0
    while True:
        difat_sectors = _ceil_div(max(0, fat_sectors - _HEADER_DIFAT_ENTRIES), _DIFAT_ENTRIES_PER_SECTOR)
        needed = _ceil_div(content_sectors + fat_sectors + difat_sectors, _ENTRIES_PER_TABLE_SECTOR)
        if needed <= fat_sectors:
            return fat_sectors, difat_sectors
        fat_sectors = needed


def _place_streams(entries: list[_Entry], layout: _Layout) -> None:
    """Give each stream its first sector in directory order (empty ones keep ENDOFCHAIN, 2.6.3)."""
    next_mini_sector = 0
    next_sector = layout.large_streams_start
    for entry in entries:
        if entry.is_small_stream:
            entry.start = next_mini_sector
            next_mini_sector += _ceil_div(entry.size, _MINI_SECTOR_SIZE)
        elif entry.is_large_stream:
            entry.start = next_sector
            next_sector += _ceil_div(entry.size, _SECTOR_SIZE)
    # 2.6.2: the root entry holds the mini stream; its size counts whole mini sectors.
    root = entries[0]
    root.start = layout.mini_stream_start if next_mini_sector else _ENDOFCHAIN
    root.size = next_mini_sector * _MINI_SECTOR_SIZE


# --- writing, in file order ------------------------------------------------------------------------------


def _header(layout: _Layout) -> bytes:
    """The 512-byte header (2.2); unused DIFAT entries are FREESECT."""
    fat_locations = range(min(layout.fat_sectors, _HEADER_DIFAT_ENTRIES))  # the FAT starts at sector 0
    difat = chain(fat_locations, repeat(_FREESECT, _HEADER_DIFAT_ENTRIES - len(fat_locations)))
    return _HEADER.pack(
        _SIGNATURE,
        _NO_CLSID,
        _MINOR_VERSION,
        _MAJOR_VERSION,
        _BYTE_ORDER,
        _SECTOR_SIZE.bit_length() - 1,
        _MINI_SECTOR_SIZE.bit_length() - 1,
        bytes(6),
        0,  # number of directory sectors: always zero in version 3
        layout.fat_sectors,
        layout.directory_start,
        0,  # transaction signature number
        _MINI_STREAM_CUTOFF,
        layout.mini_fat_start if layout.mini_fat_sectors else _ENDOFCHAIN,
        layout.mini_fat_sectors,
        layout.difat_start if layout.difat_sectors else _ENDOFCHAIN,
        layout.difat_sectors,
        *difat,
    )


def _write_table(out: BinaryIO, entries: Iterable[int], sectors: int) -> None:
    """Write a FAT or mini FAT as ``sectors`` whole sectors, the entries past ``entries`` FREESECT (2.3, 2.4)."""
    padded = chain(entries, repeat(_FREESECT))
    for _ in range(sectors):
        out.write(_TABLE_SECTOR.pack(*islice(padded, _ENTRIES_PER_TABLE_SECTOR)))


def _fat(layout: _Layout, entries: list[_Entry]) -> Iterator[int]:
    """The FAT (2.3) in sector order: FATSECT and DIFSECT for the tables themselves, then one chain per run."""
    yield from repeat(_FATSECT, layout.fat_sectors)
    yield from repeat(_DIFSECT, layout.difat_sectors)
    yield from _chain(layout.mini_fat_start, layout.mini_fat_sectors)
    yield from _chain(layout.directory_start, layout.directory_sectors)
    yield from _chain(layout.mini_stream_start, layout.mini_stream_sectors)
    for entry in entries:
        if entry.is_large_stream:
            yield from _chain(entry.start, _ceil_div(entry.size, _SECTOR_SIZE))


def _mini_fat(entries: list[_Entry]) -> Iterator[int]:
    """The mini FAT (2.4): one chain of mini sectors per small stream, in directory order."""
    for entry in entries:
        if entry.is_small_stream:
            yield from _chain(entry.start, _ceil_div(entry.size, _MINI_SECTOR_SIZE))


def _chain(start: int, length: int) -> Iterator[int]:
    """The table entries of a contiguous chain: each sector points to the next, the last ends the chain."""
    if length:
        yield from range(start + 1, start + length)
        yield _ENDOFCHAIN


def _write_difat_sectors(out: BinaryIO, layout: _Layout) -> None:
    """The FAT locations past the header's 109, 127 a sector, each sector ending with the next one's (2.5)."""
    locations = range(_HEADER_DIFAT_ENTRIES, layout.fat_sectors)
    for index in range(layout.difat_sectors):
        first = index * _DIFAT_ENTRIES_PER_SECTOR
        chunk = locations[first : first + _DIFAT_ENTRIES_PER_SECTOR]
        is_last = index == layout.difat_sectors - 1
        next_sector = _ENDOFCHAIN if is_last else layout.difat_start + index + 1
        unused = repeat(_FREESECT, _DIFAT_ENTRIES_PER_SECTOR - len(chunk))
        out.write(_TABLE_SECTOR.pack(*chunk, *unused, next_sector))


def _write_directory(out: BinaryIO, entries: list[_Entry], sectors: int) -> None:
    """Every entry, then unused ones up to a whole sector (2.6.3: blank but for NOSTREAM links)."""
    for entry in entries:
        out.write(_pack_entry(entry))
    unused = sectors * (_SECTOR_SIZE // _DIRECTORY_ENTRY_SIZE) - len(entries)
    out.write(_UNUSED_ENTRY * unused)


def _pack_entry(entry: _Entry) -> bytes:
    """One 128-byte directory entry (2.6.1); state bits and both time stamps are zero."""
    return _DIRECTORY_ENTRY.pack(
        entry.name,  # struct pads with NULs, which include the terminator
        len(entry.name) + 2,
        entry.object_type,
        entry.color,
        entry.left,
        entry.right,
        entry.child,
        entry.clsid,
        0,
        0,
        0,
        entry.start,
        entry.size,
    )


def _write_mini_stream(out: BinaryIO, entries: list[_Entry]) -> None:
    """The small streams, each padded to whole mini sectors, the whole padded to whole sectors (2.4)."""
    written = 0
    for entry in entries:
        if entry.is_small_stream:
            written += _write_padded(out, entry.data, _MINI_SECTOR_SIZE)
    out.write(bytes(-written % _SECTOR_SIZE))


def _write_large_streams(out: BinaryIO, entries: list[_Entry]) -> None:
    for entry in entries:
        if entry.is_large_stream:
            _write_padded(out, entry.data, _SECTOR_SIZE)


def _write_padded(out: BinaryIO, data: memoryview, unit: int) -> int:
    """Write ``data`` as given, then zeros up to a multiple of ``unit``; return the bytes written."""
    out.write(data)
    padding = -len(data) % unit
    out.write(bytes(padding))
    return len(data) + padding


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)
