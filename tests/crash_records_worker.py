"""A ticket worker (workflows and the SLA record write) that can kill -9 itself at the worst
moment for exactly-once records: right after the store committed a milestone's write, before
Temporal hears that the activity completed. Temporal then retries the write on another worker.

Run as `python tests/crash_records_worker.py ADDRESS QUEUE RECORDS_URL [MARKER EVENT]`. With
MARKER, the first write whose ticket timeline holds EVENT creates MARKER and kills the process;
it prints `worker_started` once it polls.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from unittest.mock import patch

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.records import activities
from activities.records.activities import (
    RecordActivities,
    RecordMilestoneInput,
    RecordMilestoneResult,
)
from activities.records.store import RecordStore
from policies.schema import Policy
from workers.worker import ticket_worker

real_write = activities.record_milestone


def dies_after_commit(
    marker: str, event: str
) -> Callable[[RecordStore, RecordMilestoneInput, Policy | None], RecordMilestoneResult]:
    def write(
        store: RecordStore, input: RecordMilestoneInput, policy: Policy | None = None
    ) -> RecordMilestoneResult:
        result = real_write(store, input, policy)  # committed
        if any(e.event == event for e in input.status.history):
            try:
                fd = os.open(Path(marker), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return result  # crashed once already
            os.write(fd, input.milestone.encode())
            os.close(fd)
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    return write


async def main(address: str, queue: str, url: str) -> None:
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    target = url.removeprefix("sqlite:///")
    store = RecordStore(Path(target) if url.startswith("sqlite:///") else url)
    async with ticket_worker(client, queue, None, RecordActivities(store)):
        print("worker_started", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    address, queue, url, *crash = sys.argv[1:]
    if crash:
        # The activity looks the function up at each call (activities.records.activities).
        patch.object(activities, "record_milestone", dies_after_commit(*crash)).start()
    asyncio.run(main(address, queue, url))
