"""``postroom convert IN.eml OUT.msg``: convert one message file, outside the archive."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from postroom.cli.common import err_console
from postroom.domain.message import extract_metadata
from postroom.errors import FieldError, InvalidInput
from postroom.formats.naming import MessageNameFacts
from postroom.services.exports import ExportedMessage, ExportFormat, convert_message

FormatOpt = Annotated[
    ExportFormat | None,
    typer.Option("--format", "-f", help="msg or eml (default: from the output's extension, else msg)."),
]


def convert(
    source: Annotated[Path, typer.Argument(help="The message as received (RFC 5322, e.g. a .eml file); - for stdin.")],
    output: Annotated[
        Path, typer.Argument(help="File to write, or an existing folder to write into under the default name.")
    ],
    format: FormatOpt = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
) -> None:
    """Convert a message to Outlook .msg (or copy it as .eml) with the archive's naming and checks."""
    raw = sys.stdin.buffer.read() if str(source) == "-" else _read(source)
    chosen = format or _format_of(output)
    facts = MessageNameFacts.from_metadata(extract_metadata(raw), content_sha256=hashlib.sha256(raw).hexdigest())
    write_output(convert_message(raw, facts, chosen), output, overwrite=overwrite)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(FieldError("source", f"cannot read {path}: {exc.strerror or exc}")) from exc


def _format_of(output: Path) -> ExportFormat:
    suffix = output.suffix.lower().lstrip(".")
    return ExportFormat(suffix) if suffix in {f.value for f in ExportFormat} else ExportFormat.MSG


def write_output(exported: ExportedMessage, output: Path | None, *, overwrite: bool) -> None:
    """Write to stdout (None), into a folder under the message's name, or to the file named.

    Into a folder the atomic writer is used: the same content already there counts as done and
    another file of that name is never replaced. A file named explicitly is replaced only with
    ``--overwrite``. Conversion warnings go to stderr.
    """
    from postroom.destinations.local import write_file_atomically

    for warning in exported.warnings:
        err_console.print(f"warning: {warning}", highlight=False)
    if output is None:
        sys.stdout.buffer.write(exported.data)
        sys.stdout.buffer.flush()
        return
    if output.is_dir():
        result = write_file_atomically(output, exported.file_name, exported.data, mtime=exported.time)
        verb = "wrote" if result.written else "already there:"
        err_console.print(f"{verb} {result.path}", highlight=False, soft_wrap=True)
        return
    if output.exists() and not overwrite:
        raise InvalidInput(FieldError("output", f"{output} exists; pass --overwrite to replace it"))
    folder = output.parent if str(output.parent) else Path()
    if not folder.is_dir():
        raise InvalidInput(FieldError("output", f"the folder {folder} does not exist"))
    temp = folder / f".{output.name}.postroom-tmp"
    try:
        temp.write_bytes(exported.data)
        temp.replace(output)
    finally:
        temp.unlink(missing_ok=True)
