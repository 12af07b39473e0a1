"""Bare Temporal, no slawatch code: the floor the benchmarks compare slawatch against.

`python -m benchmarks.bare --address HOST:PORT --task-queue Q` runs a plain sandboxed worker
(the SDK's defaults, as a new Temporal Python user would write it) until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from datetime import datetime, timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker


@activity.defn
async def noop(_: str) -> float:
    """Does nothing but say when it ran (wall clock), so the caller can measure lag."""
    return time.time()


@workflow.defn
class SleepThenCall:
    """Sleeps to an exact instant, then calls the no-op activity: the breach-to-page floor."""

    @workflow.run
    async def run(self, deadline_iso: str) -> float:
        wait = datetime.fromisoformat(deadline_iso) - workflow.now()
        if wait > timedelta(0):
            await workflow.sleep(wait)
        return await workflow.execute_activity(
            noop, "page", start_to_close_timeout=timedelta(seconds=30)
        )


@workflow.defn
class Empty:
    """Starts and completes: the intake floor (a bare start_workflow)."""

    @workflow.run
    async def run(self, _: str) -> None:
        return None


async def run_bare_worker(address: str, task_queue: str, max_cached: int) -> None:
    """Serve both bare workflows and the no-op activity until SIGINT/SIGTERM."""
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[SleepThenCall, Empty],
        activities=[noop],
        max_cached_workflows=max_cached,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    running = asyncio.create_task(worker.run())
    print("bare worker ready", flush=True)
    await stop.wait()
    await worker.shutdown()
    await asyncio.gather(running, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--max-cached", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(run_bare_worker(args.address, args.task_queue, args.max_cached))


if __name__ == "__main__":
    main()
