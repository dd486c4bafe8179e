"""File names for filed messages: templates, UTC dates, Windows/SMB/macOS rules, limits, collisions."""

from __future__ import annotations

import hashlib
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postroom.domain.message import extract_metadata
from postroom.errors import InvalidInput, PostroomError
from postroom.formats.naming import (
    DEFAULT_TEMPLATE,
    FIELDS,
    NO_DATE,
    MessageNameFacts,
    NameTooLong,
    NamingTemplate,
    file_name,
    path_length,
    sanitise_component,
    with_collision_suffix,
)

SHA = hashlib.sha256(b"a message").hexdigest()
OTHER_SHA = hashlib.sha256(b"another message").hexdigest()
WHEN = datetime(2026, 11, 22, 10, 15, 30, tzinfo=UTC)

FORBIDDEN = set('<>:"/\\|?*')
DEVICES = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"} | {
    f"{prefix}{digit}" for prefix in ("COM", "LPT") for digit in "0123456789¹²³"
}
INVISIBLE = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff")


def facts(**values: object) -> MessageNameFacts:
    return MessageNameFacts(**{"content_sha256": SHA, "date": WHEN, **values})  # type: ignore[arg-type]


def name(template: str = "{date} {subject}", extension: str = ".msg", **values: object) -> str:
    return file_name(NamingTemplate.parse(template), facts(**values), extension)


def assert_safe_component(component: str) -> None:
    """Every rule a folder or file name must keep, checked independently of the implementation."""
    assert component, "empty name"
    assert not FORBIDDEN & set(component), component
    assert not INVISIBLE & set(component), component
    assert all(unicodedata.category(ch) not in ("Cc", "Cs") for ch in component), component
    assert unicodedata.is_normalized("NFC", component), component
    assert component[0] not in " ." and component[-1] not in " .", component
    assert component == " ".join(component.split()), component
    assert component.split(".")[0].rstrip(" ").upper() not in DEVICES, component
    assert len(component.encode("utf-8")) <= 255, component
    assert path_length(unicodedata.normalize("NFD", component)) <= 255, component


def assert_safe_name(relative: str, *, max_path: int | None = 260, base_path_length: int = 0) -> None:
    """A relative name and its collision-suffixed form keep every rule."""
    for candidate in (relative, with_collision_suffix(relative, OTHER_SHA)):
        for component in candidate.split("/"):
            assert_safe_component(component)
        if max_path is not None:
            separator = 1 if base_path_length else 0
            assert base_path_length + separator + path_length(candidate) <= max_path - 1, candidate


# --- dates ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Sun, 22 Nov 2026 11:15:30 +0100", "20261122T101530Z"),
        ("Sun, 22 Nov 2026 10:15:30 +0000", "20261122T101530Z"),
        ("Sun, 22 Nov 2026 10:15:30 GMT", "20261122T101530Z"),
        ("Sat, 21 Nov 2026 22:15:30 -0500", "20261122T031530Z"),  # the UTC day is the next one
        ("Thu, 01 Jan 2026 00:30:00 +0100", "20251231T233000Z"),  # and the year the one before
        ("Sun, 22 Nov 2026 23:59:59 +1400", "20261122T095959Z"),
        ("Sun, 22 Nov 2026 10:15:30 +0530", "20261122T044530Z"),
    ],
)
def test_date_is_iso_8601_basic_in_utc(header: str, expected: str) -> None:
    assert name("{date}", date=parsedate_to_datetime(header)) == f"{expected}.msg"


def test_date_fields() -> None:
    when = datetime(2026, 1, 1, 0, 30, 0, 999_999, tzinfo=timezone(timedelta(hours=1)))
    assert name("{year}/{month}/{day}/{date}", date=when) == "2025/12/31/20251231T233000Z.msg"


def test_a_year_before_1000_keeps_four_digits() -> None:
    assert name("{year} {date}", date=datetime(999, 3, 4, 5, 6, 7, tzinfo=UTC)) == "0999 09990304T050607Z.msg"


def test_without_a_date_the_archive_date_is_used_then_no_date() -> None:
    received = datetime(2026, 11, 23, 8, 0, 0, tzinfo=timezone(timedelta(hours=-2)))
    assert name("{date}", date=None, received=received) == "20261123T100000Z.msg"
    assert name("{date}", date=WHEN, received=received) == "20261122T101530Z.msg"
    assert name("{date} {year}-{month}-{day}", date=None) == f"{NO_DATE} 0000-00-00.msg"


def test_a_date_that_overflows_in_utc_falls_back() -> None:
    end_of_time = datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert name("{date}", date=end_of_time, received=WHEN) == "20261122T101530Z.msg"


@pytest.mark.parametrize("field", ["date", "received"])
def test_naive_dates_are_refused(field: str) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        facts(**{field: datetime(2026, 11, 22, 10, 15, 30)})


def test_content_hash_must_be_a_sha256() -> None:
    with pytest.raises(ValueError, match="64 lowercase hex"):
        MessageNameFacts(content_sha256=SHA.upper())


# --- fields -----------------------------------------------------------------------------------


def test_default_template() -> None:
    assert str(DEFAULT_TEMPLATE) == "{date} {subject}"
    assert file_name(DEFAULT_TEMPLATE, facts(subject="Quarterly report"), ".msg") == (
        "20261122T101530Z Quarterly report.msg"
    )


@pytest.mark.parametrize(
    ("template", "values", "expected"),
    [
        ("{subject}", {"subject": ""}, "(no subject)"),
        ("{subject}", {"subject": " \t\r\n "}, "(no subject)"),
        ("{from}", {"from_address": "zoe@example.org"}, "zoe@example.org"),
        ("{from}", {}, "(no sender)"),
        ("{from_name}", {"from_name": "Zoë Adams", "from_address": "zoe@example.org"}, "Zoë Adams"),
        ("{from_name}", {"from_address": "zoe@example.org"}, "zoe@example.org"),
        ("{from_name}", {}, "(no sender)"),
        ("{to}", {"to": "team@example.org"}, "team@example.org"),
        ("{to}", {}, "(no recipient)"),
        ("{folder}", {"folder": "INBOX/Projects/P-123"}, "INBOX_Projects_P-123"),  # values never make folders
        ("{folder}", {}, "(no folder)"),
        ("{message_id_hash}", {"message_id": "abc@example.org"}, hashlib.sha256(b"abc@example.org").hexdigest()[:8]),
        ("{message_id_hash}", {}, SHA[:8]),
        ("{{{date}}} {{x}}", {}, "{20261122T101530Z} {x}"),
        ("{date} {subject} ({from_name})", {"subject": "Hi", "from_name": "Zoë"}, "20261122T101530Z Hi (Zoë)"),
    ],
)
def test_fields(template: str, values: dict[str, object], expected: str) -> None:
    assert name(template, "", **values) == expected


def test_the_fields_a_template_uses() -> None:
    template = NamingTemplate.parse("{year}/{month}/{date} {subject} {date}")
    assert template.fields == {"year", "month", "date", "subject"}
    assert set(FIELDS) == {
        "date", "year", "month", "day", "subject", "from", "from_name", "to", "folder", "message_id_hash"
    }  # fmt: skip


def test_slash_and_backslash_in_the_template_make_folders() -> None:
    expected = "2026/11/20261122T101530Z Hi.eml"
    assert name("{year}/{month}/{date} {subject}", ".eml", subject="Hi") == expected
    assert name("{year}\\{month}\\{date} {subject}", "eml", subject="Hi") == expected
    assert name("Mail/{from}/{subject}", "", subject="Hi", from_address="a@b.org") == "Mail/a@b.org/Hi"


@pytest.mark.parametrize("extension", [".msg", "msg", ".eml", ""])
def test_extension_forms(extension: str) -> None:
    assert name("{subject}", extension, subject="Hi") == "Hi" + ("." + extension.lstrip(".") if extension else "")


@pytest.mark.parametrize("extension", [".", ". msg", ".m/sg", ".eml.", "x" * 17, ".ms?"])
def test_bad_extensions_are_refused(extension: str) -> None:
    with pytest.raises(ValueError, match="extension"):
        name(extension=extension)


def test_facts_from_archived_metadata() -> None:
    raw = (
        b"Date: Sun, 22 Nov 2026 11:15:30 +0100\r\n"
        b"From: =?utf-8?q?Zo=C3=AB?= <zoe@example.org>\r\n"
        b"To: Team <team@example.org>, other@example.org\r\n"
        b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= aus Berlin: Q3/Q4?\r\n"
        b"Message-ID: <abc@example.org>\r\n\r\nBody\r\n"
    )
    sha = hashlib.sha256(raw).hexdigest()
    got = MessageNameFacts.from_metadata(extract_metadata(raw), content_sha256=sha, folder="INBOX")
    assert got == MessageNameFacts(
        content_sha256=sha,
        date=datetime(2026, 11, 22, 10, 15, 30, tzinfo=UTC),
        subject="Grüße aus Berlin: Q3/Q4?",
        from_address="zoe@example.org",
        from_name="Zoë",
        to="team@example.org",
        folder="INBOX",
        message_id="abc@example.org",
    )
    assert file_name(DEFAULT_TEMPLATE, got, ".msg") == "20261122T101530Z Grüße aus Berlin_ Q3_Q4_.msg"


def test_facts_of_a_message_without_headers() -> None:
    sha = hashlib.sha256(b"").hexdigest()
    got = MessageNameFacts.from_metadata(extract_metadata(b""), content_sha256=sha, received=WHEN)
    assert file_name(NamingTemplate.parse("{date} {subject} {from} {to}"), got, ".eml") == (
        "20261122T101530Z (no subject) (no sender) (no recipient).eml"
    )


# --- templates that are refused ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "rule"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("{date", "unmatched '{' at position 1; write {{ for a literal one"),
        ("{date}}", "unmatched '}' at position 7"),
        ("{da{te}", "unmatched '{' at position 1"),
        ("{subjct}", "unknown field {subjct}; the fields are {date}, {year}, {month}, {day}, {subject}"),
        ("{Subject}", "unknown field {Subject}"),
        ("{}", "unknown field {}"),
        ("{date:%Y}", "unknown field {date:%Y} (fields take no format: use {year}, {month} and {day})"),
        ("{date!r}", "fields take no format"),
        ("{date}: {subject}", "must not contain ':'"),
        ("{subject}?", "must not contain '?'"),
        ('"{subject}"', "must not contain '\"'"),
        ("{subject}\t{date}", "must not contain '\\t'"),
        ("/{date}", "empty folder name"),
        ("{year}//{date}", "empty folder name"),
        ("{year}/../{date}", "empty folder name"),
        ("{year}/ . /{date}", "empty folder name"),
        ("{date}/", "empty folder name"),
        ("{date}/archive", "must use a field in the file name"),
        ("archive", "must use a field in the file name"),
        ("{{date}}", "must use a field in the file name"),
        ("{date}" * 100, "at most 500 characters"),
    ],
)
def test_bad_templates_are_refused_naming_the_rule(template: str, rule: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        NamingTemplate.parse(template)
    [error] = caught.value.errors
    assert error.field == "naming_template"
    assert rule in error.message


def test_template_errors_name_the_given_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        NamingTemplate.parse(42, field="locations[0].naming")
    assert str(caught.value) == "locations[0].naming: must be text"


# --- one name: the Windows, SMB and macOS rules ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Quarterly report", "Quarterly report"),
        ('a<b>c:d"e/f\\g|h?i*j', "a_b_c_d_e_f_g_h_i_j"),
        ("Re: Budget?", "Re_ Budget_"),
        ("  spaced   out \t\r\n words  ", "spaced out words"),
        ("line\u2028separator\u00a0nbsp\u3000ideographic", "line separator nbsp ideographic"),
        ("bell\x07 nul\x00 del\x7f c1\x9b", "bell nul del c1"),
        ("trailing dots...", "trailing dots"),
        ("trailing dot and space. . ", "trailing dot and space"),
        ("...leading dots", "leading dots"),
        (".profile", "profile"),  # a leading dot hides a file on macOS and Linux
        ("a.b...c", "a.b...c"),
        ("Caf\u0065\u0301", "Caf\u00e9"),  # NFC
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # a right-to-left override could disguise it as .pdf
        ("\ufeffbom", "bom"),
        ("lone \ud800 surrogate", "lone _ surrogate"),
        ("", "_"),
        ("   ", "_"),
        ("...", "_"),
        ("\x00\x01", "_"),
        ("Grüße 名前 😀", "Grüße 名前 😀"),
        ("[brackets] & {braces} #1 ~tilde 100%", "[brackets] & {braces} #1 ~tilde 100%"),
    ],
)
def test_sanitise_component(text: str, expected: str) -> None:
    assert sanitise_component(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CON", "CON_"),
        ("con", "con_"),
        ("Con.txt", "Con_.txt"),
        ("CON.tar.gz", "CON_.tar.gz"),
        ("CON .txt", "CON_ .txt"),
        ("NUL.", "NUL_"),
        ("PRN", "PRN_"),
        ("aux", "aux_"),
        ("COM0", "COM0_"),
        ("COM1", "COM1_"),
        ("lpt9.msg", "lpt9_.msg"),
        ("COM¹", "COM¹_"),
        ("LPT³.eml", "LPT³_.eml"),
        ("CONIN$", "CONIN$_"),
        ("conout$.log", "conout$_.log"),
        ("CONSOLE", "CONSOLE"),
        ("COM10", "COM10"),
        ("ACON", "ACON"),
        ("CON-1", "CON-1"),
        ("CON_", "CON_"),
    ],
)
def test_windows_device_names_are_made_safe(text: str, expected: str) -> None:
    assert sanitise_component(text) == expected


def test_device_name_as_a_whole_subject_or_folder() -> None:
    assert name("{subject}", subject="con") == "con_.msg"
    assert name("{folder}/{date}", folder="AUX") == "AUX_/20261122T101530Z.msg"


def test_long_names_are_cut_to_255_bytes() -> None:
    assert sanitise_component("x" * 300) == "x" * 255
    assert sanitise_component("é" * 200) == "é" * 127  # 2 bytes each
    assert sanitise_component("名" * 100) == "名" * 85  # 3 bytes each
    assert sanitise_component("😀" * 100) == "😀" * 63  # 4 bytes each
    assert sanitise_component("abcd " * 100, max_bytes=10) == "abcd abcd"  # no trailing space left


def test_cuts_keep_combining_sequences_emoji_and_flags_whole() -> None:
    assert sanitise_component("q\u0307" * 10, max_bytes=10) == "q\u0307" * 3  # 3 bytes each
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # 18 bytes, one picture
    assert sanitise_component(family * 3, max_bytes=40) == family * 2
    thumbs = "\U0001f44d\U0001f3fd"  # thumbs up, medium skin tone: 8 bytes
    assert sanitise_component(thumbs * 3, max_bytes=12) == thumbs
    flags = "\U0001f1e9\U0001f1ea\U0001f1eb\U0001f1f7"  # 🇩🇪🇫🇷
    assert sanitise_component(flags, max_bytes=12) == flags[:2]
    assert sanitise_component("x" + flags, max_bytes=13) == "x" + flags[:2]
    heart = "\u2764\ufe0f"  # heart with its emoji variation selector
    assert sanitise_component("ab" + heart, max_bytes=5) == "ab"


def test_names_fit_hfs_plus_once_decomposed() -> None:
    # ǖ is 2 bytes of UTF-8 but 3 UTF-16 units decomposed, as HFS+ stores it
    assert sanitise_component("ǖ" * 200) == "ǖ" * 85


def test_a_cut_that_leaves_a_device_name_is_made_safe() -> None:
    assert sanitise_component("CON CON", max_bytes=4) == "CON_"
    assert sanitise_component("CONSOLE", max_bytes=3) == "CO"


def test_sanitise_component_fallback() -> None:
    assert sanitise_component("...", fallback="(untitled)") == "(untitled)"
    with pytest.raises(ValueError, match="fallback"):
        sanitise_component("x", fallback="a/b")


# --- whole names: path limits -----------------------------------------------------------------


def test_long_subjects_leave_room_for_the_collision_suffix() -> None:
    long = name(subject="x" * 300)
    assert long == f"20261122T101530Z {'x' * 223}.msg"  # 255 bytes less the 11 of " [ab12cd34]"
    assert len(with_collision_suffix(long, OTHER_SHA).encode()) == 255


@pytest.mark.parametrize(
    ("base_path_length", "max_path", "subject_length"),
    [
        (0, 260, 223),  # the 255-byte name limit binds first
        (10, 260, 216),  # then the path limit: 259 - 11 - 16 - 1 - 11 - 4
        (100, 260, 126),
        (200, 260, 26),
        (200, 300, 66),
        (200, None, 223),
        (227, 260, 0),  # the subject goes, the date stays
    ],
)
def test_the_path_limit_shortens_the_subject(base_path_length: int, max_path: int | None, subject_length: int) -> None:
    got = file_name(
        DEFAULT_TEMPLATE, facts(subject="x" * 300), ".msg", max_path=max_path, base_path_length=base_path_length
    )
    assert got == "20261122T101530Z" + (" " + "x" * subject_length if subject_length else "") + ".msg"
    assert_safe_name(got, max_path=max_path, base_path_length=base_path_length)


def test_path_length_counts_utf16_units_as_windows_does() -> None:
    assert path_length("abc") == 3
    assert path_length("é名") == 2
    assert path_length("😀") == 2
    got = file_name(DEFAULT_TEMPLATE, facts(subject="😀" * 100), ".msg", base_path_length=200)
    assert got == f"20261122T101530Z {'😀' * 13}.msg"  # 26 units, like 26 x's above


def test_when_nothing_can_be_cut_the_name_is_too_long() -> None:
    with pytest.raises(NameTooLong) as caught:
        file_name(DEFAULT_TEMPLATE, facts(subject="Hi"), ".msg", base_path_length=240)
    error = caught.value
    assert isinstance(error, PostroomError)
    assert error.path == "20261122T101530Z.msg"
    assert str(error) == (
        "name too long: the path may have at most 259 characters and the location's folder takes 240: "
        "20261122T101530Z.msg"
    )


def test_literal_text_longer_than_a_name_is_too_long() -> None:
    with pytest.raises(NameTooLong, match="at most 255 bytes"):
        file_name(NamingTemplate.parse("{date} " + "x" * 250), facts(), ".msg", max_path=None)


def test_the_subject_is_cut_first_then_the_other_text_fields() -> None:
    template = NamingTemplate.parse("{folder}/{from} {subject}")
    values = facts(folder="F" * 50, from_address="a" * 50, subject="s" * 100)
    got = file_name(template, values, ".msg", base_path_length=150)
    assert got == f"{'F' * 50}/{'a' * 42}.msg"  # 151 + 50 + 1 + 42 + 11 + 4 = 259
    assert_safe_name(got, base_path_length=150)


def test_dates_and_hashes_are_never_cut() -> None:
    template = NamingTemplate.parse("{subject} {message_id_hash} {date}")
    got = file_name(template, facts(subject="s" * 300), ".eml", base_path_length=200)
    assert got == f"{'s' * 17} {SHA[:8]} 20261122T101530Z.eml"


# --- collisions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("original", "suffixed"),
    [
        ("20261122T101530Z Hi.msg", f"20261122T101530Z Hi [{SHA[:8]}].msg"),
        ("2026/11/20261122T101530Z Hi.eml", f"2026/11/20261122T101530Z Hi [{SHA[:8]}].eml"),
        ("Report v1.2.msg", f"Report v1.2 [{SHA[:8]}].msg"),
        ("no extension", f"no extension [{SHA[:8]}]"),
        ("a.b/c", f"a.b/c [{SHA[:8]}]"),
        ("x.tar.gz", f"x.tar [{SHA[:8]}].gz"),
    ],
)
def test_collision_suffix(original: str, suffixed: str) -> None:
    assert with_collision_suffix(original, SHA) == suffixed


def test_collision_suffix_needs_a_hash_and_a_name() -> None:
    with pytest.raises(ValueError, match="64 lowercase hex"):
        with_collision_suffix("a.msg", "ab12cd34")
    with pytest.raises(ValueError, match="no file name"):
        with_collision_suffix("folder/", SHA)


# --- properties -------------------------------------------------------------------------------

NASTY = st.sampled_from(
    [
        *'<>:"/\\|?* .\t\n\x00\x7f\x85',
        *("CON", "com1", "LPT¹", "\u0301", "\u200d", "\ufe0f", "\U0001f1e9", "\U0001f3fd", "\u202e", "\ufeff"),
        *("\ud800", "é", "ǖ", "名", "😀", "\u2028", "a", "Z", "0"),
    ]
)
SUBJECTS = st.one_of(
    st.text(),
    st.lists(NASTY, max_size=80).map("".join),
    st.lists(st.one_of(NASTY, st.characters(exclude_categories=[])), max_size=400).map("".join),
)
TEMPLATES = st.sampled_from(
    [
        "{date} {subject}",
        "{subject}",
        "{year}/{month}/{date} {subject}",
        "{folder}/{from_name}/{subject} {message_id_hash}",
        "{from} - {to} - {subject} {date}",
        "{subject}/{subject}.{subject}",
        ". {subject} .",
        "CON{subject}",
    ]
)
ZONES = st.builds(timezone, st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23)))
DATES = st.one_of(st.none(), st.datetimes(timezones=ZONES))


@settings(max_examples=300, deadline=None)
@given(
    template=TEMPLATES,
    subject=SUBJECTS,
    other=SUBJECTS,
    date=DATES,
    extension=st.sampled_from([".msg", ".eml", ""]),
    max_path=st.one_of(st.none(), st.integers(150, 400)),
    base_path_length=st.integers(0, 180),
)
def test_every_name_is_safe_and_deterministic(
    template: str,
    subject: str,
    other: str,
    date: datetime | None,
    extension: str,
    max_path: int | None,
    base_path_length: int,
) -> None:
    values = facts(
        subject=subject, from_name=other, from_address=other[::-1], to=other, folder=other, date=date, message_id=other
    )
    parsed = NamingTemplate.parse(template)
    try:
        got = file_name(parsed, values, extension, max_path=max_path, base_path_length=base_path_length)
    except NameTooLong:
        assert max_path is not None
        assert max_path - base_path_length < 90  # only when the location's folder leaves little room
        return
    assert_safe_name(got, max_path=max_path, base_path_length=base_path_length)
    assert got.endswith(extension)
    assert got.count("/") == template.count("/")
    assert file_name(parsed, values, extension, max_path=max_path, base_path_length=base_path_length) == got


@given(subject=SUBJECTS, date=DATES)
def test_the_default_name_always_fits_a_short_location(subject: str, date: datetime | None) -> None:
    got = file_name(DEFAULT_TEMPLATE, facts(subject=subject, date=date), ".msg", base_path_length=150)
    assert_safe_name(got, base_path_length=150)
    try:
        utc = None if date is None else date.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 pushed out of range: no date
        utc = None
    expected = NO_DATE if utc is None else f"{utc.year:04d}{utc:%m%dT%H%M%S}Z"
    assert got.startswith(expected)


@given(text=SUBJECTS, max_bytes=st.integers(1, 255))
def test_sanitise_component_is_safe_and_idempotent(text: str, max_bytes: int) -> None:
    once = sanitise_component(text, max_bytes=max_bytes)
    assert_safe_component(once)
    assert len(once.encode()) <= max_bytes
    assert sanitise_component(once, max_bytes=max_bytes) == once


def test_the_suffix_never_doubles_a_space_before_the_extension() -> None:
    # found by hypothesis: an empty-looking stem "…Z " before the extension ".0"
    assert with_collision_suffix("00000000T000000Z .0", OTHER_SHA) == f"00000000T000000Z [{OTHER_SHA[:8]}].0"
