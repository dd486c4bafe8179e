"""Sync paths (parse, normalise, write back, resolve through path roots) and the location rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postroom.domain.location import (
    MAX_SYNC_PATH_LENGTH,
    FileFormat,
    LocationSettings,
    PathKind,
    PathRoot,
    SyncPath,
    resolve,
    validate_location,
)
from postroom.errors import InvalidInput

P = SyncPath.parse

PARSED = [
    # registered, kind, normalised, str()
    ("/srv/projects/Surrey Court", "posix", "/srv/projects/Surrey Court", "/srv/projects/Surrey Court"),
    ("  /srv//projects/./Surrey Court/  ", "posix", "/srv/projects/Surrey Court", "/srv/projects/Surrey Court"),
    ("///srv/x", "posix", "/srv/x", "/srv/x"),
    ("/", "posix", "/", "/"),
    ("/Café:2024", "posix", "/Café:2024", "/Café:2024"),
    ("/Cafe\u0301", "posix", "/Café", "/Café"),  # NFC
    (
        r"\\FileServer\Projects\Surrey Court\email",
        "unc",
        "//fileserver/projects/Surrey Court/email",
        r"\\fileserver\projects\Surrey Court\email",
    ),
    ("//fs/projects/Surrey Court/", "unc", "//fs/projects/Surrey Court", r"\\fs\projects\Surrey Court"),
    (r"\/fs\share/a\\b", "unc", "//fs/share/a/b", r"\\fs\share\a\b"),
    (r"\\fs\share", "unc", "//fs/share", r"\\fs\share"),
    (r"C:\Users\sallyb\Projects", "drive", "c:/Users/sallyb/Projects", r"C:\Users\sallyb\Projects"),
    ("c:/Users/sallyb/Projects/", "drive", "c:/Users/sallyb/Projects", r"C:\Users\sallyb\Projects"),
    ("D:\\", "drive", "d:/", "D:\\"),
    (
        "SMB://FS.Example.com:445/projects/Surrey%20Court",
        "url",
        "smb://fs.example.com:445/projects/Surrey Court",
        "smb://fs.example.com:445/projects/Surrey Court",
    ),
    ("s3://bucket/mail/", "url", "s3://bucket/mail", "s3://bucket/mail"),
    ("sftp://files.example.com", "url", "sftp://files.example.com/", "sftp://files.example.com/"),
    ("webdavs://dav/a%25b/%3F", "url", "webdavs://dav/a%25b/%3F", "webdavs://dav/a%25b/%3F"),
    ("webdav://[FE80::1]:8080/x", "url", "webdav://[fe80::1]:8080/x", "webdav://[fe80::1]:8080/x"),
    ("file:///srv/projects", "url", "file:///srv/projects", "file:///srv/projects"),
]


@pytest.mark.parametrize(("text", "kind", "normalised", "shown"), PARSED)
def test_parse_normalise_and_write_back(text: str, kind: str, normalised: str, shown: str) -> None:
    path = P(text)
    assert path.kind is PathKind(kind)
    assert path.normalised == normalised
    assert str(path) == shown
    assert P(shown) == path
    assert P(normalised) == path


def test_segments_and_keys() -> None:
    path = P(r"\\FS\Projects\Surrey Court\Email")
    assert path.segments == ("Surrey Court", "Email")
    assert path.key == "//fs/projects/surrey court/email"  # Windows ignores case in every segment
    assert P("/srv/Projects").key != P("/srv/projects").key  # POSIX does not
    assert P("C:/A").key == P(r"c:\a").key


REJECTED = [
    ("", "must not be empty"),
    ("   ", "must not be empty"),
    ("projects/surrey", "must be absolute"),
    ("~/projects", "must be absolute"),
    ("/srv/../etc", "must not contain .."),
    ("/srv/a\x00b", "control characters"),
    ("/srv/a\nb", "control characters"),
    ("/srv\\projects", "POSIX path separates folders with /"),
    (r"\\server", "names a server and a share"),
    (r"\\server\\", "names a server and a share"),
    (r"\\?\C:\x", "device paths"),
    (r"\\.\pipe\x", "device paths"),
    ("C:", "must be absolute"),
    ("C:projects", "must be absolute"),
    (r"C:\a<b", "'<'"),
    (r"\\fs\share\what?", "'?'"),
    (r'C:\say "hi"', "'\"'"),
    (r"C:\trailing.\x", "must not end with a dot"),
    ("/srv/typo /x", "must not end with a space"),
    ("smb://fs/a%20/x", "must not end with a space"),
    (r"\\fs\share\NUL.txt", "Windows device name"),
    ("http://example.com/x", "smb://, sftp://, webdav://, webdavs://, s3://, file://"),
    ("ftp://example.com/x", "not ftp:"),
    ("smb:/fs/share", "smb://host/path"),
    ("smb://anna:pw@fs/share", "keep credentials in a secret"),
    ("smb://fs:0/share", "invalid port"),
    ("smb://fs:70000/share", "invalid port"),
    ("smb://fs/share?x=1", "query"),
    ("smb://fs/share#top", "fragment"),
    ("smb://fs/a%2Fb", "%2F"),
    ("smb://fs/a%FFb", "not UTF-8"),
    ("smb://fs/a%00b", "control characters"),
    ("smb://fs/a/%2e%2e/b", "must not contain .."),
    ("s3:///key", "name their host"),
    ("file://server/x", "file URL has no host"),
    ("smb://a b/x", "invalid host name"),
    ("/" + "a" * MAX_SYNC_PATH_LENGTH, f"at most {MAX_SYNC_PATH_LENGTH} characters"),
    ("/\ud800", "lone surrogate"),
]


@pytest.mark.parametrize(("text", "message"), REJECTED)
def test_rejected_paths_say_why(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        P(text)
    [error] = caught.value.errors
    assert error.field == "sync_path"
    assert message in error.message


def test_non_text_and_a_custom_field() -> None:
    with pytest.raises(InvalidInput, match=r"^root: must be text$"):
        SyncPath.parse(42, field="root")


# --- resolve -----------------------------------------------------------------------------------

ROOTS = [
    PathRoot(P(r"\\fs\projects"), P("/srv/projects")),
    PathRoot(P(r"\\fs\projects\Surrey Court"), P("/mnt/surrey")),
    PathRoot(P("/srv/projects"), P(r"C:\Users\sallyb\Projects")),
]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (r"\\FS\Projects\surrey court\email", "/mnt/surrey/email"),  # longest prefix, case ignored
        (r"\\fs\projects\Surrey Courtyard\email", "/srv/projects/Surrey Courtyard/email"),  # whole segments
        (r"\\fs\projects", "/srv/projects"),
        ("/srv/projects/Surrey Court/email", r"C:\Users\sallyb\Projects\Surrey Court\email"),
        ("/srv/Projects/x", "/srv/Projects/x"),  # POSIX compares with case: no root, used as it is
        (r"\\other\share\x", r"\\other\share\x"),
    ],
)
def test_resolve_longest_matching_root(path: str, expected: str) -> None:
    resolved = resolve(P(path), ROOTS)
    assert resolved is not None
    assert str(resolved) == expected


def test_resolve_without_a_root_only_for_kinds_the_connector_writes_directly() -> None:
    assert resolve(P(r"\\other\share\x"), ROOTS, direct={PathKind.POSIX}) is None
    assert resolve(P("/data/x"), [], direct={PathKind.POSIX}) == P("/data/x")


# --- properties --------------------------------------------------------------------------------

_name = st.text(
    st.characters(exclude_categories=("Cc", "Cs"), exclude_characters='/\\<>:"|?*'), min_size=1, max_size=12
).filter(lambda name: not name[-1].isspace())
_names = st.lists(_name, max_size=5)


def _posix_text(names: list[str]) -> str:
    return "/" + "/".join(names)


def _unc_text(names: list[str]) -> str:
    return r"\\" + "\\".join(["Server", "Share", *names])


def _drive_text(names: list[str]) -> str:
    return "C:/" + "/".join(names)


def _url_text(names: list[str]) -> str:
    return "webdavs://Host.example/" + "/".join(names).replace("%", "%25").replace("#", "%23")


def _windows_safe(names: list[str]) -> list[str]:
    return [name.rstrip(". ") + "_" for name in names]  # also never a device name such as CON


@st.composite
def sync_paths(draw: st.DrawFn) -> SyncPath:
    """Paths of every kind built from arbitrary names (ones a kind refuses are left out)."""
    build = draw(st.sampled_from([_posix_text, _unc_text, _drive_text, _url_text]))
    names = draw(_names)
    text = build(_windows_safe(names) if build in (_unc_text, _drive_text) else names)
    try:
        return P(text)
    except InvalidInput:  # ".." among the names
        return P(build([]))


@given(st.sampled_from(["/", "//", "\\\\", "C:\\", "smb://", "s3://b/", "file:///", ""]), st.text(max_size=40))
def test_whatever_parses_round_trips(start: str, rest: str) -> None:
    try:
        path = P(start + rest)
    except InvalidInput:
        return
    assert P(str(path)) == path
    assert P(path.normalised).normalised == path.normalised


@given(sync_paths())
def test_write_back_parses_to_the_same_path(path: SyncPath) -> None:
    assert P(str(path)) == path
    assert P(path.normalised) == path


@given(sync_paths())
def test_normalising_is_idempotent(path: SyncPath) -> None:
    again = P(path.normalised)
    assert again.normalised == path.normalised
    assert again.key == path.key


@given(sync_paths(), sync_paths(), sync_paths())
def test_resolve_never_escapes_the_root(path: SyncPath, prefix: SyncPath, local: SyncPath) -> None:
    resolved = resolve(path, [PathRoot(prefix, local)], direct=())
    if resolved is None:
        assert path.relative_to(prefix) is None
        return
    assert resolved.kind is local.kind and resolved.anchor == local.anchor
    assert resolved.segments[: len(local.segments)] == local.segments
    assert ".." not in resolved.segments
    assert len(resolved.segments) - len(local.segments) == len(path.segments) - len(prefix.segments)


@given(sync_paths(), _names)
def test_a_path_below_a_root_resolves_below_its_local_path(prefix: SyncPath, below: list[str]) -> None:
    try:
        path = P(str(prefix.joined(below)))
    except InvalidInput:
        return  # a name Windows refuses
    local = P("/srv/local")
    resolved = resolve(path, [PathRoot(prefix, local)])
    assert resolved is not None
    assert resolved.relative_to(local) == path.segments[len(prefix.segments) :]


# --- the location ------------------------------------------------------------------------------


def test_a_new_location_gets_the_defaults() -> None:
    location = validate_location({"name": " Surrey Court ", "sync_path": r" \\fs\projects\Surrey Court "})
    assert location == LocationSettings(
        name="Surrey Court",
        sync_path=r"\\fs\projects\Surrey Court",
        format=FileFormat.MSG,
        naming_template="{date} {subject}",
        enabled=True,
    )
    assert validate_location(location.to_dict()) == location


def test_every_broken_rule_is_reported_at_once() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_location({"name": "", "sync_path": "relative", "format": "pdf", "naming_template": "{nope}", "x": 1})
    assert [e.field for e in caught.value.errors] == ["x", "name", "sync_path", "format", "naming_template"]
    with pytest.raises(InvalidInput) as missing:
        validate_location({})
    assert {e.field: e.message for e in missing.value.errors} == {"name": "is required", "sync_path": "is required"}


def test_changes_overlay_the_current_location() -> None:
    current = validate_location({"name": "A", "sync_path": "/srv/a", "format": "EML"})
    assert current.format is FileFormat.EML
    changed = validate_location({"enabled": False, "naming_template": "{year}/{date} {subject}"}, current)
    assert changed == LocationSettings("A", "/srv/a", FileFormat.EML, "{year}/{date} {subject}", False)
    with pytest.raises(InvalidInput, match="enabled: must be true or false"):
        validate_location({"enabled": "maybe"}, current)
