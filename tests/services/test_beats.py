"""The heartbeat that renews run locks and directory syncs' alive_until."""

from __future__ import annotations

import time

import pytest

from postroom.services.beats import beating


def test_it_renews_every_quarter_lease_survives_a_failed_beat_and_stops_with_the_block(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[float] = []

    def renew() -> None:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise ConnectionError("the database is away for a moment")

    started = time.monotonic()
    with beating(2.0, renew, "run R-TEST"):  # every 0.5 s: not at once, then three times here
        time.sleep(1.8)
    assert len(calls) >= 2 and calls[0] - started >= 0.45
    assert "heartbeat of run R-TEST failed" in caplog.text  # logged, and the next beat came anyway
    beats = len(calls)
    time.sleep(0.7)
    assert len(calls) == beats  # no beat after the block
