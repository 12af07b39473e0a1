"""Breach-to-page lag: from each ticket's exact response deadline to its SMS at the Twilio stand-in.

Run: `python -m benchmarks.lag [--tickets 1000] [--breaching M] [--window 60] [--store sqlite]`.
Full run: `--tickets 10000`. Smallest (tests/test_benchmarks_smoke.py): `--tickets 3 --window 1
--lead 3 --drain 20 --probe 5`. Prints a table, then one JSON line.

Two phases on fresh dev servers, same deadlines: the floor (a bare sandboxed workflow that sleeps
to the deadline and calls a no-op activity) and slawatch (`slawatch worker`, real Prism + proxy).
N tickets are opened first (all open and cached during the window); M of them have response
deadlines spread evenly over the window, the rest are due an hour later. A ticket's deadline is
known exactly because the benchmark passes `opened_at` (deadline = opened_at + target).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from benchmarks.common import (
    BARE_QUEUE,
    TENANT,
    TICKET_QUEUE,
    TWILIO_TOKEN,
    Bench,
    bench,
    emit,
    percentiles,
    policy_yaml,
    rss_mb,
)
from intake.gateway import ticket_input
from policies.loader import load_policy
from policies.schema import Policy
from slawatch.models import TICKET_WORKFLOW_TYPE, OpenTicketInput, ticket_workflow_id
from slawatch.settings import DEV_ACCOUNT_SID
from slawatch.tools.standins.outbox import read_jsonl
from slawatch.tools.testing import EMERGENCY

TARGET_S = 7200  # long, so every opened_at is in the past; the deadline is what matters
LATER = timedelta(hours=1)  # where the non-breaching tickets' deadlines go


def plan(n: int, m: int, start: datetime, window: float) -> list[datetime]:
    """Deadlines: M evenly over [start, start+window), the other N-M an hour after it."""
    step = window / m
    due = [start + timedelta(seconds=step * (i + 0.5)) for i in range(m)]
    return due + [start + timedelta(seconds=window) + LATER] * (n - m)


async def open_all(client: Client, deadlines: list[datetime], policy: Policy | None) -> float:
    """Start one workflow per deadline, 32 at a time; returns starts per second. With a
    policy, slawatch tickets (its snapshot in each input, as the API opens them)."""
    gate = asyncio.Semaphore(32)

    async def one(i: int, due: datetime) -> None:
        async with gate:
            if policy is not None:
                ticket = OpenTicketInput(
                    tenant=TENANT,
                    ticket_id=f"B{i:06d}",
                    severity="critical",
                    opened_at=due - timedelta(seconds=TARGET_S),
                )
                await client.start_workflow(
                    TICKET_WORKFLOW_TYPE,
                    ticket_input(ticket, policy),
                    id=ticket_workflow_id(TENANT, ticket.ticket_id),
                    task_queue=TICKET_QUEUE,
                )
            else:
                await client.start_workflow(
                    "SleepThenCall", due.isoformat(), id=f"bare-{i:06d}", task_queue=BARE_QUEUE
                )

    began = time.monotonic()
    await asyncio.gather(*(one(i, d) for i, d in enumerate(deadlines)))
    return len(deadlines) / (time.monotonic() - began)


async def probe_standin(url: str, count: int = 300, concurrency: int = 6) -> dict[str, Any]:
    """Requests/s the Twilio stand-in (proxy + Prism) answers, at the worker's thread count."""
    path = f"/2010-04-01/Accounts/{DEV_ACCOUNT_SID}/Messages.json"
    form = {"To": EMERGENCY, "From": "+15005550006", "Body": "probe"}
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, auth=(DEV_ACCOUNT_SID, TWILIO_TOKEN)) as http:

        async def one() -> None:
            async with gate:
                began = time.monotonic()
                (await http.post(path, data=form)).raise_for_status()
                latencies.append(time.monotonic() - began)

        began = time.monotonic()
        await asyncio.gather(*(one() for _ in range(count)))
        elapsed = time.monotonic() - began
    return {"requests_per_s": round(count / elapsed, 1), "latency_s": percentiles(latencies)}


def first_sms(outbox: Path) -> dict[int, datetime]:
    """Each ticket's first SMS record at the stand-in, by ticket number."""
    first: dict[int, datetime] = {}
    for line in read_jsonl(outbox):
        callback = line.get("form", {}).get("StatusCallback", "")
        query = parse_qs(urlsplit(callback).query)
        key, wf = query.get("key", [""])[0], query.get("wf", [""])[0]
        if not wf.startswith(f"ticket/{TENANT}/B") or not key.endswith("/sms/emergency_line"):
            continue
        i, at = int(wf.rsplit("B", 1)[1]), datetime.fromisoformat(line["at"])
        first[i] = min(first.get(i, at), at)
    return first


def sms_lags(outbox: Path, deadlines: list[datetime]) -> list[float]:
    """Seconds from each ticket's deadline to its first SMS record at the stand-in."""
    return [(at - deadlines[i]).total_seconds() for i, at in first_sms(outbox).items()]


async def decompose(
    client: Client, outbox: Path, deadlines: list[datetime], sample: int
) -> dict[str, Any]:
    """Where a page's lag goes, from the histories of `sample` breached tickets."""
    sent = first_sms(outbox)
    parts: dict[str, list[float]] = {"first_task_s": [], "timer_late_s": [], "timer_to_sms_s": []}
    untimed = 0
    for i in sorted(sent)[:: max(1, len(sent) // sample)]:
        handle = client.get_workflow_handle(ticket_workflow_id(TENANT, f"B{i:06d}"))
        events = (await handle.fetch_history()).events
        first: dict[int, datetime] = {}
        for e in events:
            first.setdefault(e.event_type, e.event_time.ToDatetime(UTC))
        task_started = first.get(EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED)
        timer_set = first.get(EventType.EVENT_TYPE_TIMER_STARTED)
        fired = first.get(EventType.EVENT_TYPE_TIMER_FIRED)
        if task_started is None or timer_set is None or fired is None:
            # No deadline timer was ever armed: the task after the policy snapshot ran after the
            # deadline (a saturated worker, a workflow task timed out) and breached at once.
            untimed += 1
            continue
        # The first timer's length is computed from workflow.now() (the task's start) but runs
        # from when the task completes: a slow first task makes the timer late by that much.
        parts["first_task_s"].append((timer_set - task_started).total_seconds())
        parts["timer_late_s"].append((fired - deadlines[i]).total_seconds())
        parts["timer_to_sms_s"].append((sent[i] - fired).total_seconds())
    return {**{k: percentiles(v) for k, v in parts.items()}, "no_deadline_timer": untimed}


async def wait_until(instant: datetime) -> None:
    await asyncio.sleep(max(0.0, (instant - datetime.now(UTC)).total_seconds()))


async def phase(b: Bench, args: argparse.Namespace, slawatch: bool) -> dict[str, Any]:
    client = await b.start_server(args.store)
    max_cached = args.max_cached or args.tickets + args.breaching + 100
    result: dict[str, Any] = {"phase": "slawatch" if slawatch else "floor"}
    if slawatch:
        standins = b.start_standins()
        result["standin_probe"] = await probe_standin(standins.twilio.url, args.probe)
        policies = b.root / "policies"
        policies.mkdir()
        (policies / f"{TENANT}.yaml").write_text(policy_yaml(TARGET_S, 3600))
        worker_pid = b.start_slawatch_worker(b.slawatch_env(policies, max_cached))
        policy: Policy | None = load_policy(TENANT, policies)
    else:
        worker_pid = b.start_bare_worker(max_cached)
        policy = None
    start = datetime.now(UTC) + timedelta(seconds=args.lead or args.tickets / 30 + 15)
    deadlines = plan(args.tickets, args.breaching, start, args.window)
    result["open_per_s"] = round(await open_all(client, deadlines, policy), 1)
    result["opened_before_window_s"] = round((start - datetime.now(UTC)).total_seconds(), 1)
    await wait_until(start)
    if slawatch:
        # Tickets whose first evaluation ran (search attributes published) when the window began.
        count = await client.count_workflows(f'SlaTenant="{TENANT}"')
        result["ready_at_window_start"] = count.count
    end = start + timedelta(seconds=args.window + args.drain)
    if slawatch:
        assert b.standins is not None
        outbox = b.standins.twilio.standin.outbox.path
        # Polling a file the stand-in appends to; stop early once every page has arrived.
        for _ in range(int((end - datetime.now(UTC)).total_seconds() / 2) + 1):
            if len(sms_lags(outbox, deadlines)) >= args.breaching:
                break
            await asyncio.sleep(2)
        lags = sms_lags(outbox, deadlines)
        result["breakdown"] = await decompose(client, outbox, deadlines, 100)
    else:
        lags = await bare_lags(client, deadlines[: args.breaching], end)
    result["lag_s"] = percentiles(lags)
    result["missing"] = args.breaching - len(lags)
    result["worker_rss_mb"] = round(rss_mb(worker_pid), 1)
    result["server_rss_mb"] = round(rss_mb(b.server_pid), 1)
    return result


async def bare_lags(client: Client, deadlines: list[datetime], end: datetime) -> list[float]:
    async def one(i: int, due: datetime) -> float | None:
        handle = client.get_workflow_handle(f"bare-{i:06d}", result_type=float)
        timeout = (end - datetime.now(UTC)).total_seconds()
        try:
            ran_at: float = await asyncio.wait_for(handle.result(), max(timeout, 1))
        except TimeoutError:
            return None
        return ran_at - due.timestamp()

    found = await asyncio.gather(*(one(i, d) for i, d in enumerate(deadlines)))
    return [lag for lag in found if lag is not None]


def row(r: dict[str, Any]) -> list[Any]:
    lag = r["lag_s"]
    cols = [r["phase"], r["open_per_s"], lag.get("count", 0), r["missing"]]
    cols += [lag.get(k, "-") for k in ("p50", "p95", "p99", "max")]
    return [*cols, r["worker_rss_mb"], r["server_rss_mb"]]


async def main(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="slawatch-bench-lag-"))
    results = []
    for slawatch in (False, True):
        with bench(root / ("slawatch" if slawatch else "floor")) as b:
            results.append(await phase(b, args, slawatch))
    floor, ours = results
    ratio = {
        k: round(ours["lag_s"][k] / floor["lag_s"][k], 2) if floor["lag_s"].get(k) else None
        for k in ("p50", "p95", "p99", "max")
        if k in ours["lag_s"]
    }
    headers = ["phase", "open/s", "paged", "missing", "p50 s", "p95 s", "p99 s", "max s"]
    title = (
        f"breach-to-page lag: {args.tickets} open, {args.breaching} due over {args.window:g} s "
        f"({args.breaching / args.window:.1f}/s), {args.store}"
    )
    emit(
        title,
        [*headers, "worker MB", "server MB"],
        [row(r) for r in results] + [["ratio", "", "", "", *ratio.values(), "", ""]],
        {"args": vars(args), "floor": floor, "slawatch": ours, "ratio": ratio, "logs": str(root)},
    )


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1000, help="open tickets (N)")
    parser.add_argument("--breaching", type=int, help="how many are due in the window (M ≤ N)")
    parser.add_argument("--window", type=float, default=60.0, help="seconds the M deadlines span")
    parser.add_argument("--store", default="sqlite", help="sqlite (WAL), sqlite-default, memory")
    parser.add_argument(
        "--lead", type=float, help="seconds from start to the window (default N/30+15)"
    )
    parser.add_argument(
        "--drain", type=float, default=60.0, help="seconds to wait after the window"
    )
    parser.add_argument("--max-cached", type=int, help="worker cache size (default N+M+100)")
    parser.add_argument(
        "--probe", type=int, default=300, help="SMS requests that probe the Twilio stand-in first"
    )
    args = parser.parse_args()
    args.breaching = args.breaching or min(args.tickets, 1000)
    if not 0 < args.breaching <= args.tickets:
        parser.error("--breaching: must be between 1 and --tickets")
    if args.window <= 0:
        parser.error("--window: must be positive")
    if args.probe < 1:
        parser.error("--probe: must be at least 1")
    asyncio.run(main(args))


if __name__ == "__main__":
    cli()
