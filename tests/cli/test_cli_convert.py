"""postroom convert: a message file to .msg (or .eml) without the archive."""

from __future__ import annotations

from pathlib import Path

import extract_msg

from tests.cli.conftest import Cli
from tests.sync.conftest import make_message


def test_convert_to_a_named_file_and_into_a_folder(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "in.eml"
    source.write_bytes(make_message("Surrey Court: drawings?", "See the plans."))
    target = tmp_path / "out.msg"
    cli("convert", str(source), str(target))
    with extract_msg.openMsg(str(target)) as opened:
        assert opened.subject == "Surrey Court: drawings?"
        assert opened.body.strip() == "See the plans."
    folder = tmp_path / "folder"
    folder.mkdir()
    cli("convert", str(source), str(folder))
    [named] = folder.iterdir()
    assert named.name == "20261122T101530Z Surrey Court_ drawings_.msg"  # safe on Windows shares
    assert named.read_bytes() == target.read_bytes()
    copied = tmp_path / "copy.eml"
    cli("convert", str(source), str(copied))  # .eml: the bytes as they are
    assert copied.read_bytes() == source.read_bytes()


def test_convert_refuses_what_it_cannot_do(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "in.eml"
    source.write_bytes(make_message("once"))
    target = tmp_path / "out.msg"
    cli("convert", str(source), str(target))
    assert "--overwrite" in cli.fails("convert", str(source), str(target))
    cli("convert", str(source), str(target), "--overwrite")
    assert "cannot read" in cli.fails("convert", str(tmp_path / "missing.eml"), str(target))
    assert "does not exist" in cli.fails("convert", str(source), str(tmp_path / "no" / "such" / "out.msg"))


def test_a_message_without_date_or_from_converts_with_warnings(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "bare.eml"
    source.write_bytes(b"Subject: bare\r\n\r\nno date, no sender\r\n")
    result = cli.run("convert", str(source), str(tmp_path / "bare.msg"))
    assert result.code == 0, result.stderr
    assert "warning:" in result.stderr
    with extract_msg.openMsg(str(tmp_path / "bare.msg")) as opened:
        assert opened.subject == "bare"
