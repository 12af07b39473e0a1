"""Intake throughput: tickets opened per second through the API and the Temporal client.

Run: `python -m benchmarks.intake [--tickets 1000] [--stores sqlite,memory]`. Prints a table,
then one JSON line.

For each dev-server store, three paths on a fresh server each, 32 requests in flight. Besides
the rates, each row gives the CPU each process used per ticket, from the first request until
every ticket was ready (ms of user + system time, /proc): the dev server, the worker, and for
the API path the API process. That is where the time goes: on 2 cores the processes share.
- bare: `start_workflow` of an empty workflow (a plain sandboxed worker runs them), the floor;
- client: `start_workflow` of TicketSlaWorkflow, as `intake.gateway` does (`slawatch worker`);
  "ready/s" counts until every ticket has run its first task (policy snapshot, timers set);
- api: `POST /v1/tickets` to `slawatch api`, which answers with the new ticket's SLA status,
  so each request also waits for that first task. A 503 ("retry") is retried, as a client
  would, and counted in the JSON (`retried_503`).

`--rounds R` runs every path R times, in turns (bare, client, api, bare, ...), and adds per
path the median of its ratios to the same round's bare: on a shared machine a single round's
ratio moves by 0.15-0.25 with the machine's speed between one path and the next.

`--processes N` runs the slawatch paths' worker as `slawatch worker --processes N`: N processes,
each with its own polls. The worker's CPU per ticket is then its whole process tree's.

`--diagnose` adds, per store, the client path again with `benchmarks/diagnostic_worker.py`'s
variants ("client:unsandboxed", "client:no-record-write"): the same worker with the sandbox, or
the record store write, taken out. The CPU per ticket they save is what that piece costs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from benchmarks.common import (
    API_TOKEN,
    BARE_QUEUE,
    STORES,
    TENANT,
    TICKET_QUEUE,
    Bench,
    bench,
    emit,
    policy_yaml,
    tree_cpu_s,
)
from benchmarks.diagnostic_worker import VARIANTS
from intake.gateway import ticket_input
from policies.loader import load_policy
from slawatch.models import TICKET_WORKFLOW_TYPE, OpenTicketInput, ticket_workflow_id

IN_FLIGHT = 32
PATHS = ("bare", "client", "api")
API_TRIES = 5


async def drive(n: int, one: Callable[[int], Awaitable[None]]) -> float:
    """Run one(i) for i < n with IN_FLIGHT at a time; returns completions per second."""
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def gated(i: int) -> None:
        async with gate:
            await one(i)

    began = time.monotonic()
    await asyncio.gather(*(gated(i) for i in range(n)))
    return n / (time.monotonic() - began)


async def wait_ready(
    client: Client, n: int, began: float, kind: str = "", limit: float = 600
) -> float:
    """Per second from `began` until all n tickets published their search attributes (or all
    n `kind` workflows completed)."""
    query = (
        f'WorkflowType="{kind}" AND ExecutionStatus="Completed"'
        if kind
        else f'SlaTenant="{TENANT}"'
    )
    while time.monotonic() - began < limit:
        if (await client.count_workflows(query)).count >= n:
            return n / (time.monotonic() - began)
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{n} tickets were not ready after {limit} s")


class CpuPerTicket:
    """CPU each named process uses from `start()` to `per_ticket(n)`, in ms per ticket."""

    def __init__(self) -> None:
        self.pids: dict[str, int] = {}
        self.before: dict[str, float] = {}

    def start(self, **pids: int) -> None:
        self.pids.update(pids)
        self.before.update({name: tree_cpu_s(pid) for name, pid in pids.items()})

    def per_ticket(self, n: int) -> dict[str, float]:
        return {
            f"{name}_cpu_ms_per_ticket": round((tree_cpu_s(pid) - self.before[name]) * 1000 / n, 1)
            for name, pid in self.pids.items()
        }


async def run_path(b: Bench, store: str, path: str, n: int, processes: int = 1) -> dict[str, Any]:
    client = await b.start_server(store)
    row: dict[str, Any] = {"store": store, "path": path}
    cpu = CpuPerTicket()
    if path == "bare":
        worker = b.start_bare_worker(1000)

        async def bare(i: int) -> None:
            await client.start_workflow("Empty", "x", id=f"empty-{i}", task_queue=BARE_QUEUE)

        cpu.start(server=b.server_pid, worker=worker)
        began = time.monotonic()
        row["open_per_s"] = round(await drive(n, bare), 1)
        row["ready_per_s"] = round(await wait_ready(client, n, began, "Empty"), 1)
        return row | cpu.per_ticket(n)
    policies = b.root / "policies"
    policies.mkdir(exist_ok=True)
    (policies / f"{TENANT}.yaml").write_text(policy_yaml(7200, 3600))
    env = b.slawatch_env(policies, max_cached=n + 100)
    kind, _, variant = path.partition(":")  # "client:unsandboxed": a diagnostic worker
    worker = b.start_slawatch_worker(env, processes, variant=variant or None)
    began = time.monotonic()
    if kind == "client":
        cpu.start(server=b.server_pid, worker=worker)
        # As the API does: the policy is resolved once and its snapshot goes in every input.
        policy = load_policy(TENANT, policies)

        async def direct(i: int) -> None:
            ticket = OpenTicketInput(tenant=TENANT, ticket_id=f"C{i:06d}", severity="critical")
            await client.start_workflow(
                TICKET_WORKFLOW_TYPE,
                ticket_input(ticket, policy),
                id=ticket_workflow_id(TENANT, ticket.ticket_id),
                task_queue=TICKET_QUEUE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )

        row["open_per_s"] = round(await drive(n, direct), 1)
    else:
        url = b.start_api(env)
        cpu.start(server=b.server_pid, worker=worker, api=b.api_pid)
        began = time.monotonic()
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        limits = httpx.Limits(max_connections=IN_FLIGHT)
        retried = 0
        async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits) as http:

            async def api(i: int) -> None:
                nonlocal retried
                body = {"tenant": TENANT, "ticket_id": f"A{i:06d}", "severity": "critical"}
                for attempt in range(API_TRIES):
                    response = await http.post("/v1/tickets", json=body, timeout=60)
                    # 503 says "retry": the API's Temporal call ran out of its 10 s, which a
                    # saturated machine does. A client retries; a repeat answers 200, same ticket.
                    if response.status_code != 503 or attempt == API_TRIES - 1:
                        break
                    retried += 1
                if response.status_code not in (200, 201):
                    raise RuntimeError(f"POST /v1/tickets: {response.status_code} {response.text}")

            row["open_per_s"] = round(await drive(n, api), 1)
        row["retried_503"] = retried
    row["ready_per_s"] = round(await wait_ready(client, n, began), 1)
    return row | cpu.per_ticket(n)


def cpu_column(row: dict[str, Any]) -> str:
    """The row's CPU per ticket, process by process: `server 18.2 worker 7.4 (api 5.6)`."""
    parts = [f"{name} {row[f'{name}_cpu_ms_per_ticket']}" for name in ("server", "worker")]
    if "api_cpu_ms_per_ticket" in row:
        parts.append(f"(api {row['api_cpu_ms_per_ticket']})")
    return " ".join(parts)


async def main(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="slawatch-bench-intake-"))
    rows: list[dict[str, Any]] = []
    paths = PATHS + tuple(f"client:{v}" for v in VARIANTS) * args.diagnose
    for round_ in range(1, args.rounds + 1):
        for store in args.stores:
            bare: dict[str, Any] = {}
            for path in paths:
                with bench(root / f"{store}-{path}-{round_}") as b:
                    row = {"round": round_} | await run_path(
                        b, store, path, args.tickets, args.processes
                    )
                bare = bare or row
                for k in ("open_per_s", "ready_per_s"):
                    row[f"{k}_of_bare"] = round(row[k] / bare[k], 2)
                rows.append(row)
    table = [
        [r[k] for k in ("round", "store", "path", "open_per_s", "ready_per_s")]
        + [r[k] for k in ("open_per_s_of_bare", "ready_per_s_of_bare")]
        + [cpu_column(r)]
        for r in rows
    ]
    medians = median_ratios(rows) if args.rounds > 1 else []
    table += [
        ["median", m["store"], m["path"], "", "", m["open_per_s_of_bare"], m["ready_per_s_of_bare"],
         f"ready/bare {m['ready_low']}-{m['ready_high']}"]
        for m in medians
    ]  # fmt: skip
    emit(
        f"intake throughput: {args.tickets} tickets per path, {IN_FLIGHT} in flight, "
        f"{args.rounds} round(s), {args.processes} worker process(es)",
        ["round", "store", "path", "open/s", "ready/s", "open/bare", "ready/bare", "cpu ms/ticket"],
        table,
        {"args": vars(args), "rows": rows, "medians": medians, "logs": str(root)},
    )


def median_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per store and path, the median over rounds of each ratio to the same round's bare, and
    the range of ready/bare. Each round runs every path once, so drift in the machine's speed
    between rounds moves both sides of a ratio; the median keeps one slow round from deciding."""
    out = []
    for store, path in dict.fromkeys((r["store"], r["path"]) for r in rows):
        mine = [r for r in rows if (r["store"], r["path"]) == (store, path)]
        ready = sorted(r["ready_per_s_of_bare"] for r in mine)
        out.append(
            {
                "store": store,
                "path": path,
                "open_per_s_of_bare": round(
                    statistics.median(r["open_per_s_of_bare"] for r in mine), 2
                ),
                "ready_per_s_of_bare": round(statistics.median(ready), 2),
                "ready_low": ready[0],
                "ready_high": ready[-1],
            }
        )
    return out


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1000, help="tickets per path and store")
    parser.add_argument("--stores", default="sqlite,memory", help=f"of {', '.join(STORES)}")
    parser.add_argument(
        "--diagnose",
        action="store_true",
        help="also the client path with the sandbox, then the record write, taken out",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="run every path this many times, in turns"
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="`slawatch worker --processes N` (default 1)"
    )
    args = parser.parse_args()
    args.stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    unknown = [s for s in args.stores if s not in STORES]
    if unknown or not args.stores:
        parser.error(f"--stores: {unknown or 'none'} not among {', '.join(STORES)}")
    if args.tickets < 1:
        parser.error("--tickets: must be at least 1")
    if args.rounds < 1:
        parser.error("--rounds: must be at least 1")
    if args.processes < 1:
        parser.error("--processes: must be at least 1")
    if args.processes > 1 and args.diagnose:
        parser.error("--diagnose: its workers are single processes; leave out --processes")
    asyncio.run(main(args))


if __name__ == "__main__":
    cli()
