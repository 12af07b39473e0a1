"""Breach-to-page lag: from each ticket's exact response deadline to its SMS at the Twilio stand-in.

Run: `python -m benchmarks.lag [--tickets 1000] [--breaching M] [--window 60] [--store sqlite]`.
Full run: `--tickets 10000`. Smallest (tests/test_benchmarks_smoke.py): `--tickets 3 --window 1
--lead 3 --drain 20 --probe 5`. Prints a table, then one JSON line.

Two phases on fresh dev servers, same deadlines: the floor (a bare sandboxed workflow that sleeps
to the deadline and calls a no-op activity) and slawatch (`slawatch worker`, real Prism + proxy).
N tickets are opened first (all open and cached during the window); M of them have response
deadlines spread evenly over the window, the rest are due an hour later. A ticket's deadline is
known exactly because the benchmark passes `opened_at` (deadline = opened_at + target).

`--sustained 10,20,40`: the breach rate is stepped instead, each rate for `--window` seconds
with `--gap` seconds between steps, in both phases on the same deadlines; the table gives both
curves and the highest rate at which slawatch's p99 stays within 2x the floor's p99 at that
rate with no page missing. `--processes N` runs `slawatch worker --processes N` (worker RSS is
then the sum over its processes). Smallest sustained run (tests/test_benchmarks_smoke.py):
`--tickets 4 --sustained 1,2 --window 1 --gap 1 --lead 3 --drain 20 --probe 5`.

`--ack-window S` sets the ladder's ack windows (default an hour). Escalations start only when
step 1's window ends unacknowledged, so by default none starts within the run, as when every
breach is answered in time; a window shorter than the drain starts every breach's escalation
and its call while later breaches page, as when nobody answers.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
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
    history_if_started,
    percentiles,
    policy_yaml,
    rss_mb,
    tree_rss_mb,
)
from benchmarks.page_tasks import breach_path
from intake.gateway import ticket_input
from policies.loader import load_policy
from policies.schema import Policy
from slawatch.models import TICKET_WORKFLOW_TYPE, OpenTicketInput, ticket_workflow_id
from slawatch.settings import DEV_ACCOUNT_SID
from slawatch.tools.standins.outbox import read_jsonl
from slawatch.tools.testing import EMERGENCY

TARGET_S = 7200  # long, so every opened_at is in the past; the deadline is what matters
LATER = timedelta(hours=1)  # where the non-breaching tickets' deadlines go


@dataclass(frozen=True)
class Step:
    """Deadlines [lo, hi) of the plan, due at `rate` per second."""

    rate: float
    lo: int
    hi: int


def plan(n: int, m: int, start: datetime, window: float) -> list[datetime]:
    """Deadlines: M evenly over [start, start+window), the other N-M an hour after it."""
    step = window / m
    due = [start + timedelta(seconds=step * (i + 0.5)) for i in range(m)]
    return due + [start + timedelta(seconds=window) + LATER] * (n - m)


def sustained_plan(
    n: int, rates: list[float], start: datetime, window: float, gap: float
) -> tuple[list[datetime], list[Step]]:
    """Deadlines for each rate in turn, `window` seconds each and `gap` seconds apart; the
    tickets left over are due an hour after the last step."""
    due: list[datetime] = []
    steps: list[Step] = []
    at = start
    for rate in rates:
        count = steps_count(rate, window)
        lo = len(due)
        due += [at + timedelta(seconds=(i + 0.5) / rate) for i in range(count)]
        steps.append(Step(rate, lo, len(due)))
        at += timedelta(seconds=window + gap)
    return due + [at + LATER] * (n - len(due)), steps


def steps_count(rate: float, window: float) -> int:
    """Deadlines one step of `rate` per second over `window` seconds holds (at least one)."""
    return max(1, round(rate * window))


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


def first_records(outbox: Path) -> dict[str, dict[int, datetime]]:
    """Each ticket's first SMS and first call record at the stand-in, by ticket number, from
    one read of the outbox."""
    first: dict[str, dict[int, datetime]] = {"sms": {}, "voice": {}}
    for line in read_jsonl(outbox):
        callback = line.get("form", {}).get("StatusCallback", "")
        query = parse_qs(urlsplit(callback).query)
        key, wf = query.get("key", [""])[0], query.get("wf", [""])[0]
        channel = key.rsplit("/", 2)[-2] if key.endswith("/emergency_line") else ""
        if not wf.startswith(f"ticket/{TENANT}/B") or channel not in first:
            continue
        i, at = int(wf.rsplit("B", 1)[1]), datetime.fromisoformat(line["at"])
        first[channel][i] = min(first[channel].get(i, at), at)
    return first


def first_sms(outbox: Path, channel: str = "sms") -> dict[int, datetime]:
    """Each ticket's first SMS (or call) record at the stand-in, by ticket number."""
    return first_records(outbox)[channel]


def lags_of(sent: dict[int, datetime], deadlines: list[datetime]) -> dict[int, float]:
    """Seconds from each ticket's deadline to its first record at the stand-in."""
    return {i: (at - deadlines[i]).total_seconds() for i, at in sent.items()}


# The ack windows of the benchmark's ladder unless `--ack-window` says otherwise: an hour, so
# the breach path is everything the server does after the breach task (nobody acknowledges,
# and no escalation starts within the run).
ACK_WINDOW_S = 3600


async def decompose(
    client: Client, outbox: Path, deadlines: list[datetime], sample: int, window: timedelta
) -> dict[str, Any]:
    """Where a page's lag goes, from the histories of `sample` breached tickets."""
    sent = first_sms(outbox)
    parts: dict[str, list[float]] = {"first_task_s": [], "timer_late_s": [], "timer_to_sms_s": []}
    costs: dict[str, list[float]] = {}
    untimed = timed_out = 0
    for i in sorted(sent)[:: max(1, len(sent) // sample)]:
        handle = client.get_workflow_handle(ticket_workflow_id(TENANT, f"B{i:06d}"))
        history = await handle.fetch_history()
        events = history.events
        child = await history_if_started(client, f"{handle.id}-escalation-response-1")
        # The ladder's ack windows are an hour: all the server did after the breach is its path
        # (an escalation starts only when its first window ends, so normally there is none).
        for name, n in breach_path(history, child, window).items():
            costs.setdefault(name, []).append(n)
        first: dict[int, datetime] = {}
        for e in events:
            first.setdefault(e.event_type, e.event_time.ToDatetime(UTC))
        # A task that waited past the sticky timeout went to any worker and replayed the ticket.
        timed_out += EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT in first
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
    # What one breach cost the server, both workflows (benchmarks/page_tasks.py `breach_path`).
    per_breach = {k: round(sum(v) / len(v), 1) for k, v in costs.items()}
    return {
        **{k: percentiles(v) for k, v in parts.items()},
        "no_deadline_timer": untimed,
        "tickets_with_a_task_timed_out": timed_out,
        "per_breach_mean": per_breach,
    }


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
        (policies / f"{TENANT}.yaml").write_text(policy_yaml(TARGET_S, args.ack_window))
        env = b.slawatch_env(policies, max_cached)
        worker_pid = b.start_slawatch_worker(env, args.processes)
        policy: Policy | None = load_policy(TENANT, policies)
    else:
        worker_pid = b.start_bare_worker(max_cached)
        policy = None
    start = datetime.now(UTC) + timedelta(seconds=args.lead or args.tickets / 30 + 15)
    steps: list[Step] = []
    if args.sustained:
        deadlines, steps = sustained_plan(
            args.tickets, args.sustained, start, args.window, args.gap
        )
        window = args.breach_span
    else:
        deadlines = plan(args.tickets, args.breaching, start, args.window)
        window = timedelta(seconds=args.window)
    result["open_per_s"] = round(await open_all(client, deadlines, policy), 1)
    result["opened_before_window_s"] = round((start - datetime.now(UTC)).total_seconds(), 1)
    await wait_until(start)
    if slawatch:
        # Tickets whose first evaluation ran (search attributes published) when the window began.
        count = await client.count_workflows(f'SlaTenant="{TENANT}"')
        result["ready_at_window_start"] = count.count
    end = start + window + timedelta(seconds=args.drain)
    if slawatch:
        assert b.standins is not None
        outbox = b.standins.twilio.standin.outbox.path
        # Polling a file the stand-in appends to; stop early once every page has arrived (and,
        # with an ack window shorter than the drain, every escalation's call: nobody answers).
        calls_due = args.ack_window < args.drain
        for _ in range(int((end - datetime.now(UTC)).total_seconds() / 2) + 1):
            first = first_records(outbox)
            paged = len(first["sms"]) >= args.breaching
            if paged and (not calls_due or len(first["voice"]) >= args.breaching):
                break
            await asyncio.sleep(2)
        first = first_records(outbox)
        lags = lags_of(first["sms"], deadlines)
        # Step 2's calls: each from an escalation, started when step 1's window ended.
        result["escalation_calls"] = len(first["voice"])
        window = timedelta(seconds=args.ack_window)
        result["breakdown"] = await decompose(client, outbox, deadlines, 100, window)
    else:
        lags = await bare_lags(client, deadlines[: args.breaching], end)
    result["lag_s"] = percentiles(list(lags.values()))
    result["missing"] = args.breaching - len(lags)
    if args.sustained:
        result["steps"] = [
            {
                "rate": st.rate,
                "lag_s": percentiles([lags[i] for i in range(st.lo, st.hi) if i in lags]),
                "missing": sum(1 for i in range(st.lo, st.hi) if i not in lags),
            }
            for st in steps
        ]
    result["worker_rss_mb"] = round(tree_rss_mb(worker_pid), 1)
    result["server_rss_mb"] = round(rss_mb(b.server_pid), 1)
    return result


async def bare_lags(client: Client, deadlines: list[datetime], end: datetime) -> dict[int, float]:
    async def one(i: int, due: datetime) -> float | None:
        handle = client.get_workflow_handle(f"bare-{i:06d}", result_type=float)
        timeout = (end - datetime.now(UTC)).total_seconds()
        try:
            ran_at: float = await asyncio.wait_for(handle.result(), max(timeout, 1))
        except TimeoutError:
            return None
        return ran_at - due.timestamp()

    found = await asyncio.gather(*(one(i, d) for i, d in enumerate(deadlines)))
    return {i: lag for i, lag in enumerate(found) if lag is not None}


def row(r: dict[str, Any]) -> list[Any]:
    lag = r["lag_s"]
    cols = [r["phase"], r["open_per_s"], lag.get("count", 0), r["missing"]]
    cols += [lag.get(k, "-") for k in ("p50", "p95", "p99", "max")]
    return [*cols, r["worker_rss_mb"], r["server_rss_mb"]]


SUSTAINED_HEADERS = ["rate/s", "floor p50 s", "floor p99 s", "floor missing", "slawatch p50 s"]
SUSTAINED_HEADERS += ["slawatch p99 s", "slawatch missing", "p99 ratio", "within 2x"]


def ratio_of(ours: dict[str, Any], floor: dict[str, Any]) -> dict[str, float | None]:
    return {
        k: round(ours[k] / floor[k], 2) if floor.get(k) else None
        for k in ("p50", "p95", "p99", "max")
        if k in ours
    }


def sustained_ceiling(floor: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    """Per rate: both p99s and their ratio; the highest rate (stepping up) at which slawatch's
    p99 is within 2x the floor's and no page is missing in either phase."""
    rows = []
    for f, o in zip(floor["steps"], ours["steps"], strict=True):
        fp, op = f["lag_s"].get("p99"), o["lag_s"].get("p99")
        ratio = round(op / fp, 2) if fp and op is not None else None
        ok = ratio is not None and ratio <= 2 and f["missing"] == o["missing"] == 0
        rows.append({"rate": f["rate"], "floor": f, "slawatch": o, "p99_ratio": ratio, "ok": ok})
    # The ceiling is the last rate of the unbroken run of passing steps from the lowest.
    passing = 0
    for r in rows:
        if not r["ok"]:
            break
        passing += 1
    return {"steps": rows, "ceiling_per_s": rows[passing - 1]["rate"] if passing else None}


async def main(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="slawatch-bench-lag-"))
    results = []
    for slawatch in (False, True):
        with bench(root / ("slawatch" if slawatch else "floor")) as b:
            results.append(await phase(b, args, slawatch))
    floor, ours = results
    late = [r["phase"] for r in results if r["opened_before_window_s"] < 0]
    if late:
        # Deadlines passed while tickets were still being opened: lags measure the opening.
        print(
            f"warning: {', '.join(late)}: the window opened before every ticket was; raise --lead"
        )
    ratio = ratio_of(ours["lag_s"], floor["lag_s"])
    headers = ["phase", "open/s", "paged", "missing", "p50 s", "p95 s", "p99 s", "max s"]
    workers = f", {args.processes} worker processes" if args.processes > 1 else ""
    data: dict[str, Any] = {
        "args": vars(args),
        "floor": floor,
        "slawatch": ours,
        "ratio": ratio,
        "logs": str(root),
    }
    if args.sustained:
        data["sustained"] = sustained_ceiling(floor, ours)
        rates = ",".join(f"{r:g}" for r in args.sustained)
        title = (
            f"breach-to-page lag, sustained: {args.tickets} open, {rates} breaches/s for "
            f"{args.window:g} s each, {args.store}{workers}"
        )
        emit(
            title,
            SUSTAINED_HEADERS,
            [
                [
                    r["rate"],
                    r["floor"]["lag_s"].get("p50", "-"),
                    r["floor"]["lag_s"].get("p99", "-"),
                    r["floor"]["missing"],
                    r["slawatch"]["lag_s"].get("p50", "-"),
                    r["slawatch"]["lag_s"].get("p99", "-"),
                    r["slawatch"]["missing"],
                    r["p99_ratio"] if r["p99_ratio"] is not None else "-",
                    "yes" if r["ok"] else "no",
                ]
                for r in data["sustained"]["steps"]
            ],
            data,
        )
        ceiling = data["sustained"]["ceiling_per_s"]
        print(f"sustained ceiling (p99 <= 2x floor, 0 missing): {ceiling or 'none'} breaches/s")
        return
    title = (
        f"breach-to-page lag: {args.tickets} open, {args.breaching} due over {args.window:g} s "
        f"({args.breaching / args.window:.1f}/s), {args.store}{workers}"
    )
    emit(
        title,
        [*headers, "worker MB", "server MB"],
        [row(r) for r in results] + [["ratio", "", "", "", *ratio.values(), "", ""]],
        data,
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
        "--ack-window",
        type=int,
        default=ACK_WINDOW_S,
        help="seconds each ladder step waits for an acknowledgement (default 3600: no "
        "escalation starts within the run; a short one starts each breach's escalation "
        "and its calls while later breaches page, as when nobody answers)",
    )
    parser.add_argument(
        "--probe", type=int, default=300, help="SMS requests that probe the Twilio stand-in first"
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="`slawatch worker --processes N` (default 1)"
    )
    parser.add_argument(
        "--sustained",
        help="step the breach rate: comma-separated breaches/s, each for --window seconds",
    )
    parser.add_argument(
        "--gap", type=float, default=15.0, help="seconds between sustained steps (default 15)"
    )
    args = parser.parse_args()
    if args.processes < 1:
        parser.error("--processes: must be at least 1")
    if args.ack_window < 1:
        parser.error("--ack-window: must be at least 1 second")
    if args.sustained:
        try:
            args.sustained = [float(r) for r in args.sustained.split(",") if r.strip()]
        except ValueError:
            parser.error(f"--sustained: {args.sustained!r} is not a list of rates like 10,20,40")
        if not args.sustained or min(args.sustained) <= 0:
            parser.error("--sustained: every rate must be positive")
        if args.breaching:
            parser.error("--breaching: not with --sustained (each step's rate sets it)")
        if args.gap < 0:
            parser.error("--gap: must not be negative")
        args.breaching = sum(steps_count(r, args.window) for r in args.sustained)
        if args.breaching > args.tickets:
            parser.error(f"--tickets: the steps need {args.breaching} due tickets; open that many")
        span = len(args.sustained) * (args.window + args.gap) - args.gap
        args.breach_span = timedelta(seconds=span)
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
