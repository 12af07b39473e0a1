"""Footprint: worker and server memory with N open tickets; history events per ticket lifecycle.

Run: `python -m benchmarks.footprint [--tickets 1000] [--max-cached N] [--settle 5]`. Full run:
`--tickets 10000`; smallest (tests/test_benchmarks_smoke.py): `--tickets 3 --settle 0`. Prints
two tables, each followed by one JSON line.

Memory: `slawatch worker` and a SQLite (WAL) dev server, resident set size idle and after N
critical tickets are open and have all run their first task (every one cached when the cache
holds N). Lifecycles: typical tickets driven through the real worker and stand-ins with a policy
in seconds, counting the history events, serialized history bytes and workflow tasks of the
ticket and its escalation workflows (the input snapshots are part of the bytes). The four
lifecycles run side by side (each is a ticket of its own, with its own history), before the N
tickets are opened.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle

from benchmarks.common import (
    TENANT,
    TICKET_QUEUE,
    bench,
    emit,
    history_if_started,
    policy_yaml,
    rss_mb,
)
from benchmarks.intake import drive, wait_ready
from intake.gateway import ticket_input
from policies.loader import load_policy
from policies.schema import Channel
from slawatch.models import (
    TICKET_WORKFLOW_TYPE,
    AcknowledgeInput,
    CloseInput,
    FirstResponseInput,
    OpenTicketInput,
    PauseInput,
    ResolveInput,
    ResumeInput,
    TicketStatus,
    ticket_workflow_id,
)

FAST = "benchfast"  # response due 2 s after opening, ack windows of 2 s, warnings at 50/80 %
Step = Callable[[WorkflowHandle[Any, Any]], Awaitable[Any]]


def update(name: str, arg: Any) -> Step:
    async def run(h: WorkflowHandle[Any, Any]) -> Any:
        return await h.execute_update(name, arg, result_type=TicketStatus)

    return run


def until(check: Callable[[TicketStatus], bool], what: str) -> Step:
    """Wait (up to 60 s) until the ticket's status satisfies `check`."""

    async def run(h: WorkflowHandle[Any, Any]) -> None:
        for _ in range(300):
            # A ticket answers from its first task (its snapshot is in its input).
            status = await h.query("status", result_type=TicketStatus)
            if check(status):
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"{h.id}: {what} did not happen in 60 s")

    return run


ANSWER = [
    update("first_response", FirstResponseInput(by="agent")),
    update("resolve", ResolveInput()),
]
CLOSE = [update("close", CloseInput())]
DONE = [*ANSWER, *CLOSE]
LIFECYCLES: dict[str, tuple[str, list[Step]]] = {
    "answered in time, resolved, closed": (TENANT, [*ANSWER, *CLOSE]),
    "paused, resumed, answered, closed": (
        TENANT,
        [update("pause", PauseInput()), update("resume", ResumeInput()), *ANSWER, *CLOSE],
    ),
    "warned, breached, SMS acked, closed": (
        FAST,
        [
            # Warning emails are in `sent` too (since fe690d2): wait for the breach's own page.
            until(lambda s: any(n.channel == Channel.SMS for n in s.sent), "the breach SMS"),
            update("acknowledge", AcknowledgeInput(responder="ana", channel="sms")),
            *ANSWER,
            *CLOSE,
        ],
    ),
    "breached, ladder exhausted, closed": (
        FAST,
        [until(lambda s: any(b.outcome == "exhausted" for b in s.breaches), "ladder end"), *DONE],
    ),
}


async def history_of(client: Client, workflow_id: str) -> tuple[int, int, int]:
    """Events, serialized bytes and completed workflow tasks of a workflow's history (nothing
    for an escalation that never started)."""
    history = await history_if_started(client, workflow_id)
    if history is None:
        return 0, 0, 0
    tasks = sum(1 for e in history.events if e.HasField("workflow_task_completed_event_attributes"))
    return len(history.events), sum(e.ByteSize() for e in history.events), tasks


async def lifecycle(
    client: Client, n: int, name: str, tenant: str, steps: list[Step], policies: Path
) -> dict[str, Any]:
    ticket = OpenTicketInput(tenant=tenant, ticket_id=f"L{n}")
    handle = await client.start_workflow(
        TICKET_WORKFLOW_TYPE,
        ticket_input(ticket, load_policy(tenant, policies)),
        id=ticket_workflow_id(tenant, ticket.ticket_id),
        task_queue=TICKET_QUEUE,
    )
    for step in steps:
        await step(handle)
    finished = client.get_workflow_handle(handle.id, result_type=TicketStatus)
    status = await finished.result()
    escalations = [b.escalation_workflow_id for b in status.breaches]
    ticket_events, ticket_bytes, ticket_tasks = await history_of(client, handle.id)
    children = [await history_of(client, wf) for wf in escalations]
    return {
        "lifecycle": name,
        "ticket_events": ticket_events,
        "escalation_events": sum(c[0] for c in children),
        "total_events": ticket_events + sum(c[0] for c in children),
        "ticket_kb": round(ticket_bytes / 1024, 1),
        "escalation_kb": round(sum(c[1] for c in children) / 1024, 1),
        "workflow_tasks": ticket_tasks + sum(c[2] for c in children),
        "sent": len(status.sent),
    }


async def main(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="slawatch-bench-footprint-"))
    with bench(root) as b:
        client = await b.start_server("sqlite")
        b.start_standins()
        policies = root / "policies"
        policies.mkdir()
        (policies / f"{TENANT}.yaml").write_text(policy_yaml(7200, 3600))
        (policies / f"{FAST}.yaml").write_text(policy_yaml(2, 2, (50, 80), tenant=FAST))
        max_cached = args.max_cached or args.tickets + 100
        worker = b.start_slawatch_worker(b.slawatch_env(policies, max_cached))
        idle = {"worker_mb": rss_mb(worker), "server_mb": rss_mb(b.server_pid)}
        lifecycles = await asyncio.gather(
            *(
                lifecycle(client, i, name, tenant, steps, policies)
                for i, (name, (tenant, steps)) in enumerate(LIFECYCLES.items())
            )
        )

        policy = load_policy(TENANT, policies)

        async def open_one(i: int) -> None:
            ticket = OpenTicketInput(tenant=TENANT, ticket_id=f"F{i:06d}", severity="critical")
            await client.start_workflow(
                TICKET_WORKFLOW_TYPE,
                ticket_input(ticket, policy),
                id=ticket_workflow_id(TENANT, ticket.ticket_id),
                task_queue=TICKET_QUEUE,
            )

        began = time.monotonic()
        await drive(args.tickets, open_one)
        # The lifecycle tickets carry the tenant too: count them in.
        await wait_ready(client, args.tickets + 2, began)
        await asyncio.sleep(args.settle)  # let the last tasks finish and memory settle
        loaded = {"worker_mb": rss_mb(worker), "server_mb": rss_mb(b.server_pid)}
    per_ticket_kb = (loaded["worker_mb"] - idle["worker_mb"]) * 1024 / args.tickets
    memory = [
        ["idle", round(idle["worker_mb"], 1), round(idle["server_mb"], 1)],
        [f"{args.tickets} open", round(loaded["worker_mb"], 1), round(loaded["server_mb"], 1)],
    ]
    emit(
        f"footprint: memory with {args.tickets} open tickets (worker cache {max_cached})",
        ["state", "worker RSS MB", "server RSS MB"],
        memory,
        {
            "args": vars(args),
            "idle": idle,
            "loaded": loaded,
            "worker_kb_per_ticket": round(per_ticket_kb, 1),
            "lifecycles": lifecycles,
            "logs": str(root),
        },
    )
    print()
    emit(
        "footprint: history per ticket lifecycle (events; KB serialized; workflow tasks)",
        ["lifecycle", "ticket", "escalations", "total", "ticket KB", "escal. KB", "tasks", "sent"],
        [
            [
                r["lifecycle"],
                r["ticket_events"],
                r["escalation_events"],
                r["total_events"],
                r["ticket_kb"],
                r["escalation_kb"],
                r["workflow_tasks"],
                r["sent"],
            ]
            for r in lifecycles
        ],
        {"lifecycles": lifecycles},
    )


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1000, help="open tickets to hold")
    parser.add_argument("--max-cached", type=int, help="worker cache size (default tickets+100)")
    parser.add_argument(
        "--settle", type=float, default=5.0, help="seconds to let memory settle before measuring"
    )
    args = parser.parse_args()
    if args.tickets < 1:
        parser.error("--tickets: must be at least 1")
    if args.settle < 0:
        parser.error("--settle: must not be negative")
    asyncio.run(main(args))


if __name__ == "__main__":
    cli()
