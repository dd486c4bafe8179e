"""Blob store throughput: put (fsync per blob vs batch sync), dedup hits, get and verify.

Generates email-like messages of 2 KB to 2 MB (median ~36 KB, mean ~110 KB, like the issue's
20,000-message / 2.2 GB corpus): headers, text and, for half of those over 20 KB, a base64
attachment of random bytes (attachments are mostly compressed already, so they barely shrink).
Prints a Markdown table; each row is the median of --repeat runs.

    .venv/bin/python bench/blobstore_bench.py [--messages 2000] [--level 3] [--dir /var/tmp]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import zstandard

from postroom.archive.blobstore import LocalBlobStore

TENANT = "bench"
THREADS = 4
Row = tuple[str, float, float]
TEXT = (
    "the invoice project meeting attached please find regards thanks tomorrow schedule delivery "
    "Rechnung Angebot Grüße order report quarterly budget review draft final contract signed "
    "shipment warehouse customer support ticket résumé naïve café update status call agenda"
)
WORDS = TEXT.split()


def corpus(count: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    pool = base64.encodebytes(rng.randbytes(3 << 20))  # 4 MB of attachment material
    messages = []
    for index in range(count):
        size = int(min(2 << 20, max(2 << 10, rng.lognormvariate(10.5, 1.5))))
        head = (
            f"Return-Path: <sender{index}@example.org>\r\n"
            f"Message-ID: <{index}.{rng.random()}@example.org>\r\n"
            f"Date: Mon, 3 Mar 2025 10:{index % 60:02d}:00 +0100\r\nFrom: Zoë Müller <zoe@example.org>\r\n"
            f"To: team@example.com\r\nSubject: =?utf-8?q?Re=3A_Grüße?= {rng.choice(WORDS)} {index}\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        ).encode()
        with_attachment = rng.random() < 0.5 and size > 20_000
        text_size = min(size, 15_000) if with_attachment else size
        text = bytearray()
        while len(text) < text_size:
            text += (" ".join(rng.choices(WORDS, k=12)) + "\r\n").encode()
        body = head + bytes(text[:text_size])
        if with_attachment:
            start = rng.randrange(len(pool) - size)
            body += b'\r\n--b1\r\nContent-Disposition: attachment; filename="report.pdf"\r\n\r\n'
            body += pool[start : start + size - len(body)]
        messages.append(body + b"\r\n--b1--\r\n")
    return messages


def timed(run: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def chunks(items: Sequence[bytes], size: int) -> Iterable[Sequence[bytes]]:
    return (items[start : start + size] for start in range(0, len(items), size))


def evict(store: LocalBlobStore, hashes: Iterable[str]) -> None:
    """Drop the blobs from the page cache so a read goes to the disk (clean pages, no root needed)."""
    for sha in hashes:
        fd = os.open(store.path(TENANT, sha), os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def measure(messages: Sequence[bytes], scratch: Path, level: int, batch_size: int) -> list[Row]:
    """One run of every row, each put row into a fresh store."""
    hashes = [hashlib.sha256(data).hexdigest() for data in messages]
    rows: list[Row] = []

    def run(name: str, work: Callable[[], object]) -> None:
        rows.append((name, *timed(work)))

    def put_batched(store: LocalBlobStore, items: Sequence[bytes]) -> None:
        for batch in chunks(items, batch_size):
            with store.batch():
                for data in batch:
                    store.put(TENANT, data)

    compressor = zstandard.ZstdCompressor(level=level)
    run(
        "hash + compress only (no I/O)",
        lambda: [compressor.compress(d) for d in messages if hashlib.sha256(d)],
    )

    per_blob = LocalBlobStore(scratch / "per-blob", level=level)

    def put_each_durable() -> None:
        for data in messages:
            per_blob.put(TENANT, data)
            per_blob.sync()

    run("put, fsync + sync() per blob", put_each_durable)

    batched = LocalBlobStore(scratch / "batched", level=level)
    run(f"put, sync() per {batch_size}", lambda: put_batched(batched, messages))

    threaded = LocalBlobStore(scratch / "threaded", level=level)

    def put_in_threads() -> None:
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(lambda part: put_batched(threaded, part), [messages[k::THREADS] for k in range(THREADS)]))

    run(f"put, sync() per {batch_size}, {THREADS} threads", put_in_threads)
    run("put, all already stored (dedup)", lambda: put_batched(batched, messages))
    run("get (page cache)", lambda: [batched.get(TENANT, sha) for sha in hashes])
    run("verify (page cache)", lambda: all(batched.verify(TENANT, sha) for sha in hashes))
    evict(batched, hashes)
    run("verify (read from disk)", lambda: all(batched.verify(TENANT, sha) for sha in hashes))
    evict(batched, hashes)

    def verify_in_threads() -> None:
        with ThreadPoolExecutor(THREADS) as pool:
            assert all(pool.map(lambda sha: batched.verify(TENANT, sha), hashes))

    run(f"verify (read from disk), {THREADS} threads", verify_in_threads)
    rows.append(("(stored bytes)", batched.stats(TENANT).stored_bytes, 0.0))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--level", type=int, default=3)
    parser.add_argument("--batch", type=int, default=100, help="puts per sync() in the batch rows")
    parser.add_argument("--repeat", type=int, default=3, help="runs; each row shows its median")
    parser.add_argument("--dir", default=None, help="folder on the disk to measure (default: temp)")
    args = parser.parse_args()

    messages = corpus(args.messages)
    total = sum(map(len, messages))
    runs = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
            runs.append(measure(messages, Path(scratch), args.level, args.batch))
    *rows, (_, stored, _) = [
        (name, statistics.median(run[i][1] for run in runs), statistics.median(run[i][2] for run in runs))
        for i, (name, _, _) in enumerate(runs[0])
    ]
    print(
        f"{len(messages)} messages, {total / 1e6:.0f} MB (mean {total / len(messages) / 1e3:.0f} KB), "
        f"zstd level {args.level}: stored {stored / 1e6:.0f} MB ({stored / total:.0%}); "
        f"{os.cpu_count()} CPUs; median of {args.repeat} runs"
    )
    print(f"| {'operation':<36} | {'wall s':>6} | {'CPU s':>6} | {'MB/s':>5} | {'msg/s':>6} |")
    print(f"|{'-' * 38}|{'-' * 7}:|{'-' * 7}:|{'-' * 6}:|{'-' * 7}:|")
    for name, wall, cpu in rows:
        rate, per_second = total / 1e6 / wall, len(messages) / wall
        print(f"| {name:<36} | {wall:6.2f} | {cpu:6.2f} | {rate:5.0f} | {per_second:6.0f} |")


if __name__ == "__main__":
    main()
