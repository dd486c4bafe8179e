"""Docs that tests keep true: every command, option and setting is documented."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import typer.main

from postroom.cli.main import app
from postroom.config import SETTING_NAMES

DOCS = Path(__file__).resolve().parent.parent / "docs"


def commands() -> Iterator[tuple[str, click.Command, click.Context]]:
    root = typer.main.get_command(app)

    def walk(cmd: click.Command, path: str, ctx: click.Context) -> Iterator[tuple[str, click.Command, click.Context]]:
        if hasattr(cmd, "list_commands"):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None
                yield from walk(sub, f"{path} {name}", click.Context(sub, parent=ctx))
        else:
            yield path, cmd, ctx

    return walk(root, "postroom", click.Context(root))


def test_every_command_and_option_is_in_docs_cli() -> None:
    text = (DOCS / "cli.md").read_text()
    sections = dict(re.findall(r"^### `(postroom [a-z -]+?)(?: [A-Z_ ]+)?`\n(.*?)(?=^##|\Z)", text, re.M | re.S))
    missing = []
    for path, cmd, ctx in commands():
        if path not in sections:
            missing.append(path)
            continue
        for param in cmd.get_params(ctx):
            flag = param.opts[0]
            if param.param_type_name == "option" and flag != "--help" and f"`{flag}`" not in sections[path]:
                missing.append(f"{path} {flag}")
    assert not missing, f"document these in docs/cli.md: {missing}"


def test_every_setting_is_in_docs_configuration() -> None:
    text = (DOCS / "configuration.md").read_text()
    missing = [name for name in SETTING_NAMES if f"`POSTROOM_{name.upper()}`" not in text]
    assert not missing, f"document these settings in docs/configuration.md: {missing}"


def test_readme_opens_with_the_two_commands() -> None:
    head = (DOCS.parent / "README.md").read_text().split("\n## ")[0]
    assert "make run" in head and "make test" in head
