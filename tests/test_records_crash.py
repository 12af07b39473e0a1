"""Killing the worker mid-milestone and replaying never duplicates or loses a record.

The ticket worker runs as a process of its own (tests/crash_records_worker.py) on a real dev
server; it kill -9s itself right after the store committed the first response's write, before
Temporal heard the activity completed. A second worker replays the ticket, Temporal retries the
write there, and the ticket goes on through every later milestone: the store must then hold
exactly the rows of the ticket's final status, each once.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.records.store import RecordStore
from intake.gateway import ticket_input
from policies.loader import load_policy
from slawatch.models import (
    AcknowledgeInput,
    CloseInput,
    FirstResponseInput,
    OpenTicketInput,
    PauseInput,
    ReopenInput,
    ResolveInput,
    ResumeInput,
    TicketStatus,
    ticket_workflow_id,
)
from slawatch.tools.process import stop_async
from tests.harness import StandInNotifier, local_activities
from tests.records_rows import dump, expected
from workers.worker import notify_worker
from workflows.ticket import TicketSlaWorkflow

ANA = "+40721555101"  # Prokuria's primary on call
WORKER = Path(__file__).with_name("crash_records_worker.py")


def _said(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


async def start_worker(log: Path, *args: str) -> asyncio.subprocess.Process:
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(WORKER), *args, stdout=out, stderr=out
        )
    for _ in range(600):
        if "worker_started" in _said(log):
            return proc
        if proc.returncode is not None:
            raise AssertionError(_said(log))
        await asyncio.sleep(0.05)
    raise AssertionError(f"worker did not start: {_said(log)}")


async def finish(handle: WorkflowHandle[Any, Any], events: list[tuple[str, Any]]) -> TicketStatus:
    """Sends the ticket `events` (update name, input) in order; its final status."""
    for name, arg in events:
        await handle.execute_update(name, arg, result_type=TicketStatus)
    return await asyncio.wait_for(handle.result(), 60)


async def kill(*procs: asyncio.subprocess.Process | None) -> None:
    for proc in procs:
        if proc is not None:
            await stop_async(proc, first=signal.SIGKILL)


async def test_a_worker_killed_after_a_record_commit_leaves_each_row_once(
    fresh_dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    client, queue = fresh_dev_env.client, f"crash-{uuid.uuid4().hex[:8]}"
    address = client.service_client.config.target_host
    url = f"sqlite:///{tmp_path / 'records.sqlite3'}"
    marker = tmp_path / "crashed"
    notifier = StandInNotifier(fresh_dev_env)
    doomed = await start_worker(
        tmp_path / "w1.log", address, queue, url, str(marker), "first_response"
    )
    survivor: asyncio.subprocess.Process | None = None
    try:
        async with notify_worker(client, queue, notifier.activities(), None):
            # Critical, opened 90 min ago: breached at once and paged.
            ticket = OpenTicketInput(
                tenant="prokuria",
                ticket_id="K-1",
                severity="critical",
                opened_at=datetime.now(UTC) - timedelta(minutes=90),
            )
            handle = await client.start_workflow(
                TicketSlaWorkflow.run,
                ticket_input(ticket, load_policy("prokuria")),
                id=ticket_workflow_id("prokuria", "K-1"),
                task_queue=queue,
            )
            for _ in range(400):  # until the ticket holds its first pages
                status = await handle.query("status", result_type=TicketStatus)
                if len([s for s in status.sent if s.channel == "sms"]) >= 2:
                    break
                await asyncio.sleep(0.05)
            ack = AcknowledgeInput(responder="ana", channel="sms", phone=ANA)
            await handle.execute_update("acknowledge", ack, result_type=TicketStatus)
            await handle.execute_update(
                "first_response", FirstResponseInput(by="agent"), result_type=TicketStatus
            )
            # The write carrying the first response commits, then its worker dies.
            assert await asyncio.wait_for(doomed.wait(), 30) == -9
            assert marker.exists()
            survivor = await start_worker(tmp_path / "w2.log", address, queue, url)
            final = await finish(
                handle,
                [
                    ("pause", PauseInput(reason="logs")),
                    ("resume", ResumeInput()),
                    ("resolve", ResolveInput()),
                    ("reopen", ReopenInput(reason="again")),
                    ("resolve", ResolveInput()),
                    ("close", CloseInput()),
                ],
            )
    finally:
        await kill(doomed, survivor)

    # Temporal did retry the write whose worker died (the second attempt ran on the survivor).
    attempts = [
        e.activity_task_started_event_attributes.attempt
        async for e in handle.fetch_history_events()
        if e.HasField("activity_task_started_event_attributes")
    ]
    assert max(attempts) == 2, attempts
    assert_each_row_once(RecordStore(tmp_path / "records.sqlite3"), final, "first_response")


def assert_each_row_once(store: RecordStore, final: TicketStatus, event: str) -> None:
    """The store holds exactly the rows of the ticket's final status, `event`'s among them."""
    rows = dump(store)
    assert rows == expected(final)
    keys = [(e["event"], e["at"], e["n"]) for e in rows["events"]]
    assert len(keys) == len(set(keys)) and event in {k[0] for k in keys}
    assert store.counts()["sla_ticket"] == 1
    assert store.counts()["sla_event"] == len(final.history) + len(
        [s for s in final.sent if s.breach_id.startswith("warning-")]
    )


async def test_a_first_task_killed_after_the_opening_write_leaves_each_row_once(
    fresh_dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The opening write is a local activity in the ticket's first task (`opening-write-local`):
    it commits before Temporal has the task's outcome. The worker dies right there; the task
    times out and runs again on another worker, which writes the opening again. Its rows are
    what the server committed at the start (the input, the acceptance instant), so the second
    write is the same rows, not a second "opened" event at a later instant."""
    client, queue = fresh_dev_env.client, f"crash-{uuid.uuid4().hex[:8]}"
    address = client.service_client.config.target_host
    url = f"sqlite:///{tmp_path / 'records.sqlite3'}"
    marker = tmp_path / "crashed"
    doomed = await start_worker(tmp_path / "w1.log", address, queue, url, str(marker), "opened")
    survivor: asyncio.subprocess.Process | None = None
    try:
        # No `opened_at`: the ticket opens at the instant the server accepted it.
        ticket = OpenTicketInput(tenant="prokuria", ticket_id="K-2", severity="major")
        handle = await client.start_workflow(
            TicketSlaWorkflow.run,
            ticket_input(ticket, load_policy("prokuria")),
            id=ticket_workflow_id("prokuria", "K-2"),
            task_queue=queue,
            task_timeout=timedelta(seconds=2),
        )
        assert await asyncio.wait_for(doomed.wait(), 30) == -9
        assert marker.read_text() == "opened"
        survivor = await start_worker(tmp_path / "w2.log", address, queue, url)
        # The survivor runs the first task again alone (an event now would be in that task).
        for _ in range(600):
            done = [
                e
                async for e in handle.fetch_history_events()
                if e.HasField("workflow_task_completed_event_attributes")
            ]
            if done:
                break
            await asyncio.sleep(0.05)
        final = await finish(
            handle,
            [
                ("first_response", FirstResponseInput(by="agent")),
                ("resolve", ResolveInput()),
                ("close", CloseInput()),
            ],
        )
    finally:
        await kill(doomed, survivor)

    events = [e async for e in handle.fetch_history_events()]
    kinds = [e.WhichOneof("attributes") for e in events]
    # The first task never completed on the killed worker: it timed out, and its second
    # attempt wrote the opening as the first task's local activity.
    assert kinds.index("workflow_task_timed_out_event_attributes") < kinds.index(
        "workflow_task_completed_event_attributes"
    )
    assert local_activities(events) == ["record_milestone"]
    # Opened at the start event: the instant the server accepted the ticket.
    assert final.history[0].event == "opened"
    assert final.history[0].at == events[0].event_time.ToDatetime(tzinfo=UTC)
    assert_each_row_once(RecordStore(tmp_path / "records.sqlite3"), final, "opened")
