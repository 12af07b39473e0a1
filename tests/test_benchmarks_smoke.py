"""Every benchmark at its smallest, run the way `make bench-*` runs it, so none of them rots.

Each runs as `python -m benchmarks.X` from the repository root with this venv's Python and with
the venv's bin directory taken off PATH (the Makefile does not activate the venv), TMPDIR in the
test's own tmp_path (the logs directory named in the JSON must land there, not in the repo or
/tmp). The figures are not judged (the machine is shared); that they are all there and make
sense is: both phases, every path and lifecycle, no page missing, numbers that are numbers.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks.common import binary
from benchmarks.intake import median_ratios

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = os.path.normpath(Path(sys.executable).parent)
LIMIT_S = 150.0  # a hang, not slowness: each run takes 5-30 s even on a busy machine


def path_without_venv() -> str:
    parts = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(p for p in parts if p and os.path.normpath(p) != VENV_BIN)


def run_benchmark(name: str, args: list[str], tmp: Path) -> tuple[str, list[dict[str, Any]]]:
    """Its output and every JSON line it printed; it must exit 0."""
    env = {**os.environ, "PATH": path_without_venv(), "TMPDIR": str(tmp)}
    argv = [sys.executable, "-m", f"benchmarks.{name}", *args]
    began = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # A shell's background job ignores SIGINT and passes that on: undo it for the benchmark.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        out, _ = proc.communicate(timeout=LIMIT_S)
    finally:
        if proc.poll() is None:
            # SIGINT (not SIGKILL): the benchmark's `with bench(...)` then stops its server,
            # workers and stand-ins, which run in sessions of their own.
            proc.send_signal(signal.SIGINT)
            try:
                proc.communicate(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
    print(f"{name}: {time.monotonic() - began:.1f} s")
    assert proc.returncode == 0, out[-4000:]
    assert "Traceback" not in out, out[-4000:]
    return out, [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_percentiles(p: dict[str, Any], count: int, low: float, high: float) -> None:
    assert p["count"] == count, p
    figures = [p[k] for k in ("p50", "p95", "p99", "max")]
    assert all(is_number(v) for v in figures), p
    assert figures == sorted(figures), p
    assert low <= figures[0] and figures[-1] <= high, p


def check_logs_in(figures: dict[str, Any], tmp: Path) -> None:
    logs = Path(figures["logs"])
    assert logs.is_dir() and logs.is_relative_to(tmp), logs


def test_binaries_are_found_beside_this_python_without_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", path_without_venv())
    assert binary("temporal") == os.path.join(VENV_BIN, "temporal")
    assert binary("slawatch") == os.path.join(VENV_BIN, "slawatch")
    with pytest.raises(RuntimeError, match="'no-such-binary' is neither beside"):
        binary("no-such-binary")


@pytest.mark.timeout(LIMIT_S + 60)
def test_clock_smoke(tmp_path: Path) -> None:
    out, [figures] = run_benchmark("clock", ["--count", "200"], tmp_path)
    assert figures["benchmark"] == "clock" and figures["count"] == 200
    rows = figures["rows"]
    assert {r["tenant"] for r in rows} == {"prokuria", "cargotask"}
    assert all(is_number(r[k]) and r[k] > 0 for r in rows for k in ("warm_per_s", "cold_per_s"))
    seven = [min(r["warm_per_s"], r["cold_per_s"]) for r in rows if r["seven_days"]]
    assert len(seven) >= 2 and figures["seven_day_min_per_s"] == min(seven)
    assert figures["meets_goal"] == (min(seven) >= figures["goal_per_s"])
    assert f"7-day targets: slowest {min(seven):,}/s" in out


@pytest.mark.timeout(LIMIT_S + 60)
def test_lag_smoke(tmp_path: Path) -> None:
    args = ["--tickets", "3", "--window", "1", "--lead", "3", "--drain", "20", "--probe", "5"]
    out, [figures] = run_benchmark("lag", args, tmp_path)
    floor, ours = figures["floor"], figures["slawatch"]
    assert (floor["phase"], ours["phase"]) == ("floor", "slawatch")
    lines = out.splitlines()
    for phase in ("floor", "slawatch", "ratio"):
        assert any(line.startswith(f"{phase} ") for line in lines), out
    for result in (floor, ours):
        # A page is never early (its timer fires at the deadline) and all 3 came in the drain.
        assert result["missing"] == 0, result
        check_percentiles(result["lag_s"], 3, 0.0, 1 + 20)
        assert is_number(result["open_per_s"]) and result["open_per_s"] > 0
        assert result["worker_rss_mb"] > 0 and result["server_rss_mb"] > 0
    assert ours["standin_probe"]["latency_s"]["count"] == 5
    assert 0 <= ours["ready_at_window_start"] <= 3
    # Each page split into its parts, unless its ticket's timer-arming task ran after its deadline.
    parts = ours["breakdown"]
    timed = 3 - parts["no_deadline_timer"]
    assert timed >= 1, parts
    for part in ("first_task_s", "timer_late_s", "timer_to_sms_s"):
        assert parts[part]["count"] == timed, parts
    # Three tickets on an idle worker: none waited past the sticky timeout.
    assert parts["tickets_with_a_task_timed_out"] == 0, parts
    # What a breach cost the server: the ticket's breach task at least and its SMS. No
    # escalation: it would start only when the first ack window (an hour here) ends.
    cost = parts["per_breach_mean"]
    assert cost["ticket_tasks"] >= 1 and cost["escalation_tasks"] == 0, cost
    assert ours["escalation_calls"] == 0
    assert cost["activities"] >= 1 and cost["events"] > cost["ticket_tasks"], cost
    assert all(is_number(v) and v > 0 for v in figures["ratio"].values()), figures["ratio"]
    check_logs_in(figures, tmp_path)


def row_line(out: str, path: str, first: str = "1") -> str:
    """The intake table's line for round `first` (or "median"), store memory, this path."""
    return next(ln for ln in out.splitlines() if ln.split()[:3] == [first, "memory", path])


def test_intake_medians_take_each_ratio_over_rounds() -> None:
    def row(n: int, path: str, ready: float) -> dict[str, Any]:
        return {"round": n, "store": "sqlite", "path": path, "open_per_s_of_bare": 1.0,
                "ready_per_s_of_bare": ready}  # fmt: skip

    rows = [row(1, "bare", 1.0), row(1, "client", 0.6), row(2, "bare", 1.0)]
    rows += [row(2, "client", 0.9), row(3, "bare", 1.0), row(3, "client", 0.85)]
    assert median_ratios(rows) == [
        {"store": "sqlite", "path": "bare", "open_per_s_of_bare": 1.0,
         "ready_per_s_of_bare": 1.0, "ready_low": 1.0, "ready_high": 1.0},
        {"store": "sqlite", "path": "client", "open_per_s_of_bare": 1.0,
         "ready_per_s_of_bare": 0.85, "ready_low": 0.6, "ready_high": 0.9},
    ]  # fmt: skip


@pytest.mark.timeout(LIMIT_S + 60)
def test_intake_smoke(tmp_path: Path) -> None:
    args = ["--tickets", "3", "--stores", "memory", "--diagnose"]
    out, [figures] = run_benchmark("intake", args, tmp_path)
    rows = figures["rows"]
    assert [(r["store"], r["path"]) for r in rows] == [
        ("memory", "bare"),
        ("memory", "client"),
        ("memory", "api"),
        ("memory", "client:unsandboxed"),
        ("memory", "client:no-record-write"),
    ]
    bare = rows[0]
    for r in rows:
        for k in ("open_per_s", "ready_per_s"):
            assert is_number(r[k]) and r[k] > 0, r
            assert r[f"{k}_of_bare"] == round(r[k] / bare[k], 2), r
        assert r["round"] == 1 and row_line(out, r["path"]), out
    assert bare["open_per_s_of_bare"] == bare["ready_per_s_of_bare"] == 1.0
    assert figures["medians"] == [], figures  # one round: nothing to take the median of
    assert isinstance(rows[2]["retried_503"], int) and rows[2]["retried_503"] >= 0
    # CPU per ticket, process by process: the server always works; the API only on its path.
    for r in rows:
        measured = sorted(k.removesuffix("_cpu_ms_per_ticket") for k in r if "_cpu_ms_" in k)
        assert measured == (
            ["api", "server", "worker"] if r["path"] == "api" else ["server", "worker"]
        )
        assert r["server_cpu_ms_per_ticket"] > 0 and r["worker_cpu_ms_per_ticket"] >= 0, r
        line = row_line(out, r["path"])
        assert f"server {r['server_cpu_ms_per_ticket']} worker" in line, line
    check_logs_in(figures, tmp_path)


@pytest.mark.timeout(LIMIT_S + 60)
def test_footprint_smoke(tmp_path: Path) -> None:
    out, [memory, events] = run_benchmark(
        "footprint", ["--tickets", "3", "--settle", "0"], tmp_path
    )
    for state in ("idle", "loaded"):
        assert all(is_number(v) and v > 0 for v in memory[state].values()), memory[state]
    assert is_number(memory["worker_kb_per_ticket"])
    assert any(line.startswith("3 open ") for line in out.splitlines()), out
    lifecycles = {r["lifecycle"]: r for r in events["lifecycles"]}
    assert events["lifecycles"] == memory["lifecycles"]
    for r in lifecycles.values():
        assert r["ticket_events"] > 0 and r["escalation_events"] >= 0, r
        assert r["total_events"] == r["ticket_events"] + r["escalation_events"], r
    quiet = ["answered in time, resolved, closed", "paused, resumed, answered, closed"]
    for name in quiet:
        assert lifecycles[name]["escalation_events"] == 0 and lifecycles[name]["sent"] == 0
    acked = lifecycles["warned, breached, SMS acked, closed"]
    exhausted = lifecycles["breached, ladder exhausted, closed"]
    # Acknowledged as soon as it was paged, inside the first ack window: no escalation ran.
    assert acked["escalation_events"] == 0 and acked["sent"] >= 1, acked
    assert exhausted["escalation_events"] > 0 and exhausted["sent"] >= 2, exhausted
    assert set(lifecycles) == {*quiet, acked["lifecycle"], exhausted["lifecycle"]}
    check_logs_in(memory, tmp_path)


@pytest.mark.timeout(LIMIT_S + 60)
def test_lag_sustained_with_two_worker_processes_smoke(tmp_path: Path) -> None:
    # Three modes in one run (each lag run starts two servers and Prism: ~30 s): nobody
    # answers within a 2 s ack window, so every breach's escalation starts and calls.
    args = ["--tickets", "4", "--sustained", "1,2", "--window", "1", "--gap", "1"]
    args += ["--lead", "3", "--drain", "20", "--probe", "5", "--processes", "2"]
    out, [figures] = run_benchmark("lag", [*args, "--ack-window", "2"], tmp_path)
    assert "2 worker processes" in figures["benchmark"]
    assert figures["slawatch"]["escalation_calls"] == 3
    steps = figures["sustained"]["steps"]
    assert [s["rate"] for s in steps] == [1.0, 2.0]
    for s, count in zip(steps, (1, 2), strict=True):
        for phase in ("floor", "slawatch"):
            assert s[phase]["missing"] == 0, s
            check_percentiles(s[phase]["lag_s"], count, 0.0, 1 + 1 + 20)
        ratio = s["slawatch"]["lag_s"]["p99"] / s["floor"]["lag_s"]["p99"]
        assert s["p99_ratio"] == round(ratio, 2) and s["ok"] == (s["p99_ratio"] <= 2), s
        assert any(line.startswith(f"{s['rate']:>6} ") for line in out.splitlines()), out
    # The ceiling is the last rate of the passing run from the lowest, or none.
    passing = [s["rate"] for s in steps[: next((i for i, s in enumerate(steps) if not s["ok"]), 2)]]
    assert figures["sustained"]["ceiling_per_s"] == (passing[-1] if passing else None)
    assert "sustained ceiling (p99 <= 2x floor, 0 missing): " in out
    # The supervisor and its two workers together: more than one idle worker holds.
    assert figures["slawatch"]["worker_rss_mb"] > figures["floor"]["worker_rss_mb"]
    check_logs_in(figures, tmp_path)


@pytest.mark.timeout(LIMIT_S + 60)
def test_ticket_memory_smoke(tmp_path: Path) -> None:
    out, [figures] = run_benchmark("ticket_memory", ["--tickets", "3", "--top", "5"], tmp_path)
    rows = figures["top"]
    assert len(rows) == 5 and all(is_number(r[1]) and r[1] > 0 for r in rows), rows
    assert [r[1] for r in rows] == sorted((r[1] for r in rows), reverse=True), rows
    # Each ticket's workflow module runs in its own sandbox: its namespace is in the list.
    assert "workflows/ticket.py" in [r[0] for r in rows], rows
    assert figures["kb_per_ticket"] >= sum(r[1] for r in rows) - 0.5
    assert any(line.startswith("total (all files) ") for line in out.splitlines()), out
    check_logs_in(figures, tmp_path)


@pytest.mark.timeout(LIMIT_S + 60)
def test_page_tasks_runs_as_documented(tmp_path: Path) -> None:
    # `python -m benchmarks.page_tasks` (docs/benchmarks.md) over the committed histories.
    out, [figures] = run_benchmark("page_tasks", [], tmp_path)
    rows = {r[0]: r[1:] for r in figures["rows"]}
    # first page by, tasks to it, ticket tasks, escalation tasks, activities, signals, events
    assert rows["critical_ladder"][:2] == ["ticket", 1], rows
    assert rows["v2_critical_ladder"][:2] == ["escalation", 2], rows
    assert rows["critical_ladder"][-1] < rows["v4_critical_ladder"][-1], rows
    assert any(line.startswith("critical_ladder ") for line in out.splitlines()), out


@pytest.mark.timeout(LIMIT_S + 60)
def test_first_task_smoke(tmp_path: Path) -> None:
    out, [figures] = run_benchmark("first_task", ["--tickets", "5", "--rounds", "1"], tmp_path)
    sandbox = figures["runners"]["sandbox (slawatch)"]["median"]
    bare = figures["runners"]["no sandbox"]["median"]
    assert all(is_number(v) and v > 0 for v in sandbox.values()), sandbox
    # The split is of the sandbox's time: its parts cannot add up to more than its total.
    assert {"create instance", "activations", "serialization context"} <= set(sandbox), sandbox
    assert sum(v for k, v in sandbox.items() if k != "total") <= sandbox["total"], sandbox
    assert list(bare) == ["total"] and is_number(bare["total"]), bare
    assert figures["sandbox_ms"] == round(sandbox["total"] - bare["total"], 2), figures
    assert any(line.startswith("sandbox (slawatch) ") for line in out.splitlines()), out
