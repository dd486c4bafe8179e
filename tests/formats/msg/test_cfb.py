"""The compound file writer, checked three ways: by olefile and olecfinfo (independent readers), and by a
small reader here that walks the raw structures of [MS-CFB] so the rules no reader enforces (red-black
trees, name order, blank unused entries, where each stream lives) are checked too."""

from __future__ import annotations

import functools
import hashlib
import io
import mmap
import random
import shutil
import struct
import subprocess
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import olefile  # type: ignore[import-untyped]
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postroom.formats.msg.cfb import CompoundFileError, Storage, Stream, compound_file_bytes, write_compound_file

DIFSECT, FATSECT, ENDOFCHAIN, FREESECT = 0xFFFFFFFC, 0xFFFFFFFD, 0xFFFFFFFE, 0xFFFFFFFF
NOSTREAM = 0xFFFFFFFF
STORAGE, STREAM, ROOT = 1, 2, 5
RED, BLACK = 0, 1
CUTOFF = 4096

# --- a reader of the raw structures ([MS-CFB] 2.2 to 2.6) ---------------------------------------------

HEADER = struct.Struct("<8s16s5H6s9I109I")
HEADER_FIELDS = [
    *("signature", "clsid", "minor", "major", "byte_order", "sector_shift", "mini_shift", "reserved"),
    *("dir_sectors", "fat_sectors", "first_dir", "transaction", "cutoff"),
    *("first_mini_fat", "mini_fat_sectors", "first_difat", "difat_sectors"),
]
DIRECTORY_ENTRY = struct.Struct("<64sHBBIII16sIQQIQ")


@dataclass
class Entry:
    sid: int
    raw: bytes
    name_bytes: bytes
    name_length: int
    type: int
    color: int
    left: int
    right: int
    child: int
    clsid: bytes
    state: int
    created: int
    modified: int
    start: int
    size: int

    @property
    def name(self) -> str:
        return self.name_bytes[: max(self.name_length - 2, 0)].decode("utf-16-le", "surrogatepass")


@dataclass
class Parsed:
    blob: bytes
    header: dict[str, Any]
    difat: list[int]
    fat: list[int]
    mini_fat: list[int]
    entries: list[Entry]

    def sector(self, number: int) -> bytes:
        return self.blob[512 * (number + 1) : 512 * (number + 2)]

    def chain(self, start: int, table: list[int]) -> list[int]:
        sectors: list[int] = []
        seen: set[int] = set()
        while start != ENDOFCHAIN:
            assert start < len(table) and start not in seen, f"broken chain at {start}"
            sectors.append(start)
            seen.add(start)
            start = table[start]
        return sectors

    @functools.cached_property
    def mini_stream(self) -> bytes:
        return b"".join(self.sector(s) for s in self.chain(self.entries[0].start, self.fat))

    def read(self, entry: Entry) -> bytes:
        if entry.size == 0:
            assert entry.start == ENDOFCHAIN
            return b""
        if entry.size >= CUTOFF:
            sectors = self.chain(entry.start, self.fat)
            assert len(sectors) == -(-entry.size // 512)
            return b"".join(self.sector(s) for s in sectors)[: entry.size]
        mini_sectors = self.chain(entry.start, self.mini_fat)
        assert len(mini_sectors) == -(-entry.size // 64)
        return b"".join(self.mini_stream[64 * s : 64 * (s + 1)] for s in mini_sectors)[: entry.size]


def parse(blob: bytes) -> Parsed:
    values = HEADER.unpack(blob[:512])
    header = dict(zip(HEADER_FIELDS, values, strict=False))
    difat = list(values[len(HEADER_FIELDS) :])
    parsed = Parsed(blob, header, difat, [], [], [])
    next_difat = header["first_difat"]
    for _ in range(int(header["difat_sectors"])):
        numbers = struct.unpack("<128I", parsed.sector(int(next_difat)))
        difat += numbers[:127]
        next_difat = numbers[127]
    assert next_difat == ENDOFCHAIN
    fat_sectors = [n for n in difat if n != FREESECT]
    assert difat == fat_sectors + [FREESECT] * (len(difat) - len(fat_sectors)), "a gap in the DIFAT"
    assert len(fat_sectors) == header["fat_sectors"]
    for number in fat_sectors:
        parsed.fat += struct.unpack("<128I", parsed.sector(number))
    if header["mini_fat_sectors"]:
        for number in parsed.chain(int(header["first_mini_fat"]), parsed.fat):
            parsed.mini_fat += struct.unpack("<128I", parsed.sector(number))
    directory = b"".join(parsed.sector(s) for s in parsed.chain(int(header["first_dir"]), parsed.fat))
    for sid in range(len(directory) // 128):
        raw = directory[128 * sid : 128 * (sid + 1)]
        parsed.entries.append(Entry(sid, raw, *DIRECTORY_ENTRY.unpack(raw)))
    return parsed


def cfb_key(name: str) -> tuple[int, tuple[int, ...]]:
    """[MS-CFB] 2.6.4: shorter first, then each UTF-16 code unit uppercased on its own (surrogates as they are)."""
    units = struct.unpack(f"<{len(name.encode('utf-16-le')) // 2}H", name.encode("utf-16-le"))

    def upper(unit: int) -> int:
        mapped = chr(unit).upper() if not 0xD800 <= unit <= 0xDFFF else chr(unit)
        return ord(mapped) if len(mapped) == 1 else unit

    return len(units), tuple(upper(u) for u in units)


def children_in_order(parsed: Parsed, storage: Entry) -> list[Entry]:
    """Walk a storage's red-black tree, asserting its invariants; return the children in tree order."""
    ordered: list[Entry] = []

    def walk(sid: int, parent_red: bool) -> int:  # the black height of the subtree
        if sid == NOSTREAM:
            return 1
        entry = parsed.entries[sid]
        assert entry.color in (RED, BLACK)
        red = entry.color == RED
        assert not (red and parent_red), f"red {entry.name!r} has a red parent"
        left = walk(entry.left, red)
        ordered.append(entry)
        right = walk(entry.right, red)
        assert left == right, f"unequal black heights under {entry.name!r}"
        return left + (0 if red else 1)

    if storage.child != NOSTREAM:
        assert parsed.entries[storage.child].color == BLACK, "the tree's root must be black"
    walk(storage.child, parent_red=False)
    keys = [cfb_key(e.name) for e in ordered]
    assert keys == sorted(keys) and len(set(keys)) == len(keys), "siblings are not in strict CFB order"
    return ordered


def check_structure(parsed: Parsed) -> dict[str, Entry]:
    """Assert the directory's rules and return every entry by path (storages end with '/')."""
    header = parsed.header
    assert (header["signature"], header["clsid"]) == (bytes.fromhex("D0CF11E0A1B11AE1"), bytes(16))
    assert (header["minor"], header["major"], header["byte_order"]) == (0x3E, 3, 0xFFFE)
    assert (header["sector_shift"], header["mini_shift"], header["cutoff"]) == (9, 6, CUTOFF)
    assert (header["reserved"], header["dir_sectors"], header["transaction"]) == (bytes(6), 0, 0)
    assert len(parsed.blob) % 512 == 0
    sectors = len(parsed.blob) // 512 - 1
    assert FREESECT not in parsed.fat[:sectors], "a sector inside the file is not allocated"
    assert (int(header["fat_sectors"]) - 1) * 128 < sectors, "more FAT sectors than the file needs"
    assert set(parsed.fat[sectors:]) <= {FREESECT}
    for number in parsed.difat[: int(header["fat_sectors"])]:
        assert parsed.fat[number] == FATSECT
    assert parsed.fat.count(DIFSECT) == header["difat_sectors"]

    root = parsed.entries[0]
    assert (root.name, root.type, root.left, root.right, root.created) == ("Root Entry", ROOT, NOSTREAM, NOSTREAM, 0)
    assert root.size % 64 == 0 and len(parsed.mini_fat) * 64 >= root.size
    by_path: dict[str, Entry] = {}
    pending = [(root, "")]
    while pending:
        storage, prefix = pending.pop()
        for entry in children_in_order(parsed, storage):
            after_name = entry.name_bytes[entry.name_length - 2 :]  # the NUL terminator and the unused rest
            assert 4 <= entry.name_length <= 64 and after_name == bytes(len(after_name))
            assert (entry.state, entry.created, entry.modified) == (0, 0, 0)
            if entry.type == STORAGE:
                assert (entry.start, entry.size) == (0, 0)
                by_path[f"{prefix}{entry.name}/"] = entry
                pending.append((entry, f"{prefix}{entry.name}/"))
            else:
                assert entry.type == STREAM
                assert (entry.child, entry.clsid) == (NOSTREAM, bytes(16))
                by_path[f"{prefix}{entry.name}"] = entry
    unused = parsed.entries[len(by_path) + 1 :]
    assert len(unused) < 4, "more than the last directory sector's worth of unused entries"
    blank = DIRECTORY_ENTRY.pack(b"", 0, 0, 0, NOSTREAM, NOSTREAM, NOSTREAM, bytes(16), 0, 0, 0, 0, 0)
    assert all(entry.raw == blank for entry in unused)
    return by_path


def walk_tree(storage: Storage, prefix: str = "") -> Iterator[tuple[str, Stream | Storage]]:
    for child in storage.children:
        if isinstance(child, Storage):
            yield f"{prefix}{child.name}/", child
            yield from walk_tree(child, f"{prefix}{child.name}/")
        else:
            yield f"{prefix}{child.name}", child


def check_round_trip(root: Storage, blob: bytes) -> None:
    """The raw structures hold the tree exactly, and olefile (failing on any incorrect defect) agrees."""
    expected = dict(walk_tree(root))
    parsed = parse(blob)
    by_path = check_structure(parsed)
    assert by_path.keys() == expected.keys()
    assert parsed.entries[0].clsid == root.clsid
    for path, node in expected.items():
        if isinstance(node, Stream):
            assert parsed.read(by_path[path]) == bytes(node.data)
        else:
            assert by_path[path].clsid == node.clsid

    ole = olefile.OleFileIO(blob, raise_defects=olefile.DEFECT_INCORRECT)
    listed = {
        "/".join(parts) + ("/" if ole.get_type(parts) == olefile.STGTY_STORAGE else "")
        for parts in ole.listdir(storages=True)
    }
    assert listed == expected.keys()
    for path, node in expected.items():
        if isinstance(node, Stream):
            assert ole.get_size(path) == len(node.data)
            assert ole.openstream(path).read() == bytes(node.data)
    ole.close()


def pattern(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


# --- the header, the tables and the directory ---------------------------------------------------------


def test_header_of_a_small_file_follows_the_spec() -> None:
    blob = compound_file_bytes(Storage("ignored", [Stream("a", b"x" * 100), Stream("b", pattern(5000))]))
    parsed = parse(blob)
    check_structure(parsed)
    header = parsed.header
    assert header["fat_sectors"] == 1 and parsed.difat[0] == 0 and parsed.difat[1:] == [FREESECT] * 108
    assert (header["first_difat"], header["difat_sectors"]) == (ENDOFCHAIN, 0)
    assert header["mini_fat_sectors"] == 1 and header["first_mini_fat"] != ENDOFCHAIN
    assert parsed.entries[0].size == 128  # two mini sectors for the 100-byte stream
    # header, FAT, mini FAT, directory, mini stream, then the 5000-byte stream in 10 sectors
    assert len(blob) == 512 * (1 + 1 + 1 + 1 + 1 + 10)


def test_a_file_without_small_streams_has_no_mini_stream() -> None:
    parsed = parse(compound_file_bytes(Storage("", [Stream("big", pattern(CUTOFF)), Stream("empty", b"")])))
    check_structure(parsed)
    assert (parsed.header["first_mini_fat"], parsed.header["mini_fat_sectors"]) == (ENDOFCHAIN, 0)
    assert (parsed.entries[0].start, parsed.entries[0].size) == (ENDOFCHAIN, 0)


def test_an_empty_root_is_a_valid_file() -> None:
    root = Storage("", clsid=bytes(range(16)))
    check_round_trip(root, compound_file_bytes(root))
    assert parse(compound_file_bytes(root)).entries[0].child == NOSTREAM


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 4095, 4096, 4097])
def test_stream_sizes_around_the_boundaries(size: int) -> None:
    data = pattern(size, seed=size)
    root = Storage("", [Stream("before", b"1"), Stream("s", data), Stream("zafter", pattern(4100))])
    blob = compound_file_bytes(root)
    check_round_trip(root, blob)
    entry = check_structure(parse(blob))["s"]
    if size == 0:
        assert entry.start == ENDOFCHAIN
    # Below the cutoff the start is a mini sector; from 4,096 bytes on it is a FAT sector (read via the FAT).
    parsed = parse(blob)
    table = parsed.mini_fat if 0 < size < CUTOFF else parsed.fat
    assert len(parsed.chain(entry.start, table)) == -(-size // (64 if size < CUTOFF else 512))


def test_clsids_of_root_and_storages_reach_olefile() -> None:
    clsid = bytes.fromhex("0B0D020000000000C000000000000046")
    root = Storage("", [Storage("inner", [Stream("x", b"1")], clsid=clsid)], clsid=bytes(range(16)))
    ole = olefile.OleFileIO(compound_file_bytes(root), raise_defects=olefile.DEFECT_INCORRECT)
    assert ole.getclsid("inner") == "00020D0B-0000-0000-C000-000000000046"
    assert ole.root.clsid == "03020100-0504-0706-0809-0A0B0C0D0E0F"
    ole.close()


def test_unused_directory_entries_are_blank_with_nostream_links() -> None:
    parsed = parse(compound_file_bytes(Storage("", [Stream("a", b"1"), Stream("b", b"2")])))
    check_structure(parsed)  # asserts the blank form
    assert len(parsed.entries) == 4 and parsed.entries[3].type == 0


def test_hundreds_of_entries_in_nested_storages_form_red_black_trees() -> None:
    def streams(count: int, seed: int) -> list[Stream | Storage]:
        return [Stream(f"s{i}", pattern((i * 37 + seed) % 5000, seed=i)) for i in range(count)]

    storages: list[Stream | Storage] = [
        Storage(f"__substg1.0_{n:08X}", [*streams(60, n), Storage("inner", streams(40, n + 100))]) for n in range(5)
    ]
    root = Storage("", [*streams(100, 7), *storages])
    blob = compound_file_bytes(root)
    check_round_trip(root, blob)
    assert sum(isinstance(node, Stream) for _, node in walk_tree(root)) == 600


@pytest.mark.parametrize("count", range(34))
def test_every_small_sibling_count_forms_a_red_black_tree(count: int) -> None:
    parsed = parse(compound_file_bytes(Storage("", [Stream(f"n{i}", b"") for i in range(count)])))
    assert len(children_in_order(parsed, parsed.entries[0])) == count


def test_deep_nesting() -> None:
    node = Storage("leaf", [Stream("data", b"deep")])
    for depth in range(150):
        node = Storage(f"level{depth}", [node, Stream("here", bytes([depth % 256]))])
    root = Storage("", [node])
    check_round_trip(root, compound_file_bytes(root))


def test_siblings_are_ordered_by_length_then_uppercase() -> None:
    names = ["bb", "B", "a", "ä", "Ab", "aC", "Z", "zzz", "中"]
    parsed = parse(compound_file_bytes(Storage("", [Stream(n, b"") for n in names])))
    ordered = [e.name for e in children_in_order(parsed, parsed.entries[0])]
    assert ordered == ["a", "B", "Z", "ä", "中", "Ab", "aC", "bb", "zzz"]


# --- big files ----------------------------------------------------------------------------------------


def test_a_file_over_7_mb_chains_difat_sectors(tmp_path: Path) -> None:
    # 17 MB takes 34,816 sectors: 275 FAT sectors, 109 listed in the header and 166 in two chained DIFAT sectors.
    root = Storage("", [Stream("small", b"s" * 10), Storage("attach", [Stream("big", pattern(17 * 2**20))])])
    path = tmp_path / "big.cfb"
    with path.open("wb") as out:
        write_compound_file(root, out)
    blob = path.read_bytes()
    parsed = parse(blob)
    assert parsed.header["difat_sectors"] == 2
    assert parsed.header["fat_sectors"] == 275
    check_round_trip(root, blob)
    run_olecfinfo(path, ["small", "attach", "big"])


def test_streams_are_written_without_copying_their_data() -> None:
    data = bytes(50 * 2**20)

    class Sink:  # not seekable: the writer only ever writes forward
        def __init__(self) -> None:
            self.size = 0
            self.views_of_data = 0

        def write(self, chunk: bytes | memoryview) -> int:
            if isinstance(chunk, memoryview) and chunk.obj is data:
                self.views_of_data += 1
            self.size += len(chunk)
            return len(chunk)

    sink = Sink()
    tracemalloc.start()
    try:
        write_compound_file(Storage("", [Stream("attachment", data)]), sink)  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sink.views_of_data == 1
    assert peak < 2**20, f"writing allocated {peak} bytes at its peak"
    assert sink.size > len(data) and sink.size % 512 == 0


def test_a_file_over_2_gb_is_refused_before_writing() -> None:
    # Address space only: the writer refuses before reading a byte. (Left to the garbage collector, since the
    # error's traceback still holds views of it.)
    untouched = mmap.mmap(-1, 2**31)
    out = io.BytesIO()
    with pytest.raises(CompoundFileError, match="2 GiB"):
        write_compound_file(Storage("", [Stream("huge", memoryview(untouched))]), out)
    assert out.getvalue() == b""


def test_memoryview_and_bytearray_data() -> None:
    numbers = memoryview(bytearray(range(256)) * 20).cast("I")  # not bytes: 1,280 four-byte items
    root = Storage("", [Stream("view", numbers), Stream("array", bytearray(b"abc"))])
    blob = compound_file_bytes(root)
    ole = olefile.OleFileIO(blob, raise_defects=olefile.DEFECT_INCORRECT)
    assert ole.openstream("view").read() == numbers.tobytes()
    assert ole.openstream("array").read() == b"abc"
    ole.close()


# --- names -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a" * 31, "ä" * 31, "📧" * 15 + "x", "Grüße, 中文 ☃", "__substg1.0_0037001F"])
def test_valid_names_round_trip(name: str) -> None:
    root = Storage("", [Stream(name, b"body"), Storage("folder", [Storage(name, [Stream(name, b"inner")])])])
    check_round_trip(root, compound_file_bytes(root))


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("a" * 32, "32 UTF-16 code units"),
        ("📧" * 16, "32 UTF-16 code units"),
        ("", "empty"),
        ("a/b", "'/'"),
        ("a\\b", "'\\\\'"),
        ("a:b", "':'"),
        ("a!b", "'!'"),
        ("a\0b", "'\\x00'"),
        ("\ud800", "not valid Unicode"),
    ],
)
def test_invalid_names_are_refused_before_writing(name: str, rule: str) -> None:
    out = io.BytesIO()
    with pytest.raises(CompoundFileError, match=rule.replace("\\", "\\\\").replace("(", r"\(")):
        write_compound_file(Storage("", [Storage("outer", [Stream(name, b"")])]), out)
    assert out.getvalue() == b""


@pytest.mark.parametrize(("first", "second"), [("Body", "BODY"), ("äx", "ÄX"), ("ω", "Ω"), ("x", "X")])
def test_siblings_equal_ignoring_case_are_refused(first: str, second: str) -> None:
    with pytest.raises(CompoundFileError, match="compared case-insensitively"):
        compound_file_bytes(Storage("", [Stream(first, b""), Storage(second)]))


def test_the_same_name_in_different_storages_is_fine() -> None:
    root = Storage("", [Stream("x", b"1"), Storage("a", [Stream("x", b"2")]), Storage("b", [Stream("X", b"3")])])
    check_round_trip(root, compound_file_bytes(root))


def test_a_clsid_must_be_16_bytes() -> None:
    with pytest.raises(CompoundFileError, match="16 bytes"):
        compound_file_bytes(Storage("", [Storage("a", clsid=b"short")]))


# --- determinism and an independent reader -----------------------------------------------------------


def golden_tree() -> Storage:
    return Storage(
        "ignored",
        [
            Stream("__properties_version1.0", bytes(range(48))),
            Storage("__attach_version1.0_#00000000", [Stream("__substg1.0_3701000D", b"\x01" * 5000)]),
            Stream("empty", b""),
        ],
        clsid=bytes.fromhex("0B0D020000000000C000000000000046"),
    )


def test_output_is_deterministic() -> None:
    blob = compound_file_bytes(golden_tree())
    assert blob == compound_file_bytes(golden_tree())
    assert hashlib.sha256(blob).hexdigest() == "b4ae76d7cd9127ca103bd939569c260f8f86501ac1926628767e426abd5900ec"


def run_olecfinfo(path: Path, names: list[str]) -> None:
    tool = shutil.which("olecfinfo")
    if tool is None:
        pytest.skip("olecfinfo (Debian libolecf-utils) is not installed")
    result = subprocess.run([tool, "-a", str(path)], capture_output=True, text=True, check=False, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    listing, _, unallocated = result.stdout.partition("Unallocated blocks:")
    for name in names:  # olecfinfo escapes every non-ASCII UTF-8 byte as \xNN
        shown = "".join(chr(b) if b < 0x80 else f"\\x{b:02x}" for b in name.encode())
        assert f"  {shown} (" in listing, f"{shown} missing from:\n{listing}"
    assert unallocated.strip() == "", "olecfinfo found unallocated blocks"


def test_olecfinfo_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "tree.cfb"
    path.write_bytes(compound_file_bytes(golden_tree()))
    run_olecfinfo(path, ["__properties_version1.0", "__attach_version1.0_#00000000", "__substg1.0_3701000D", "empty"])


def test_olecfinfo_reads_non_ascii_names(tmp_path: Path) -> None:
    names = ["Grüße", "中文名", "Ωmega", "Ünter"]
    path = tmp_path / "names.cfb"
    path.write_bytes(compound_file_bytes(Storage("", [Stream(n, n.encode()) for n in names])))
    run_olecfinfo(path, names)


# --- random trees ---------------------------------------------------------------------------------

# Names that olefile's lower-case duplicate check and CFB's upper-case comparison treat alike.
ALPHABET = "abcdxyzABCDXYZ0189 _-.#äÄéÉßαΩжЖ中文📧"
names = st.text(ALPHABET, min_size=1, max_size=31).filter(lambda n: len(n.encode("utf-16-le")) <= 62)
sizes = st.one_of(st.sampled_from([0, 1, 63, 64, 65, 4095, 4096, 4097]), st.integers(0, 9000))
streams = st.builds(lambda name, size, seed: Stream(name, pattern(size, seed)), names, sizes, st.integers(0, 999))
clsids = st.one_of(st.just(bytes(16)), st.binary(min_size=16, max_size=16))


def storages(children: st.SearchStrategy[Stream | Storage]) -> st.SearchStrategy[Storage]:
    unique = st.lists(children, max_size=8, unique_by=(lambda c: c.name.upper(), lambda c: c.name.lower()))
    return st.builds(Storage, names, unique, clsids)


trees = storages(st.recursive(streams, storages, max_leaves=30))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees)
def test_random_trees_round_trip(root: Storage) -> None:
    check_round_trip(root, compound_file_bytes(root))
