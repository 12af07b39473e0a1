"""`slawatch worker --processes N` and the workflow cache sized from the memory budget
(workers/processes.py, workers/cache.py)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from slawatch.tools.process import poll_until
from workers.cache import IDLE_MB, KB_PER_CACHED_TICKET, MIN_CACHED, max_cached_workflows
from workers.processes import metrics_address_for

SLAWATCH = str(Path(sys.executable).with_name("slawatch"))


def test_the_cache_is_sized_from_the_memory_each_process_gets() -> None:
    one = max_cached_workflows(400)
    assert one == int((400 - IDLE_MB) * 1024 / KB_PER_CACHED_TICKET)
    # Two processes share the budget, and each pays its own idle memory.
    assert max_cached_workflows(400, processes=2) == int(
        (200 - IDLE_MB) * 1024 / KB_PER_CACHED_TICKET
    )
    assert max_cached_workflows(2000, processes=2) > max_cached_workflows(400)
    assert max_cached_workflows(100) == MIN_CACHED  # below the idle worker: the floor
    assert max_cached_workflows(400, override=12_000) == 12_000


def test_metrics_ports_are_one_per_process() -> None:
    assert metrics_address_for("0.0.0.0:9464", 0) == "0.0.0.0:9464"
    assert metrics_address_for("0.0.0.0:9464", 2) == "0.0.0.0:9466"
    assert metrics_address_for("[::1]:9464", 1) == "[::1]:9465"
    assert metrics_address_for(None, 3) is None


def worker_env(tmp_path: Path, address: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "SLAWATCH_TEMPORAL_ADDRESS": address,
        "SLAWATCH_TICKET_TASK_QUEUE": f"processes-{tmp_path.name}",
        "SLAWATCH_DATA_DIR": str(tmp_path / "data"),
        # Nothing is sent in these tests; the URLs only need to parse.
        "SLAWATCH_TWILIO_BASE_URL": "http://127.0.0.1:9",
        "SLAWATCH_SENDGRID_BASE_URL": "http://127.0.0.1:9",
        "SLAWATCH_LOG_FORMAT": "json",
        **extra,
    }


async def start(env: dict[str, str], log: Path, processes: int) -> asyncio.subprocess.Process:
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            SLAWATCH, "worker", "--processes", str(processes), env=env, stdout=out, stderr=out
        )
    await poll_until(
        f"{processes} workers to start",
        lambda: text(log).count("worker_started") >= processes,
        60,
        interval=0.1,
        proc=proc,
        log=log,
    )
    assert text(log).count("worker_started") == processes, text(log)[-3000:]
    return proc


def text(path: Path) -> str:
    return path.read_text(errors="replace")


def alive(pid: int) -> bool:
    """Running (a reaped process has no /proc entry; a zombie has ended)."""
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


def started(log: Path) -> list[dict[str, object]]:
    lines = [json.loads(x) for x in text(log).splitlines() if x.startswith("{")]
    return [x for x in lines if x.get("event") == "worker_started"]


async def test_processes_share_the_cache_and_stop_together(
    fresh_dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    address = fresh_dev_env.client.service_client.config.target_host
    env = worker_env(tmp_path, address, SLAWATCH_WORKER_MEMORY_MB="800")
    log = tmp_path / "worker.log"
    proc = await start(env, log, 2)
    workers = started(log)
    assert sorted(w["process"] for w in workers) == [0, 1]  # type: ignore[type-var]
    assert {w["max_cached_workflows"] for w in workers} == {max_cached_workflows(800, 2)}
    assert {w["gc"] for w in workers} == {"frozen"}  # workers/collector.py, installed
    [supervisor] = [json.loads(x) for x in text(log).splitlines() if "pids" in x]
    pids = supervisor["pids"]
    assert len(set(pids)) == 2 and proc.pid not in pids

    # One worker process dies: the supervisor stops the other and exits 1 for a restart.
    os.kill(pids[0], signal.SIGKILL)
    assert await asyncio.wait_for(proc.wait(), 60) == 1
    assert not alive(pids[1])
    assert "worker_process_exited" in text(log)

    # SIGTERM to the supervisor: both stop gracefully, exit 0.
    log2 = tmp_path / "worker2.log"
    proc = await start(env, log2, 2)
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 60) == 0, text(log2)[-3000:]
    assert text(log2).count("worker_stopped") == 2
    stopped = [json.loads(x) for x in text(log2).splitlines() if '"worker_stopped"' in x]
    assert all("full_collections" in x and "unfreezes" in x for x in stopped), stopped


async def test_a_bad_cache_size_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    env = worker_env(tmp_path, "127.0.0.1:1", SLAWATCH_WORKER_MAX_CACHED_WORKFLOWS="0")
    proc = await asyncio.create_subprocess_exec(
        SLAWATCH, "worker", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, err = await proc.communicate()
    assert proc.returncode == 2
    assert err.decode().splitlines() == [
        "error: SLAWATCH_WORKER_MAX_CACHED_WORKFLOWS: Input should be greater than or equal to 1"
    ]
