"""EML → MSG conversion on one core: messages/s and MB/s on a realistic corpus, and peak memory.

Measures :func:`postroom.formats.msg.convert.write_msg` (and ``msg_bytes``) against the issue's
goals: over 200 messages/s for typical 50 KB mail on one core, and memory under 3x the message
size for a 50 MB message. Prints Markdown tables; each rate is the median of ``--repeat`` rounds.

* **Corpus.** The seeded generator of ``bench/sync_vs_peers.py`` (imported, not copied): 2 KB to
  2 MB, median ~37 KB, encoded headers, 8-bit, quoted-printable and HTML bodies, base64
  attachments. Also a *typical 50 KB* set: 500 messages of 40-60 KB from the same generator, shown
  in total and by kind (plain or HTML body, with or without an attachment).
* **Rates.** One process, one thread: each message is converted into its own ``io.BytesIO``
  (``--to-files`` adds rows writing one file per message into a temporary directory). Wall time
  (``perf_counter``) and CPU time (``process_time``) around each conversion are summed; MB/s counts
  input bytes (1 MB = 10^6 bytes).
* **Memory.** A 50 MB message (8-bit plain + HTML body and one base64 attachment of ~37 MB
  decoded; and the same bodies with a ~49 MB ``binary`` attachment) is converted in a fresh
  subprocess per measurement, by ``write_msg`` into a file and by ``msg_bytes``: the peak RSS
  (VmHWM, reset just before) minus the RSS just before the conversion, the message already read;
  and, in another subprocess, the ``tracemalloc`` peak of the conversion. Both are shown as
  multiples of the message size. (``ru_maxrss`` would not do: it keeps the parent's peak across
  fork and exec.)
* **Checks.** A benchmark of a broken converter is worthless: every 50th output (and each 50 MB
  one) is opened with extract-msg and its subject must equal the one ``extract_metadata`` reads.
  Conversion warnings are counted.

    .venv/bin/python bench/convert_bench.py                          # 2,000 messages, 3 rounds, ~1 minute
    .venv/bin/python bench/convert_bench.py --messages 20000 --to-files
    .venv/bin/python bench/convert_bench.py --repeat 1 --skip-memory --profile
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import cProfile
import gc
import io
import json
import logging
import platform
import pstats
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import TypedDict

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package

import extract_msg
from sync_vs_peers import Corpus, bytes_of, machine_line, plan

from postroom.domain.message import extract_metadata
from postroom.formats.msg.convert import msg_bytes, write_msg

MB = 1_000_000
TYPICAL_COUNT, TYPICAL_MIN, TYPICAL_MAX = 500, 40_000, 60_000
GOAL_RATE = 200  # messages/s for typical 50 KB mail
GOAL_MEMORY = 3.0  # x the message size
BIG_SIZE = 50 * MB
CHECK_EVERY = 50
RECEIVED = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)
KINDS = ("plain + attachment", "HTML + attachment", "plain, no attachment", "HTML, no attachment")


# --- corpora -------------------------------------------------------------------------------------


def kind_of(raw: bytes) -> str:
    """One of KINDS, from the generator's own header lines."""
    html = b"Content-Type: text/html" in raw
    attachment = b"Content-Disposition: attachment" in raw
    return KINDS[(0 if attachment else 2) + (1 if html else 0)]


def corpus_messages(corpus: Corpus, count: int, seed: int) -> list[bytes]:
    planned = plan(count, seed)
    return [bytes_of(corpus, planned, seed, index) for index in range(count)]


def typical_messages(corpus: Corpus, count: int, seed: int) -> list[bytes]:
    """``count`` messages of 40-60 KB from the generator (its first draw is the size: peeked first)."""
    found: list[bytes] = []
    index = 0
    when = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    while len(found) < count:
        index += 1
        key = f"typical-{seed}-{index}"
        if not TYPICAL_MIN * 0.95 <= random.Random(key).lognormvariate(10.5, 1.5) <= TYPICAL_MAX * 1.05:
            continue
        raw = corpus.message(random.Random(key), 1_000_000 + index, when + timedelta(minutes=index))
        if TYPICAL_MIN <= len(raw) <= TYPICAL_MAX:
            found.append(raw)
    return found


def big_message(corpus: Corpus, binary: bool) -> bytes:
    """A ~50 MB message: 256 KB plain + 512 KB HTML body and one attachment filling the rest.

    Both bodies are 8-bit UTF-8. The attachment is base64 (~37 MB decoded), or, with ``binary``,
    raw bytes (``Content-Transfer-Encoding: binary``, ~49 MB).
    """
    rng = random.Random("big-message")
    text = corpus._slice_text(rng, 256_000)
    html = b"<html><body>\r\n" + corpus._slice_text(rng, 512_000).replace(b"\r\n", b"<br>\r\n") + b"</body></html>\r\n"
    outer, inner = "=_big_mixed_4f1c2a9e7d3b", "=_big_alt_8e2d6c0b5a17"
    head = (
        "From: =?UTF-8?B?Wm/DqyBMZWbDqHZyZQ==?= <zoe.lefevre@example.fr>\r\nTo: Bob Smith <bob@example.com>\r\n"
        "Subject: =?UTF-8?Q?Plans_compl=C3=A8tes_=E2=80=93_Surrey_Court?=\r\n"
        "Date: Tue, 04 Mar 2025 10:15:00 +0100\r\nMessage-ID: <big.1@example.fr>\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="{outer}"\r\n\r\n'
        f'--{outer}\r\nContent-Type: multipart/alternative; boundary="{inner}"\r\n\r\n'
        f"--{inner}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode()
    head += text + f"\r\n--{inner}\r\nContent-Type: text/html; charset=utf-8\r\n".encode()
    head += b"Content-Transfer-Encoding: 8bit\r\n\r\n" + html + f"\r\n--{inner}--\r\n".encode()
    encoding = "binary" if binary else "base64"
    head += (
        f'\r\n--{outer}\r\nContent-Type: application/zip; name="Pläne komplett.zip"\r\n'
        f"Content-Transfer-Encoding: {encoding}\r\n"
        "Content-Disposition: attachment; filename*=UTF-8''Pl%C3%A4ne%20komplett.zip\r\n\r\n"
    ).encode()
    tail = f"\r\n--{outer}--\r\n".encode()
    room = BIG_SIZE - len(head) - len(tail)
    data = rng.randbytes(room) if binary else base64.encodebytes(rng.randbytes(room // 78 * 57)).replace(b"\n", b"\r\n")
    return head + data + tail


# --- rates ---------------------------------------------------------------------------------------


@dataclass
class Sample:
    wall: float
    cpu: float


@dataclass
class Round:
    samples: dict[str, Sample]  # per kind ("all" too)
    warnings: list[tuple[str, ...]]
    outputs: dict[int, bytes]  # a sample of outputs, by message index


def convert_all(messages: Sequence[bytes], kinds: Sequence[str], target: Path | None) -> Round:
    """Convert every message once, timing each conversion; keep every CHECK_EVERY-th output."""
    sums = {kind: Sample(0.0, 0.0) for kind in ("all", *KINDS)}
    warnings: list[tuple[str, ...]] = []
    outputs: dict[int, bytes] = {}
    gc.collect()
    for index, raw in enumerate(messages):
        wall, cpu = time.perf_counter(), time.process_time()
        buffer = io.BytesIO()
        if target is None:
            conversion = write_msg(raw, buffer, received=RECEIVED)
        else:
            with (target / f"{index}.msg").open("wb") as out:
                conversion = write_msg(raw, out, received=RECEIVED)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        for kind in ("all", kinds[index]):
            sums[kind].wall += wall
            sums[kind].cpu += cpu
        warnings.append(conversion.warnings)
        if index % CHECK_EVERY == 0:
            outputs[index] = (target / f"{index}.msg").read_bytes() if target else buffer.getvalue()
    return Round(sums, warnings, outputs)


def read_back(source: io.BytesIO | Path) -> tuple[str, int]:
    """(subject, number of attachments) of a ``.msg`` as extract-msg reads it; closed again."""
    with extract_msg.openMsg(source if isinstance(source, io.BytesIO) else str(source)) as opened:
        if not isinstance(opened, extract_msg.Message):
            raise RuntimeError(f"extract-msg reads the output as {type(opened).__name__}, not as an IPM.Note")
        return opened.subject or "", len(opened.attachments)


def check_outputs(messages: Sequence[bytes], outputs: dict[int, bytes]) -> None:
    """Each sampled output opens in extract-msg and shows the subject ``extract_metadata`` reads."""
    for index, data in outputs.items():
        expected = extract_metadata(messages[index]).subject
        subject, _ = read_back(io.BytesIO(data))
        if subject != expected:
            raise RuntimeError(f"message {index}: the .msg says subject {subject!r}, the message {expected!r}")


@dataclass
class RateRow:
    label: str
    sink: str
    count: int
    size: int
    walls: list[float]
    cpus: list[float]
    goal: bool  # whether the rate goal applies

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpus)


def measure_set(
    name: str, messages: list[bytes], repeat: int, sinks: Sequence[str], work: Path, typical: bool
) -> tuple[list[RateRow], list[tuple[str, ...]]]:
    """Rows for one message set, all rounds; also the first round's warnings (checked outputs)."""
    kinds = [kind_of(raw) for raw in messages]
    counts = Counter(kinds)
    sizes = {kind: sum(len(r) for r, k in zip(messages, kinds, strict=True) if k == kind) for kind in KINDS}
    rows: list[RateRow] = []
    warnings: list[tuple[str, ...]] = []
    for sink in sinks:
        by_kind: dict[str, RateRow] = {
            "all": RateRow(name, sink, len(messages), sum(map(len, messages)), [], [], typical)
        }
        if typical:
            for kind in KINDS:
                if counts[kind]:
                    by_kind[kind] = RateRow(f"{name}: {kind}", sink, counts[kind], sizes[kind], [], [], True)
        for round_ in range(1, repeat + 1):
            target = None
            if sink == "files":
                target = work / f"{name}-{round_}"
                target.mkdir()
            result = convert_all(messages, kinds, target)
            if target is not None:
                shutil.rmtree(target)
            if round_ == 1:
                check_outputs(messages, result.outputs)
                warnings = result.warnings
            for kind, row in by_kind.items():
                row.walls.append(result.samples[kind].wall)
                row.cpus.append(result.samples[kind].cpu)
            print(
                f"  {name}, {sink}, round {round_}: {result.samples['all'].wall:.2f} s wall, "
                f"{len(messages) / result.samples['all'].wall:,.0f} messages/s; "
                f"{len(result.outputs)} outputs checked",
                flush=True,
            )
        rows += by_kind.values()
    return rows, warnings


def rate_table(rows: Sequence[RateRow]) -> str:
    head = ["set", "sink", "messages", "MB in", "wall s", "CPU s", "messages/s", "MB/s", "goal", "✓/✗"]
    lines = [head, ["---"] * len(head)]
    for row in rows:
        rate = row.count / row.wall
        goal, met = (f"> {GOAL_RATE} messages/s", "✓" if rate > GOAL_RATE else "✗") if row.goal else ("—", "")
        lines.append(
            [
                row.label,
                "BytesIO" if row.sink == "memory" else "files",
                f"{row.count:,}",
                f"{row.size / MB:,.1f}",
                f"{row.wall:.2f}",
                f"{row.cpu:.2f}",
                f"{rate:,.0f}",
                f"{row.size / MB / row.wall:.1f}",
                goal,
                met,
            ]
        )
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def warning_summary(warnings: Sequence[tuple[str, ...]]) -> str:
    with_warnings = sum(1 for w in warnings if w)
    if not with_warnings:
        return f"0 of {len(warnings):,} messages converted with warnings"
    common, times = Counter(w for ws in warnings for w in set(ws)).most_common(1)[0]
    return (
        f"{with_warnings:,} of {len(warnings):,} messages converted with warnings; most common ({times:,}x): {common}"
    )


# --- memory --------------------------------------------------------------------------------------


def rss() -> tuple[int, int]:
    """(resident set size now, its high-water mark) of this process in bytes, from /proc (Linux).

    Not ``ru_maxrss``: a child created by fork and exec keeps its parent's peak in it, so the
    child of a benchmark holding its corpus would report the corpus. VmHWM belongs to the
    process's own address space and can be reset to the current RSS (``clear_refs``).
    """
    fields = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB$", Path("/proc/self/status").read_text(), re.M))
    return int(fields["VmRSS"]) * 1024, int(fields["VmHWM"]) * 1024


def reset_peak_rss() -> None:
    """Set this process's RSS high-water mark to its current RSS (Linux 4.0+); a no-op where refused."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


class ChildReport(TypedDict):
    before: int  # RSS with the message read, before the conversion
    peak_before: int  # the RSS high-water mark then (equal to ``before`` once reset)
    peak: int  # the RSS high-water mark after the conversion
    traced: int  # the tracemalloc peak (0 unless traced)
    wall: float
    cpu: float
    warnings: list[str]


def memory_child(source: Path, function: str, mode: str, out_path: Path) -> None:
    """Run in a fresh interpreter: convert once, print what it cost as JSON."""
    raw = source.read_bytes()  # one allocation of the message's size
    gc.collect()
    reset_peak_rss()
    before, peak_before = rss()
    if mode == "tracemalloc":
        tracemalloc.start()
    wall, cpu = time.perf_counter(), time.process_time()
    if function == "write_msg":
        with out_path.open("wb") as out:
            conversion = write_msg(raw, out, received=RECEIVED)
    else:
        data, conversion = msg_bytes(raw, received=RECEIVED)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    traced = tracemalloc.get_traced_memory()[1] if mode == "tracemalloc" else 0
    peak = rss()[1]
    if function == "msg_bytes":
        out_path.write_bytes(data)
    report = ChildReport(
        before=before,
        peak_before=peak_before,
        peak=peak,
        traced=traced,
        wall=wall,
        cpu=cpu,
        warnings=list(conversion.warnings),
    )
    print(json.dumps(report))


@dataclass
class MemoryRow:
    variant: str
    function: str
    size: int
    over_baseline: int  # peak RSS - RSS before the conversion
    traced: int
    wall: float
    warnings: list[str]


def measure_memory(corpus: Corpus, work: Path) -> list[MemoryRow]:
    rows: list[MemoryRow] = []
    for variant, binary in (("base64 attachment", False), ("8-bit body, binary attachment", True)):
        raw = big_message(corpus, binary)
        source = work / f"big-{binary}.eml"
        source.write_bytes(raw)
        expected = extract_metadata(raw).subject
        for function in ("write_msg", "msg_bytes"):
            out_path = work / f"big-{binary}-{function}.msg"
            results = {mode: run_child(source, function, mode, out_path) for mode in ("rss", "tracemalloc")}
            rss = results["rss"]
            if rss["peak_before"] > rss["before"] * 1.05:
                print(f"  note: RSS had peaked at {rss['peak_before'] / MB:.0f} MB before the conversion", flush=True)
            subject, attachments = read_back(out_path)
            if subject != expected or attachments != 1:
                raise RuntimeError(f"50 MB {variant} via {function}: subject {subject!r}, {attachments} attachments")
            rows.append(
                MemoryRow(
                    variant,
                    function,
                    len(raw),
                    max(0, rss["peak"] - rss["before"]),
                    results["tracemalloc"]["traced"],
                    rss["wall"],
                    rss["warnings"],
                )
            )
            print(
                f"  50 MB, {variant}, {function}: +{rows[-1].over_baseline / MB:.0f} MB RSS, "
                f"{rows[-1].traced / MB:.0f} MB traced, {rss['wall']:.2f} s; "
                f"output {out_path.stat().st_size / MB:.1f} MB",
                flush=True,
            )
            out_path.unlink()
        source.unlink()
    return rows


def run_child(source: Path, function: str, mode: str, out_path: Path) -> ChildReport:
    command = [sys.executable, __file__, "--memory-child", str(source), function, mode, str(out_path)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"the memory subprocess failed:\n{result.stderr}")
    report: ChildReport = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def memory_table(rows: Sequence[MemoryRow]) -> str:
    head = ["50 MB message", "call", "peak RSS - before, MB", "x size", "x size with the message"]
    head += ["tracemalloc peak, MB", "x size", "wall s", "goal", "✓/✗"]
    lines = [head, ["---"] * len(head)]
    for row in rows:
        times = row.over_baseline / row.size
        lines.append(
            [
                row.variant,
                "write_msg → file" if row.function == "write_msg" else "msg_bytes",
                f"{row.over_baseline / MB:.0f}",
                f"{times:.2f}",
                f"{times + 1:.2f}",
                f"{row.traced / MB:.0f}",
                f"{row.traced / row.size:.2f}",
                f"{row.wall:.2f}",
                f"< {GOAL_MEMORY:g}x size",
                "✓" if times < GOAL_MEMORY else "✗",
            ]
        )
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


# --- the run -------------------------------------------------------------------------------------


def machine() -> list[str]:
    return [
        machine_line(),
        f"python {platform.python_version()}; extract-msg {version('extract-msg')}; "
        "conversion on one core: one process, one thread",
    ]


def describe(name: str, messages: Sequence[bytes]) -> str:
    sizes = sorted(map(len, messages))
    kinds = Counter(kind_of(raw) for raw in messages)
    mix = ", ".join(f"{kinds[kind] / len(messages):.0%} {kind}" for kind in KINDS if kinds[kind])
    return (
        f"{name}: {len(messages):,} messages, {sum(sizes) / MB:,.1f} MB (median {sizes[len(sizes) // 2] / 1e3:.0f} KB, "
        f"mean {sum(sizes) / len(sizes) / 1e3:.0f} KB, max {sizes[-1] / 1e3:,.0f} KB); {mix}"
    )


def profile_typical(messages: Sequence[bytes], top: int) -> None:
    """One extra, untimed pass over the typical set under cProfile; print where its time went."""
    profiler = cProfile.Profile()
    profiler.enable()
    for raw in messages:
        write_msg(raw, io.BytesIO(), received=RECEIVED)
    profiler.disable()
    print(f"\ncProfile of one pass over the typical set ({len(messages)} messages), top {top} by tottime:")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000, help="corpus size")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the table shows medians")
    parser.add_argument("--to-files", action="store_true", help="also convert into one file per message")
    parser.add_argument("--skip-memory", action="store_true", help="leave out the 50 MB memory measurement")
    parser.add_argument("--profile", action="store_true", help="also cProfile one pass over the typical set")
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary files go")
    parser.add_argument("--memory-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        source, function, mode, out_path = args.memory_child
        memory_child(Path(source), function, mode, Path(out_path))
        return
    logging.getLogger("extract_msg").setLevel(logging.ERROR)

    for line in machine():
        print(line)
    started = time.perf_counter()
    corpus = Corpus(args.seed)
    messages = corpus_messages(corpus, args.messages, args.seed)
    typical = typical_messages(corpus, TYPICAL_COUNT, args.seed)
    print(f"generated in {time.perf_counter() - started:.1f} s (not in any result), seed {args.seed}")
    print(describe("corpus", messages))
    print(describe(f"typical ({TYPICAL_MIN // 1000}-{TYPICAL_MAX // 1000} KB)", typical), flush=True)

    sinks = ["memory", "files"] if args.to_files else ["memory"]
    work = Path(tempfile.mkdtemp(prefix="postroom-convert-bench-", dir=args.dir))
    try:
        typical_rows, _ = measure_set("typical 50 KB", typical, args.repeat, sinks, work, typical=True)
        corpus_rows, warnings = measure_set("corpus", messages, args.repeat, sinks, work, typical=False)
        memory_rows = [] if args.skip_memory else measure_memory(corpus, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"\nmedians of {args.repeat} round(s); times summed over the conversions (write_msg into "
        "one BytesIO per message, or one file per message); MB = 10^6 bytes of input\n"
    )
    print(rate_table(typical_rows + corpus_rows))
    print(f"\ncorpus: {warning_summary(warnings)}")
    print(f"checked: every {CHECK_EVERY}th output opens in extract-msg with the subject extract_metadata reads")
    if memory_rows:
        print(
            "\na fresh subprocess per measurement, RSS and tracemalloc in separate ones; the goal is on the "
            "memory the conversion adds (peak RSS - before); 'with the message' adds the message's own bytes\n"
        )
        print(memory_table(memory_rows))
        for row in memory_rows:
            if row.warnings:
                print(f"warnings ({row.variant}, {row.function}): {'; '.join(row.warnings)}")
    if args.profile:
        profile_typical(typical, 10)


if __name__ == "__main__":
    main()
