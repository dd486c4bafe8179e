"""The agent against the fake server: filing, skipping, the journal across an outage, the lease."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import olefile

from postroom.connector.agent import GROUP_BYTES, GROUP_COUNT, Agent, ExitCode, fetch_groups
from postroom.connector.protocol import Delivery
from postroom.formats.naming import MessageNameFacts
from tests.connector.conftest import FACTS, RAW
from tests.connector.fake_server import FakeServer


def test_once_writes_eml_and_msg_and_reports(
    tmp_path: Path, server: FakeServer, make_agent: Callable[..., Agent]
) -> None:
    server.add("d1", "L1", RAW, **FACTS)
    server.add("d2", "L2", RAW, **FACTS)
    assert make_agent().run() == ExitCode.OK
    eml = tmp_path / "projects" / "20261122T101530Z Quarterly report.eml"
    msg = tmp_path / "projects" / "msg" / "20261122T101530Z Quarterly report.msg"
    assert eml.read_bytes() == RAW
    assert olefile.isOleFile(str(msg))
    assert eml.stat().st_mtime == 1795342530
    assert {r["delivery_id"]: r["outcome"] for r in server.results} == {"d1": "written", "d2": "written"}
    assert server.holder is None  # released
    assert server.requests[:4] == ["GET /hello", "POST /lease", "GET /config", "POST /deliveries/claim"]
    # the same deliveries again are found present: the names and .msg bytes are deterministic
    server.results.clear()
    for d in server.deliveries.values():
        d.status = "pending"
    assert make_agent().run() == ExitCode.OK
    assert {r["delivery_id"]: r["outcome"] for r in server.results} == {"d1": "present", "d2": "present"}


def test_no_path_and_missing_folder_are_skipped(
    tmp_path: Path, server: FakeServer, make_agent: Callable[..., Agent]
) -> None:
    server.locations.append(
        {"id": "L3", "name": "Share", "sync_path": r"\\fs\projects\x", "format": "eml", "naming_template": "{date}"}
    )
    server.locations.append(
        {"id": "L4", "name": "Gone", "sync_path": str(tmp_path / "gone"), "format": "eml", "naming_template": "{date}"}
    )
    server.add("d3", "L3", RAW, **FACTS)
    server.add("d4", "L4", RAW, **FACTS)
    assert make_agent().run() == ExitCode.OK
    reasons = {r["delivery_id"]: (r["outcome"], r.get("reason")) for r in server.results}
    assert reasons == {"d3": ("skipped", "no_path"), "d4": ("skipped", "folder_missing")}
    assert not any(r.endswith("/message") for r in server.requests)  # nothing fetched for them


def test_root_option_maps_a_unc_path(tmp_path: Path, server: FakeServer, make_agent: Callable[..., Agent]) -> None:
    from postroom.connector.protocol import parse_root

    server.locations.append(
        {"id": "L3", "name": "Share", "sync_path": r"\\fs\projects\x", "format": "eml", "naming_template": "{date}"}
    )
    (tmp_path / "projects" / "x").mkdir()
    server.add("d3", "L3", RAW, **FACTS)
    agent = make_agent(roots=(parse_root(r"\\fs\projects", str(tmp_path / "projects")),))
    assert agent.run() == ExitCode.OK
    assert (tmp_path / "projects" / "x" / "20261122T101530Z.eml").read_bytes() == RAW


def test_results_survive_an_outage_in_the_journal(
    tmp_path: Path, server: FakeServer, make_agent: Callable[..., Agent]
) -> None:
    server.add("d1", "L1", RAW, **FACTS)
    agent = make_agent()
    original = agent.client.report

    def report_then_fail(results: object) -> object:
        server.down = True
        return original(results)  # type: ignore[arg-type]

    agent.client.report = report_then_fail  # type: ignore[method-assign]
    assert agent.run() == ExitCode.FAILED  # --once could not report
    assert (tmp_path / "state" / "results.jsonl").read_text().count("d1") == 1
    server.down = False
    assert make_agent().run() == ExitCode.OK
    assert [r["delivery_id"] for r in server.results] == ["d1"]
    assert (tmp_path / "state" / "results.jsonl").read_text() == ""


def test_lease_held_by_another_with_once_exits_4(server: FakeServer, make_agent: Callable[..., Agent]) -> None:
    server.holder = {"connector_id": "c9", "name": "other", "instance_id": "someone-else", "host": "nas"}
    server.token = 7
    assert make_agent().run() == ExitCode.LEASE_HELD


def test_revoked_license_exits_3(server: FakeServer, make_agent: Callable[..., Agent]) -> None:
    server.revoked = True
    assert make_agent().run() == ExitCode.LICENSE_REFUSED
    assert make_agent(once=False).run() == ExitCode.LICENSE_REFUSED


def test_run_keeps_going_through_an_outage_and_stops_on_request(
    tmp_path: Path, server: FakeServer, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent(once=False, interval=0.5)
    server.down = True
    thread = threading.Thread(target=agent.run)
    thread.start()
    threading.Event().wait(1.0)
    server.down = False
    server.add("d1", "L1", RAW, **FACTS)
    for _ in range(100):
        if server.results:
            break
        threading.Event().wait(0.1)
    agent.stop()
    thread.join(10)
    assert not thread.is_alive()
    assert [r["outcome"] for r in server.results] == ["written"]
    assert server.holder is None


def test_messages_come_in_groups_and_a_broken_one_costs_only_itself(
    tmp_path: Path, server: FakeServer, make_agent: Callable[..., Agent]
) -> None:
    for n in range(120):
        server.add(f"d{n:03}", "L1", RAW + f"{n}\r\n".encode(), **(FACTS | {"subject": f"m{n:03}"}))
    server.gone.add("d007")  # the server has no bytes for it (a 404 part)
    server.garbled.add("d042")  # its bytes arrive changed (hash and size checked per part)
    assert make_agent(batch=500).run() == ExitCode.OK
    fetches = [r for r in server.requests if r == "POST /deliveries/messages"]
    assert len(fetches) == 3  # 120 deliveries in groups of 50
    outcomes = {r["delivery_id"]: r["outcome"] for r in server.results}
    assert outcomes.pop("d007") == "failed" and outcomes.pop("d042") == "failed"
    assert set(outcomes.values()) == {"written"} and len(outcomes) == 118
    errors = {r["delivery_id"]: r.get("error", "") for r in server.results if r["outcome"] == "failed"}
    assert "no delivery 'd007'" in errors["d007"] and "a broken transfer" in errors["d042"]
    names = sorted(p.name for p in (tmp_path / "projects").iterdir())
    assert len(names) == 118 and "20261122T101530Z m007.eml" not in names
    assert not [p for p in (tmp_path / "projects").iterdir() if p.name.startswith(".postroom-")]


def test_fetch_groups_respect_count_and_bytes() -> None:
    def group_sizes(*sizes: int) -> list[list[int]]:
        queue = [
            (Delivery(str(i), 1, "L1", "0" * 64, size, MessageNameFacts("0" * 64)), None)
            for i, size in enumerate(sizes)
        ]
        return [[d.size for d, _ in group] for group in fetch_groups(queue)]  # type: ignore[arg-type]

    assert group_sizes() == []
    assert [len(g) for g in group_sizes(*[1000] * 120)] == [GROUP_COUNT, GROUP_COUNT, 20]
    big = GROUP_BYTES // 2 + 1
    assert group_sizes(big, big, 10, GROUP_BYTES * 3, 5) == [[big], [big, 10], [GROUP_BYTES * 3], [5]]
