"""Postroom's IMAP folder sync against mbsync (isync) and offlineimap3, on the same Dovecot mailbox.

Generates a seeded, realistic corpus (24 nested folders with non-ASCII names; messages of 2 KB to
2 MB, median ~37 KB and mean ~106 KB, so 20,000 messages are ~2.1 GB like the issue's reference;
encoded headers, 8-bit and quoted-printable text, HTML, base64 attachments, a few messages filed
twice), writes it straight into the Maildir of a private Dovecot (``postroom.testing.dovecot``;
IMAP APPEND on several connections when the layout on disk is not the expected one), and times,
in one run:

* **full**: a sync into an empty target (Postroom: a fresh data dir and SQLite database);
* **no-change**: the same sync again, nothing new at the source;
* **+1%**: the sync after 1 % new mail arrived (IMAP APPEND into several folders).

Each tool runs as its own process: ``postroom sync PROFILE --json`` (the venv's console script,
configured by ``POSTROOM_*`` variables), ``mbsync -a`` and ``offlineimap -o``. Wall time, CPU
time (user + system) and peak RSS are that process's own (GNU time); Dovecot's CPU is counted
for no one. Every tool uses IMAPS with certificate verification against the test CA and keeps
its default durability (all three fsync). Loading the corpus is timed and reported separately.

A benchmark of a broken sync is worthless. So after every Postroom full sync, each folder's
multiset of SHA-256 in the archive must equal what Dovecot serves (every message is fetched
once after loading, for reference), and every blob is read back and its hash verified. After
+1 % the new messages must be there too. The peers' Maildirs are counted.

    .venv/bin/python bench/sync_vs_peers.py                       # 2,000 messages, ~3 minutes
    .venv/bin/python bench/sync_vs_peers.py --messages 20000      # the issue's reference scale
    .venv/bin/python bench/sync_vs_peers.py --tools postroom,mbsync --repeat 1 --profile

``mbsync``, ``offlineimap`` and GNU ``time`` come from Debian's ``isync``, ``offlineimap3`` and
``time``. When missing, they are installed with apt-get if this runs as root; otherwise the
command to run is printed and the missing peer is left out. See bench/README.md for the details.
"""

from __future__ import annotations

import argparse
import base64
import compileall
import contextlib
import email.utils
import hashlib
import imaplib
import json
import os
import platform
import pstats
import quopri
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from imapclient import imap_utf7
from sqlalchemy import func, select

import postroom
from postroom.config import Settings
from postroom.db.archive import ArchiveFolder, ArchiveMailbox, FolderEntry, Message
from postroom.runtime import Runtime
from postroom.security.keyring import generate_key
from postroom.services import profiles
from postroom.services import secrets as secret_service
from postroom.services.access import Actor
from postroom.services.tenants import create_tenant
from postroom.testing.dovecot import Dovecot, append_message, create_folder, imap_utf7_encode

USER, PASSWORD = "bench", "bench-password-1"
REFERENCE = "the issue's reference: 20,000 messages / 2.2 GB in 24 folders, medians of 3"
MIN_SIZE, MAX_SIZE = 2 << 10, 2 << 20
SCENARIOS = ("full", "no-change", "+1%")
PEERS = {"mbsync": ("mbsync", "isync"), "offlineimap3": ("offlineimap", "offlineimap3")}
# Debian packages of what the benchmark runs: (binary, package); GNU time measures CPU and memory.
PACKAGES = {**PEERS, "time": ("/usr/bin/time", "time")}

# (path, share of the mail). Parents are real, selectable folders with mail of their own.
FOLDERS: list[tuple[str, float]] = [
    ("INBOX", 26),
    ("Sent", 12),
    ("Drafts", 0.5),
    ("Trash", 3),
    ("Junk", 2),
    ("Archive", 3),
    ("Archive/2023", 8),
    ("Archive/2024", 8),
    ("Projects", 1),
    ("Projects/Surrey Court", 4),
    ("Projects/Surrey Court/Drawings", 4),
    ("Projects/Surrey Court/Invoices", 2),
    ("Projects/Bâtiment Lyon", 3),
    ("Projects/Bâtiment Lyon/Pläne & Fotos", 2),
    ("Clients", 1),
    ("Clients/Müller GmbH", 3),
    ("Clients/Ørsted Øst", 2),
    ("Clients/東京支社", 2),
    ("Finance", 2),
    ("Finance/Rechnungen 2024", 3),
    ("HR", 1),
    ("Newsletters", 6),
    ("Receipts", 2),
    ("Travel ✈", 1.5),
]

PEOPLE = [
    ("Anna Müller", "anna.mueller@example.de"),
    ("Zoë Lefèvre", "zoe.lefevre@example.fr"),
    ("Søren Østergaard", "soren@example.dk"),
    ("田中 美咲", "tanaka@example.jp"),
    ("José Martínez", "jose.martinez@example.es"),
    ("Bob Smith", "bob@example.com"),
    ("Priya Natarajan", "priya@example.in"),
    ("Łukasz Wójcik", "lukasz@example.pl"),
    ("Chloé Dubois", "chloe@example.fr"),
    ("Surrey Court Site Office", "site@surreycourt.example.co.uk"),
    ("Accounts", "accounts@example.com"),
    ("Newsletter", "news@mailer.example.net"),
]
SUBJECTS = [
    "Drawings rev. {n} for Surrey Court",
    "Grüße aus München \N{EN DASH} Angebot {n}",
    "Réunion de chantier n°{n} : compte rendu",
    "東京オフィスの件 ({n})",
    "Rechnung Nr. {n} \N{EN DASH} Zahlungserinnerung",
    "Invoice {n} attached",
    "Re: Fwd: site visit {n}",
    "Møde om budget {n}",
    "Quarterly report Q{n}",
    "Your receipt #{n}",
    "Weekly newsletter \N{EN DASH} édition {n}",
    "Presupuesto revisado {n} — señal",
]
ATTACHMENTS = [
    ("Grundriss_EG_Änderung.pdf", "application/pdf"),
    ("Surrey Court \N{EN DASH} Elevation.dwg", "application/acad"),
    ("photo_chantier_été.jpg", "image/jpeg"),
    ("Rechnung_2024-03.pdf", "application/pdf"),
    ("見積書.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("minutes.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("scan0001.tif", "image/tiff"),
    ("plans.zip", "application/zip"),
]
TEXT = (
    "the invoice project meeting attached please find regards thanks tomorrow schedule delivery drawing "
    "revision site contractor architect budget approval planning permission structural engineer "
    "Rechnung Angebot Grüße Baustelle Besprechung Änderung Zeichnung bitte prüfen Termin "
    "réunion chantier plans façade devis été prochaine semaine merci cordialement "
    "møde tegninger næste uge tak hilsen 図面 会議 見積 よろしく お願いします 確認 "
    "presupuesto obra reunión señal año mañana"
)
WORDS = TEXT.split()


# --- corpus --------------------------------------------------------------------------------------


def encoded_word(text: str, rng: random.Random) -> str:
    """``text`` as RFC 2047 encoded-words (B, or Q for Latin-1), each under 76 characters."""
    if text.isascii():
        return text
    q = rng.random() < 0.2 and all(ord(c) < 256 for c in text)
    charset = "ISO-8859-1" if q else "UTF-8"
    chunks, chunk = [], ""
    for char in text:  # at most 40 bytes of text per word
        if len((chunk + char).encode(charset)) > 40:
            chunks.append(chunk)
            chunk = ""
        chunk += char
    chunks.append(chunk)
    if q:
        words = [quopri.encodestring(c.encode(charset), header=True).decode().replace("?", "=3F") for c in chunks]
        return "\r\n ".join(f"=?{charset}?Q?{w}?=" for w in words)
    return "\r\n ".join(f"=?{charset}?B?{base64.b64encode(c.encode()).decode()}?=" for c in chunks)


def address(person: tuple[str, str], rng: random.Random) -> str:
    name, addr = person
    return f"{encoded_word(name, rng)} <{addr}>" if not name.isascii() else f'"{name}" <{addr}>'


class Corpus:
    """Deterministic messages: the same seed gives the same bytes, on any machine."""

    def __init__(self, seed: int) -> None:
        pool_rng = random.Random(f"pool-{seed}")
        # Attachment material: incompressible (like PDFs, JPEGs, ZIPs), base64 in 76-char lines.
        self.binary = base64.encodebytes(pool_rng.randbytes(6 << 20)).replace(b"\n", b"\r\n")
        text_lines, length = [], 0
        while length < 1 << 20:
            line = " ".join(pool_rng.choices(WORDS, k=pool_rng.randint(6, 14)))
            text_lines.append((line[0].upper() + line[1:] + ".\r\n").encode())
            if pool_rng.random() < 0.15:
                text_lines.append(b"\r\n")
            length += len(text_lines[-1]) + 2
        self.text = b"".join(text_lines)
        # Compressible attachments (CSV, text exports): base64 of text.
        self.text_b64 = base64.encodebytes(self.text * 2).replace(b"\n", b"\r\n")

    def _slice_text(self, rng: random.Random, size: int) -> bytes:
        """About ``size`` bytes of whole CRLF-terminated lines."""
        pieces, length = [], 0
        while length < size:
            want = min(size - length, len(self.text) // 2)
            start = self.text.find(b"\r\n", rng.randrange(len(self.text) // 2)) + 2
            end = self.text.rfind(b"\r\n", start, start + want) + 2
            if end <= start:  # less than a line wanted: take one line
                end = self.text.find(b"\r\n", start) + 2
            pieces.append(self.text[start:end])
            length += end - start
        return b"".join(pieces)

    @staticmethod
    def _slice_b64(pool: bytes, rng: random.Random, size: int) -> bytes:
        lines = max(1, size // 78)
        start = rng.randrange((len(pool) // 78) - lines) * 78
        return pool[start : start + lines * 78]

    def message(self, rng: random.Random, index: int, when: datetime, tag: str = "") -> bytes:
        size = int(min(MAX_SIZE, max(MIN_SIZE, rng.lognormvariate(10.5, 1.5))))
        sender, recipient = rng.sample(PEOPLE, 2)
        others = rng.sample(PEOPLE, rng.randint(0, 4))
        subject = rng.choice(SUBJECTS).format(n=index)
        if rng.random() < 0.3:
            subject = "Re: " + subject
        boundary = f"=_bench_{index}_{rng.getrandbits(48):012x}"
        mid = f"<{tag}{index}.{rng.getrandbits(64):016x}@{sender[1].split('@')[1]}>"
        head = [
            f"Return-Path: <{sender[1]}>",
            f"Received: from mx{rng.randint(1, 9)}.example.net (mx.example.net [192.0.2.{rng.randint(1, 254)}])\r\n"
            f"\tby imap.example.com (Postfix) with ESMTPS id {rng.getrandbits(40):010X}\r\n"
            f"\tfor <{recipient[1]}>; {email.utils.format_datetime(when)}",
            "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.net; s=s1;\r\n"
            f"\tbh={base64.b64encode(rng.randbytes(32)).decode()};\r\n"
            f"\tb={base64.b64encode(rng.randbytes(96)).decode()}",
            f"From: {address(sender, rng)}",
            f"To: {address(recipient, rng)}",
        ]
        if others:
            head.append("Cc: " + ",\r\n ".join(address(p, rng) for p in others))
        head += [
            f"Subject: {encoded_word(subject, rng)}",
            f"Date: {email.utils.format_datetime(when - timedelta(seconds=rng.randint(5, 600)))}",
            f"Message-ID: {mid}",
        ]
        if subject.startswith("Re: "):
            head.append(f"In-Reply-To: <{index - 1}.{rng.getrandbits(64):016x}@example.org>")
        head.append("MIME-Version: 1.0")
        budget = size - 1500
        if size < 24_000 or rng.random() < 0.1:  # text only, or a big HTML newsletter
            body = self._text_part(rng, budget, boundary)
            head.append(body[0])
            parts = body[1]
        else:
            text_size = min(budget // 2, rng.randint(600, 12_000))
            alternative = self._text_part(rng, text_size, boundary + "_alt")
            head.append(f'Content-Type: multipart/mixed;\r\n\tboundary="{boundary}"')
            parts = b"This is a multi-part message in MIME format.\r\n\r\n"
            parts += f"--{boundary}\r\n{alternative[0]}\r\n\r\n".encode() + alternative[1]
            remaining = budget - text_size
            count = 1 if remaining < 200_000 else rng.randint(1, 3)
            for n in range(count):
                name, ctype = rng.choice(ATTACHMENTS)
                pool = self.text_b64 if rng.random() < 0.15 else self.binary
                data = self._slice_b64(pool, rng, remaining // count)
                disposition = (
                    f"attachment;\r\n\tfilename*=UTF-8''{quote(name)}"
                    if n % 2 == 0
                    else f'attachment;\r\n\tfilename="{encoded_word(name, rng)}"'
                )
                parts += (
                    f'\r\n--{boundary}\r\nContent-Type: {ctype};\r\n\tname="{encoded_word(name, rng)}"\r\n'
                    f"Content-Transfer-Encoding: base64\r\nContent-Disposition: {disposition}\r\n\r\n"
                ).encode() + data
            parts += f"\r\n--{boundary}--\r\n".encode()
        return "\r\n".join(head).encode() + b"\r\n\r\n" + parts

    def _text_part(self, rng: random.Random, size: int, boundary: str) -> tuple[str, bytes]:
        """(Content-Type and -Transfer-Encoding header lines, body) of a text or alternative part."""
        size = max(200, size)
        kind = rng.random()
        if kind < 0.45:
            return (
                "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit",
                self._slice_text(rng, size),
            )
        if kind < 0.6:
            text = self._slice_text(rng, size).decode().encode("iso-8859-1", "replace")
            return (
                "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable",
                quopri.encodestring(text).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"),
            )
        plain = self._slice_text(rng, size // 3)
        html = b"<html><body>\r\n" + self._slice_text(rng, size - size // 3).replace(b"\r\n", b"<br>\r\n")
        html += b"</body></html>\r\n"
        body = (
            f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        ).encode()
        body += plain + f"\r\n--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n".encode()
        body += b"Content-Transfer-Encoding: 8bit\r\n\r\n" + html + f"\r\n--{boundary}--\r\n".encode()
        return f'Content-Type: multipart/alternative;\r\n\tboundary="{boundary}"', body


@dataclass
class Generated:
    folder: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Planned:
    index: int
    folder: str
    when: datetime  # the internal date
    flags: tuple[str, ...]  # IMAP system flags
    copy_of: int | None  # a copy of this earlier message, filed in a second folder


def plan(count: int, seed: int) -> list[Planned]:
    rng = random.Random(f"plan-{seed}")
    names = [name for name, _ in FOLDERS]
    weights = [weight for _, weight in FOLDERS]
    start = datetime(2019, 1, 1, tzinfo=UTC)
    span = (datetime(2025, 6, 30, tzinfo=UTC) - start).total_seconds()
    planned: list[Planned] = []
    for index in range(count):
        folder = rng.choices(names, weights)[0]
        when = start + timedelta(seconds=int(span * index / max(1, count)) + rng.randint(0, 3600))
        flags = tuple(f for f, p in (("\\Flagged", 0.03), ("\\Answered", 0.2), ("\\Seen", 0.85)) if rng.random() < p)
        copy_of = rng.randrange(index) if index > 10 and rng.random() < 0.01 else None
        if copy_of is not None and planned[copy_of].folder == folder:
            copy_of = None
        if copy_of is not None:
            when = planned[copy_of].when
        planned.append(Planned(index, folder, when, flags, copy_of))
    return planned


def bytes_of(corpus: Corpus, planned: list[Planned], seed: int, index: int) -> bytes:
    copy_of = planned[index].copy_of
    original = index if copy_of is None else copy_of
    return corpus.message(random.Random(f"message-{seed}-{original}"), original, planned[original].when)


# --- loading into Dovecot ------------------------------------------------------------------------

MAILDIR_FLAGS = {"\\Flagged": "F", "\\Answered": "R", "\\Seen": "S"}
LOAD_CONNECTIONS = 4


def maildir_locator(server: Dovecot) -> Callable[[str], Path] | None:
    """Where Dovecot keeps each folder's maildir, found on disk; None when the layout is unknown.

    The test Dovecot uses ``LAYOUT=fs`` with modified UTF-7 names and each maildir in a fixed
    subdirectory of its folder: the INBOX maildir shows both the root and that subdirectory.
    """
    maildirs = [
        Path(path)
        for path, dirs, _files in os.walk(server.directory)
        if {"cur", "new", "tmp"} <= set(dirs) and "INBOX" in Path(path).parts
    ]
    if len(maildirs) != 1:
        return None
    parts = maildirs[0].parts
    inbox = parts.index("INBOX")
    root, suffix = Path(*parts[:inbox]), parts[inbox + 1 :]

    def locate(folder: str) -> Path:
        return root.joinpath(*(imap_utf7_encode(part) for part in folder.split("/")), *suffix)

    return locate if all((locate(name) / "cur").is_dir() for name, _ in FOLDERS) else None


def load(server: Dovecot, corpus: Corpus, count: int, seed: int, how: str) -> tuple[list[Generated], str]:
    """Create the folders, then load the corpus; return what was loaded and how.

    The fast way writes every message straight into its maildir's ``cur``, as Dovecot itself
    would (CRLF content, ``S=``/``W=`` sizes in the name, flags after ``:2,``, the internal date
    as mtime, owned by the mail user; a copy is a hard link, as Dovecot's COPY makes it); Dovecot
    indexes the files at the first SELECT. When the layout on disk is not the one expected, the
    messages are APPENDed over several connections instead.
    """
    with server.connect_imaplib(USER, PASSWORD) as imap:
        for name, _ in FOLDERS:
            if name != "INBOX":
                create_folder(imap, name)
        imap.select("INBOX")  # makes sure the INBOX maildir exists on disk
        imap.close()
    planned = plan(count, seed)
    locate = maildir_locator(server) if how == "maildir" else None
    if locate is None:
        return append_all(server, corpus, planned, seed), f"IMAP APPEND on {LOAD_CONNECTIONS} connections"
    owner = locate("INBOX").stat()
    generated: list[Generated] = []
    paths: list[Path] = []
    for item in planned:
        stamp = int(item.when.timestamp())
        flags = "".join(sorted(MAILDIR_FLAGS[f] for f in item.flags))
        if item.copy_of is not None:
            original = generated[item.copy_of]
            name = f"{stamp}.M{item.index}P{os.getpid()}.bench,S={original.size},W={original.size}:2,{flags}"
            path = locate(item.folder) / "cur" / name
            path.hardlink_to(paths[item.copy_of])
            generated.append(Generated(item.folder, original.sha256, original.size))
            paths.append(path)
            continue
        raw = bytes_of(corpus, planned, seed, item.index)
        name = f"{stamp}.M{item.index}P{os.getpid()}.bench,S={len(raw)},W={len(raw)}:2,{flags}"
        path = locate(item.folder) / "cur" / name
        path.write_bytes(raw)
        os.chown(path, owner.st_uid, owner.st_gid)
        path.chmod(0o600)
        os.utime(path, (stamp, stamp))
        generated.append(Generated(item.folder, hashlib.sha256(raw).hexdigest(), len(raw)))
        paths.append(path)
    return generated, "written straight into Dovecot's Maildir"


def append_all(server: Dovecot, corpus: Corpus, planned: list[Planned], seed: int) -> list[Generated]:
    def worker(share: list[Planned]) -> list[tuple[int, Generated]]:
        done = []
        with server.connect_imaplib(USER, PASSWORD) as imap:
            for item in share:
                raw = bytes_of(corpus, planned, seed, item.index)
                append_message(imap, item.folder, raw, item.flags, item.when)
                done.append((item.index, Generated(item.folder, hashlib.sha256(raw).hexdigest(), len(raw))))
        return done

    shares = [planned[n::LOAD_CONNECTIONS] for n in range(LOAD_CONNECTIONS)]
    with ThreadPoolExecutor(LOAD_CONNECTIONS) as pool:
        results = [pair for done in pool.map(worker, shares) for pair in done]
    return [generated for _index, generated in sorted(results, key=lambda pair: pair[0])]


def imap_folders(imap: imaplib.IMAP4) -> list[str]:
    """The raw (modified UTF-7, quoted) names of every selectable folder."""
    _typ, listing = imap.list()
    names = []
    for line in listing:
        assert isinstance(line, bytes)
        flags, _, rest = line.partition(b") ")
        if b"\\Noselect" in flags:
            continue
        names.append(rest.split(b" ", 1)[1].decode("ascii"))
    return names


def decode_folder(raw: str) -> str:
    return str(imap_utf7.decode(raw.strip('"').encode("ascii")))


def server_hashes(server: Dovecot) -> dict[str, Counter[str]]:
    """Folder → multiset of SHA-256 of every message exactly as Dovecot serves it (BODY.PEEK[]).

    Also indexes every folder, so no tool pays for Dovecot's first look at the new files.
    """
    out: dict[str, Counter[str]] = {}
    with server.connect_imaplib(USER, PASSWORD) as imap:
        for raw in imap_folders(imap):
            imap.select(raw, readonly=True)
            _typ, data = imap.uid("SEARCH", "ALL")
            uids = data[0].decode().split()
            hashes: Counter[str] = Counter()
            for start in range(0, len(uids), 50):
                chunk = ",".join(uids[start : start + 50])
                _typ, fetched = imap.uid("FETCH", chunk, "(BODY.PEEK[])")
                for item in fetched:
                    if isinstance(item, tuple):
                        hashes[hashlib.sha256(item[1]).hexdigest()] += 1
            out[decode_folder(raw)] = hashes
            imap.close()
    return out


def add_new_mail(server: Dovecot, corpus: Corpus, count: int, seed: int, round_: int) -> list[tuple[str, int, str]]:
    """APPEND ``count`` new messages (like mail arriving); return (folder, uid, sha256) of each."""
    added = []
    rng = random.Random(f"new-mail-{seed}-{round_}")
    names = [name for name, _ in FOLDERS]
    weights = [weight for _, weight in FOLDERS]
    now = datetime(2025, 7, 1, tzinfo=UTC) + timedelta(days=round_)
    with server.connect_imaplib(USER, PASSWORD) as imap:
        for index in range(count):
            folder = rng.choices(names, weights)[0]
            when = now + timedelta(minutes=index)
            raw = corpus.message(random.Random(f"new-{seed}-{round_}-{index}"), index, when, tag=f"new{round_}-")
            uid = append_message(imap, folder, raw, (), when)
            assert uid is not None
            added.append((folder, uid, hashlib.sha256(raw).hexdigest()))
    return added


def remove_mail(server: Dovecot, added: list[tuple[str, int, str]]) -> None:
    """Expunge exactly the messages ``add_new_mail`` added, back to the base corpus."""
    by_folder: dict[str, list[int]] = {}
    for folder, uid, _sha in added:
        by_folder.setdefault(folder, []).append(uid)
    with server.connect_imaplib(USER, PASSWORD) as imap:
        for folder, uids in by_folder.items():
            imap.select('"' + imap_utf7_encode(folder) + '"')
            uid_set = ",".join(map(str, uids))
            imap.uid("STORE", uid_set, "+FLAGS.SILENT", "(\\Deleted)")
            imap.uid("EXPUNGE", uid_set)
            imap.close()


# --- measuring -----------------------------------------------------------------------------------


@dataclass
class Sample:
    wall: float
    cpu: float
    rss_mb: float


GNU_TIME = "/usr/bin/time"
SETTLE = 1.1
"""Seconds between one run's end and the next run's start: mbsync (like Dovecot) does not trust
a maildir modified in the current second and waits for the next one; syncs are never seconds apart."""


def measure(command: Sequence[str], log: Path, env: dict[str, str] | None = None) -> tuple[Sample, str]:
    """Run ``command``; its wall time, CPU time and peak RSS, and its stdout.

    CPU and peak RSS come from GNU time, which is small: a child forked from this benchmark would
    report this process's RSS as its own peak (Linux keeps the pre-exec high-water mark). Without
    GNU time, ``wait4`` is used and peak RSS is at least this process's size.
    """
    stdout, usage_file = log.with_suffix(".out"), log.with_suffix(".rusage")
    time.sleep(SETTLE)
    timed = [GNU_TIME, "-f", "%U %S %M", "-o", str(usage_file), *command] if Path(GNU_TIME).exists() else command
    with stdout.open("wb") as out, log.open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(timed, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
        _pid, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    text = stdout.read_text(errors="replace")
    if process.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise RuntimeError(f"{command[0]} exited with {process.returncode}:\n{text[-2000:]}\n{tail}")
    if timed is command:
        return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024), text
    user, system, max_kb = usage_file.read_text().split()[-3:]
    return Sample(wall, float(user) + float(system), int(max_kb) / 1024), text


def count_maildir(root: Path) -> int:
    """Messages in a Maildir tree (files in any ``cur`` or ``new``)."""
    return sum(1 for path in root.rglob("*") if path.parent.name in ("cur", "new") and path.is_file())


class Tool:
    name = ""

    def __init__(self, server: Dovecot, work: Path) -> None:
        self.server = server
        self.work = work
        self.target = work

    def prepare(self, target: Path) -> None:
        """A fresh, empty target (not timed)."""
        raise NotImplementedError

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str] | None:
        return None

    def check(self, scenario: str, expected: int, new: int, stdout: str) -> None:
        """Raise when the sync did not end with ``expected`` messages (``new`` of them new)."""
        raise NotImplementedError

    def run(self, scenario: str, round_: int, expected: int, new: int) -> Sample:
        log = self.work / f"{self.name}-{round_}-{scenario.replace('%', 'pct')}.log"
        sample, stdout = measure(self.command(), log, self.env())
        self.check(scenario, expected, new, stdout)
        return sample


class PostroomTool(Tool):
    name = "postroom"

    def prepare(self, target: Path) -> None:
        self.target = target
        self.key = generate_key()
        # Every setting the run depends on, explicitly: none may come from this shell's POSTROOM_*.
        self.variables = {
            "POSTROOM_DATA_DIR": str(target),
            "POSTROOM_DATABASE_URL": f"sqlite:///{target / 'postroom.db'}",
            "POSTROOM_BLOB_DIR": str(target / "blobs"),
            "POSTROOM_SECRET_KEY": self.key,
        }
        self.settings = Settings(
            data_dir=target,
            database_url=self.variables["POSTROOM_DATABASE_URL"],
            blob_dir=target / "blobs",
            secret_key=self.key,
        )
        runtime = Runtime.open(self.settings, upgrade=True)
        try:
            with runtime.transaction() as session:
                tenant = create_tenant(session, Actor.local_admin(), "bench", "Benchmark")
                secret = secret_service.create_secret(
                    session,
                    runtime.secret_box,
                    tenant.id,
                    f"login {USER}",
                    "basic",
                    {"username": USER, "password": PASSWORD},
                )
                profile = profiles.create_profile(
                    session,
                    tenant.id,
                    {
                        "name": "bench",
                        "type": "imap",
                        "mode": "single",
                        "server_name": self.server.host,
                        "port": self.server.imaps_port,
                        "protocol": "IMAP-SSL",
                        "secret_id": secret.id,
                        "mailbox": f"{USER}@example.test",
                        "timeout": 60,
                        "tls_trusted_ca": self.server.ca_cert_path.read_text(),
                    },
                )
                self.tenant_id, self.profile_id = tenant.id, profile.id
        finally:
            runtime.close()

    def command(self) -> list[str]:
        return [postroom_script(), "sync", self.profile_id, "--json"]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("POSTROOM_") or k == "POSTROOM_SYNC_CONNECTIONS"}
        return env | self.variables

    def check(self, scenario: str, expected: int, new: int, stdout: str) -> None:
        summary = json.loads(stdout)
        counts = summary.get("counts", {})
        if summary.get("status") != "succeeded" or counts.get("new") != new or counts.get("failed"):
            raise RuntimeError(f"postroom {scenario}: expected {new} new, got {json.dumps(summary)[:2000]}")

    def archive(self) -> tuple[dict[str, Counter[str]], Runtime]:
        runtime = Runtime.open(self.settings)
        out: dict[str, Counter[str]] = {}
        with runtime.sessions() as session:
            rows = session.execute(
                select(ArchiveFolder.path, Message.sha256)
                .join(ArchiveMailbox, ArchiveMailbox.id == ArchiveFolder.mailbox_id)
                .join(FolderEntry, FolderEntry.folder_id == ArchiveFolder.id)
                .join(Message, Message.id == FolderEntry.message_id)
                .where(ArchiveMailbox.tenant_id == self.tenant_id, FolderEntry.vanished_at.is_(None))
            ).all()
        for path, sha in rows:
            out.setdefault(path, Counter())[sha] += 1
        return out, runtime

    def verify(self, expected: dict[str, Counter[str]], *, blobs: bool) -> str:
        """Compare the archive with what the server serves; read back and verify the blobs."""
        archived, runtime = self.archive()
        try:
            problems = []
            for folder in sorted(set(expected) | set(archived)):
                want, got = expected.get(folder, Counter()), archived.get(folder, Counter())
                if want != got:
                    missing, extra = sum((want - got).values()), sum((got - want).values())
                    problems.append(f"{folder!r}: {missing} missing, {extra} unexpected")
            if problems:
                raise RuntimeError("Postroom's archive differs from the server:\n  " + "\n  ".join(problems))
            checked = stored = 0
            if blobs:
                with runtime.sessions() as session:
                    stored = (
                        session.scalar(select(func.sum(Message.stored_size)).where(Message.tenant_id == self.tenant_id))
                        or 0
                    )
                for sha in {sha for counts in archived.values() for sha in counts}:
                    if not runtime.blobs.verify(self.tenant_id, sha):
                        raise RuntimeError(f"blob {sha} does not verify")
                    checked += 1
        finally:
            runtime.close()
        total = sum(sum(c.values()) for c in archived.values())
        text = f"{total} messages in {len(archived)} folders identical to the server"
        if blobs:
            text += f"; {checked} blobs ({stored / 1e6:,.0f} MB compressed) read back and verified"
        return text


class MbsyncTool(Tool):
    name = "mbsync"

    def prepare(self, target: Path) -> None:
        self.target = target
        (target / "mail").mkdir(parents=True)
        self.config = target / "mbsyncrc"
        self.config.write_text(
            f"""\
IMAPAccount bench
Host localhost
Port {self.server.imaps_port}
User {USER}
Pass {PASSWORD}
SSLType IMAPS
CertificateFile {self.server.ca_cert_path}

IMAPStore remote
Account bench

MaildirStore local
Path {target}/mail/
Inbox {target}/mail/INBOX
SubFolders Verbatim

Channel bench
Far :remote:
Near :local:
Patterns *
Create Both
Sync Pull
Expunge None
SyncState *
"""
        )

    def command(self) -> list[str]:
        return ["mbsync", "-q", "-c", str(self.config), "-a"]

    def check(self, scenario: str, expected: int, new: int, stdout: str) -> None:
        found = count_maildir(self.target / "mail")
        if found != expected:
            raise RuntimeError(f"mbsync {scenario}: {found} messages in its Maildir, expected {expected}")


class OfflineimapTool(Tool):
    name = "offlineimap3"
    connections = 2  # offlineimap's documented example; one per core here

    def prepare(self, target: Path) -> None:
        self.target = target
        (target / "mail").mkdir(parents=True)
        self.config = target / "offlineimaprc"
        self.config.write_text(
            f"""\
[general]
accounts = bench
metadata = {target}/metadata
maxsyncaccounts = 1
ui = quiet

[Account bench]
localrepository = local
remoterepository = remote
synclabels = no

[Repository local]
type = Maildir
localfolders = {target}/mail
sep = /

[Repository remote]
type = IMAP
remotehost = localhost
remoteport = {self.server.imaps_port}
remoteuser = {USER}
remotepass = {PASSWORD}
ssl = yes
sslcacertfile = {self.server.ca_cert_path}
maxconnections = {self.connections}
readonly = True
"""
        )

    def command(self) -> list[str]:
        return ["offlineimap", "-c", str(self.config), "-o", "-u", "quiet"]

    def check(self, scenario: str, expected: int, new: int, stdout: str) -> None:
        found = count_maildir(self.target / "mail")
        if found != expected:
            raise RuntimeError(f"offlineimap3 {scenario}: {found} messages in its Maildir, expected {expected}")


TOOLS: dict[str, type[Tool]] = {"postroom": PostroomTool, "mbsync": MbsyncTool, "offlineimap3": OfflineimapTool}


def postroom_script() -> str:
    script = Path(sys.prefix) / "bin" / "postroom"
    return str(script) if script.exists() else shutil.which("postroom") or "postroom"


def ensure_packages(tools: list[str]) -> list[str]:
    """Install missing peers (and GNU time) from Debian's packages when root; else say how.

    Returns the tools that can run: a peer that is still missing is left out.
    """
    wanted = [name for name in [*tools, "time"] if name in PACKAGES]
    missing = [name for name in wanted if shutil.which(PACKAGES[name][0]) is None]
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        packages = [PACKAGES[name][1] for name in missing]
        print(f"installing {' '.join(packages)} from Debian's packages ...", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", *packages]
        if subprocess.run(install, env=env, check=False, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, check=False, capture_output=True)
            subprocess.run(install, env=env, check=False, capture_output=True)
    still = [name for name in missing if shutil.which(PACKAGES[name][0]) is None]
    if still:
        print(
            f"not installed: {', '.join(still)} (install with: sudo apt-get install "
            f"{' '.join(PACKAGES[n][1] for n in still)}); peers left out, and without GNU time peak RSS "
            "includes this benchmark's own size",
            flush=True,
        )
    return [name for name in tools if name not in still]


def version_of(command: list[str]) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=30)
    except OSError:
        return "not installed"
    lines = (result.stdout + result.stderr).strip().splitlines()
    return lines[0] if lines else "?"


def machine_line() -> str:
    """CPUs, their model, memory and platform: the first line of every bench table's preamble."""
    cpu = "?"
    with contextlib.suppress(OSError):
        match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        cpu = match.group(1) if match else cpu
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"machine: {len(os.sched_getaffinity(0))} CPUs ({cpu}), {memory:.0f} GB RAM, {platform.platform()}"


def machine() -> list[str]:
    return [
        machine_line(),
        f"python {platform.python_version()}; dovecot {version_of(['dovecot', '--version'])}; "
        f"{version_of(['mbsync', '--version'])}; offlineimap {version_of(['offlineimap', '--version'])}",
    ]


# --- the run -------------------------------------------------------------------------------------


@dataclass
class Results:
    samples: dict[tuple[str, str], list[Sample]] = field(default_factory=dict)

    def add(self, tool: str, scenario: str, sample: Sample) -> None:
        self.samples.setdefault((tool, scenario), []).append(sample)

    def median(self, tool: str, scenario: str) -> Sample | None:
        samples = self.samples.get((tool, scenario))
        if not samples:
            return None
        return Sample(
            statistics.median(s.wall for s in samples),
            statistics.median(s.cpu for s in samples),
            max(s.rss_mb for s in samples),
        )


def table(results: Results, tools: list[str], messages: dict[str, int]) -> str:
    peers = [p for p in PEERS if p in tools]
    head = ["tool", "scenario", "wall s (median)", "range s", "CPU s", "peak RSS MB", "messages/s"]
    head += [f"x {p}" for p in peers]
    rows = [head, ["---"] * len(head)]
    for scenario in SCENARIOS:
        for tool in tools:
            median = results.median(tool, scenario)
            if median is None:
                continue
            walls = [s.wall for s in results.samples[(tool, scenario)]]
            count = messages[scenario]
            rate = f"{count / median.wall:,.0f}" if count else "—"
            row = [tool, scenario, f"{median.wall:.2f}", f"{min(walls):.2f}-{max(walls):.2f}"]
            row += [f"{median.cpu:.2f}", f"{median.rss_mb:.0f}", rate]
            for peer in peers:
                other = results.median(peer, scenario)
                row.append(f"{median.wall / other.wall:.2f}" if other else "—")
            rows.append(row)
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def profile_postroom(server: Dovecot, work: Path, top: int) -> None:
    """One extra, untimed Postroom full sync and then a no-change resync under cProfile; print
    where their time went (the resync's is mostly start-up: imports, settings, the database)."""
    tool = PostroomTool(server, work)
    tool.prepare(work / "profile-postroom")
    for scenario in ("full sync", "no-change resync"):
        stats_path = work / f"postroom-{scenario.split()[0]}.prof"
        code = (
            "import cProfile, sys; from postroom.cli.main import run; "
            f"sys.argv = ['postroom', 'sync', {tool.profile_id!r}, '--json']; "
            f"cProfile.run('run()', {str(stats_path)!r})"
        )
        sample, _ = measure([sys.executable, "-c", code], work / "profile.log", tool.env())
        print(f"\ncProfile of one Postroom {scenario} ({sample.wall:.2f} s wall under the profiler):")
        stats = pstats.Stats(str(stats_path))
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000, help="corpus size (reference: 20000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the table shows medians")
    parser.add_argument("--tools", default="postroom,mbsync,offlineimap3", help="comma-separated subset")
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary targets go")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, targets)")
    parser.add_argument("--profile", action="store_true", help="also cProfile a Postroom full sync and resync")
    parser.add_argument(
        "--load", choices=("maildir", "append"), default="maildir", help="write files (fast; falls back) or APPEND"
    )
    args = parser.parse_args()
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = set(tools) - set(TOOLS)
    if unknown:
        parser.error(f"unknown tools {sorted(unknown)}; choose from {', '.join(TOOLS)}")
    tools = ensure_packages(tools)

    work = Path(tempfile.mkdtemp(prefix="postroom-bench-", dir=args.dir))
    try:
        with Dovecot() as server:
            run(server, work, tools, args)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def run(server: Dovecot, work: Path, tools: list[str], args: argparse.Namespace) -> None:
    for line in machine():
        print(line)
    share = "the reference scale" if args.messages == 20_000 else f"{args.messages / 20_000:.0%} of the reference scale"
    print(
        f"scale: {args.messages:,} messages ({share}), seed {args.seed}, {args.repeat} round(s); {REFERENCE}",
        flush=True,
    )
    # As a wheel install leaves it: every module compiled. The editable install compiles on first
    # import, and not at all where PYTHONDONTWRITEBYTECODE is set (then each run pays ~0.1 s).
    compileall.compile_dir(str(Path(postroom.__file__).parent), quiet=1, workers=0)
    server.add_user(USER, PASSWORD)
    started = time.perf_counter()
    corpus = Corpus(args.seed)
    generated, how = load(server, corpus, args.messages, args.seed, args.load)
    loaded = time.perf_counter() - started
    total_mb = sum(g.size for g in generated) / 1e6
    started = time.perf_counter()
    expected = server_hashes(server)
    indexed = time.perf_counter() - started
    from_corpus: dict[str, Counter[str]] = {}
    for g in generated:
        from_corpus.setdefault(g.folder, Counter())[g.sha256] += 1
    if {folder: hashes for folder, hashes in expected.items() if hashes} != from_corpus:
        raise RuntimeError("Dovecot does not serve the corpus exactly as it was generated")
    sizes = sorted(g.size for g in generated)
    print(
        f"corpus: {len(generated):,} messages, {total_mb:,.0f} MB in {len(expected)} folders "
        f"(sizes: median {sizes[len(sizes) // 2] / 1e3:.0f} KB, mean {total_mb * 1e3 / len(sizes):.0f} KB, "
        f"max {sizes[-1] / 1e6:.1f} MB; {len(generated) - len({g.sha256 for g in generated})} copies filed twice)"
    )
    print(
        f"load (not in any result): {loaded:.1f} s generated and {how}; {indexed:.1f} s for Dovecot to index "
        "it and serve every message once, hashed as the reference the archive is verified against",
        flush=True,
    )

    results = Results()
    added_count = max(1, args.messages // 100)
    messages = {"full": args.messages, "no-change": 0, "+1%": added_count}
    for round_ in range(1, args.repeat + 1):
        instances = {name: TOOLS[name](server, work) for name in tools}
        for name, tool in instances.items():
            tool.prepare(work / f"{name}-{round_}")
            results.add(name, "full", tool.run("full", round_, args.messages, args.messages))
            if isinstance(tool, PostroomTool):
                print(f"  round {round_}: verified Postroom: {tool.verify(expected, blobs=round_ == 1)}", flush=True)
            results.add(name, "no-change", tool.run("no-change", round_, args.messages, 0))
        added = add_new_mail(server, corpus, added_count, args.seed, round_)
        try:
            for name, tool in instances.items():
                results.add(name, "+1%", tool.run("+1%", round_, args.messages + added_count, added_count))
                if isinstance(tool, PostroomTool):
                    with_new = {k: Counter(v) for k, v in expected.items()}
                    for folder, _uid, sha in added:
                        with_new.setdefault(folder, Counter())[sha] += 1
                    tool.verify(with_new, blobs=False)
        finally:
            remove_mail(server, added)
        summary = ", ".join(
            f"{name} {results.samples[(name, 'full')][-1].wall:.1f}/"
            f"{results.samples[(name, 'no-change')][-1].wall:.2f}/{results.samples[(name, '+1%')][-1].wall:.2f} s"
            for name in tools
        )
        print(f"  round {round_} (full/no-change/+1%): {summary}", flush=True)
        if not args.keep:
            for name in tools:
                shutil.rmtree(work / f"{name}-{round_}", ignore_errors=True)

    print(
        f"\n{args.messages:,} messages, {total_mb:,.0f} MB, {len(expected)} folders; +1% = {added_count} new "
        f"messages; medians of {args.repeat}; x peer = wall / peer's wall (below 1 is faster)\n"
    )
    print(table(results, tools, messages))
    if args.profile and "postroom" in tools:
        profile_postroom(server, work, 25)


if __name__ == "__main__":
    main()
