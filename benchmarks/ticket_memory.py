"""What a cached ticket's worker memory is made of: tracemalloc, grouped by the file that
allocated it, while N tickets open in an in-process ticket worker.

Run: `python -m benchmarks.ticket_memory [--tickets 300] [--no-code-cache]`. Smallest
(tests/test_benchmarks_smoke.py): `--tickets 3`. Prints a table (KB and blocks per ticket,
largest first), then one JSON line.

The worker is `workers.worker.ticket_worker` with its production sandbox (workers/sandbox.py),
against an in-memory dev server; `--no-code-cache` takes the code cache off sys.meta_path to
show what it saves. tracemalloc counts Python allocations only (not the allocator's slack,
which `benchmarks.footprint`'s RSS includes) and slows the worker: its times mean nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import tracemalloc
from pathlib import Path

from benchmarks.common import TENANT, TICKET_QUEUE, bench, emit, policy_yaml
from intake.gateway import ticket_input
from policies.loader import load_policy
from slawatch.models import OpenTicketInput, ticket_workflow_id
from workers.sandbox import code_cache
from workers.worker import ticket_worker

REPO = Path(__file__).resolve().parents[1]
WARM = 20  # tickets opened before measuring: the first runs import and cache what all share


async def main(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="slawatch-bench-ticket-memory-"))
    with bench(root) as b:
        client = await b.start_server("memory")
        policies = root / "policies"
        policies.mkdir()
        (policies / f"{TENANT}.yaml").write_text(policy_yaml(7200, 3600))
        policy = load_policy(TENANT, policies)
        worker = ticket_worker(
            client, TICKET_QUEUE, policies, max_cached_workflows=WARM + args.tickets + 10
        )
        if args.no_code_cache:
            sys.meta_path.remove(code_cache())
        running = asyncio.create_task(worker.run())
        gate = asyncio.Semaphore(16)

        async def open_one(i: int) -> None:
            async with gate:
                ticket = OpenTicketInput(tenant=TENANT, ticket_id=f"M{i:06d}", severity="critical")
                await client.start_workflow(
                    "TicketSlaWorkflow",
                    ticket_input(ticket, policy),
                    id=ticket_workflow_id(TENANT, ticket.ticket_id),
                    task_queue=TICKET_QUEUE,
                )

        async def ready(n: int) -> None:
            for _ in range(3000):
                if (await client.count_workflows(f'SlaTenant="{TENANT}"')).count >= n:
                    return
                await asyncio.sleep(0.2)
            raise RuntimeError(f"{n} tickets were not ready after 600 s")

        await asyncio.gather(*(open_one(i) for i in range(WARM)))
        await ready(WARM)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        await asyncio.gather(*(open_one(i) for i in range(WARM, WARM + args.tickets)))
        await ready(WARM + args.tickets)
        await asyncio.sleep(1)  # the last tasks' completions
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        await worker.shutdown()
        await running
    n = args.tickets
    stats = [s for s in after.compare_to(before, "filename") if s.size_diff > 0]
    total = sum(s.size_diff for s in stats) / n / 1024
    rows = [
        [
            _short(s.traceback[0].filename),
            round(s.size_diff / n / 1024, 2),
            round(s.count_diff / n, 1),
        ]
        for s in stats[: args.top]
    ]
    emit(
        f"ticket memory: Python allocations per cached ticket, {n} tickets"
        + (" (no code cache)" if args.no_code_cache else ""),
        ["allocated in", "KB/ticket", "blocks/ticket"],
        [*rows, ["total (all files)", round(total, 1), ""]],
        {"args": vars(args), "kb_per_ticket": round(total, 1), "top": rows, "logs": str(root)},
    )


def _short(filename: str) -> str:
    """A file of this repository, a package or the standard library, without its directory."""
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1]
    if filename.startswith(str(REPO) + "/"):
        return filename[len(str(REPO)) + 1 :]
    if "/lib/python3" in filename:
        return filename.split("/lib/python3", 1)[1].split("/", 1)[1]
    return filename


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=300, help="tickets measured")
    parser.add_argument("--top", type=int, default=15, help="files listed")
    parser.add_argument(
        "--no-code-cache", action="store_true", help="without workers/sandbox.py's CodeCache"
    )
    args = parser.parse_args()
    if args.tickets < 1:
        parser.error("--tickets: must be at least 1")
    asyncio.run(main(args))


if __name__ == "__main__":
    cli()
