"""The result of "Test Connection" (seed 002): the steps of reaching a mail system, one by one.

Each mail system has its own steps (IMAP: DNS, TCP, TLS, greeting, capabilities, login, folders);
they run in order and stop at the first failure, after which the rest are *skipped*. A failed
step keeps the raw technical error (the server's own words, or the OS or TLS library's text) as
it is, because no product can translate every mail server's messages, and adds a hint where the
cause is clear. :meth:`ConnectionTest.as_text` is what "Copy to clipboard" copies for support.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from postroom import __version__


class StepStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self]


_CONTROLS = {code: "\ufffd" for code in [*range(0x20), 0x7F] if code != 0x09}
_SYMBOLS = {StepStatus.OK: "✓", StepStatus.FAILED: "✗", StepStatus.SKIPPED: "\u2013"}  # en dash: "not run"


@dataclass(frozen=True)
class Step:
    """One step of a connection test."""

    name: str  # stable key: dns, tcp, tls, greeting, capabilities, login, folders
    title: str  # what a person reads: "DNS", "TCP connection", "TLS (STARTTLS)", ...
    status: StepStatus
    summary: str  # one line in plain words: what was found, or what went wrong
    duration_ms: float | None = None  # None when skipped
    error: str | None = None  # failed: the raw technical error, unchanged
    hint: str | None = None  # failed: what to check, when the cause is clear
    details: Mapping[str, Any] = field(default_factory=dict)  # JSON-able facts (addresses, certificate, ...)
    notes: Sequence[str] = ()  # the same facts as lines of text, for the copy and the terminal

    @property
    def ok(self) -> bool:
        return self.status is StepStatus.OK

    def log_line(self) -> str:
        """The step as one process-log message."""
        text = f"{self.title}: {self.status.value}"
        if self.status is not StepStatus.SKIPPED:
            text += f" ({_ms(self.duration_ms)})"
        text += f" — {self.summary}"
        if self.error:
            text += f" — error: {self.error}"
        if self.hint:
            text += f" — hint: {self.hint}"
        # One line, and nothing a database refuses (PostgreSQL: NUL) from a server's raw answer.
        return " / ".join(text.splitlines()).translate(_CONTROLS)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "status": self.status.value,
            "duration_ms": None if self.duration_ms is None else round(self.duration_ms, 1),
            "summary": self.summary,
            "error": self.error,
            "hint": self.hint,
            "details": dict(self.details),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class ConnectionTest:
    """Every step of one connection test, in the order they ran."""

    target: str  # e.g. "IMAP-SSL mail.example.com:993"
    account: str  # who logged in (never the password)
    started_at: datetime
    steps: Sequence[Step]
    profile: str | None = None  # the profile's name, when a profile was tested
    mailbox: str | None = None  # the mailbox tested
    request_id: str | None = None  # the connection-test process in the process log

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)

    @property
    def failed_step(self) -> Step | None:
        return next((step for step in self.steps if step.status is StepStatus.FAILED), None)

    @property
    def duration_ms(self) -> float:
        return sum(step.duration_ms or 0.0 for step in self.steps)

    def headline(self) -> str:
        failed = self.failed_step
        if failed is not None:
            return f"Connection test failed at {failed.title}: {failed.summary}"
        return f"Connection test passed: {self.target} as {self.account}"

    def to_dict(self) -> dict[str, Any]:
        failed = self.failed_step
        return {
            "ok": self.ok,
            "headline": self.headline(),
            "failed_step": failed.name if failed else None,
            "request_id": self.request_id,
            "profile": self.profile,
            "mailbox": self.mailbox,
            "target": self.target,
            "account": self.account,
            "started_at": self.started_at.isoformat(),
            "duration_ms": round(self.duration_ms, 1),
            "steps": [step.to_dict() for step in self.steps],
        }

    def as_text(self) -> str:
        """Plain text with every step, its error and hint: what support needs, and nothing secret."""
        about = [("Server", f"{self.target} as {self.account}")]
        if self.profile is not None:
            about.insert(0, ("Profile", self.profile))
        if self.mailbox is not None:
            about.append(("Mailbox", self.mailbox))
        about.append(("Started", f"{self.started_at.isoformat(timespec='seconds')} ({_ms(self.duration_ms)})"))
        if self.request_id is not None:
            about.append(("Request ID", self.request_id))
        about.append(("Postroom", __version__))
        lines = [self.headline(), ""]
        lines += [f"{label + ':':<12}{value}" for label, value in about]
        lines.append("")
        title_width = max((len(step.title) for step in self.steps), default=0)
        for step in self.steps:
            took = "" if step.duration_ms is None else _ms(step.duration_ms)
            lines.append(f"{step.status.symbol} {step.title:<{title_width}}  {took:>9}  {step.summary}")
            if step.error:
                lines += _labelled("error", step.error)
            if step.hint:
                lines += _labelled("hint", step.hint)
            lines += [f"      {note}" for note in step.notes]
        return "\n".join(lines) + "\n"


def _labelled(label: str, text: str) -> list[str]:
    first, *rest = text.splitlines() or [""]
    return [f"      {label + ':':<7}{first}", *(f"             {line}" for line in rest)]


def _ms(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.1f} ms" if value < 10 else f"{value:,.0f} ms"
