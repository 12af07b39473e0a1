"""Outbound events queued while a receiver is down survive the ticket's continue-as-new, on the
real dev server (the time-skipping server loses track of a continue-as-new mid-ladder; see
tests/test_continue_as_new_live.py): every event arrives once, in order, after the new run."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from activities.outbound import OutboundActivities
from intake.gateway import ticket_input
from policies.loader import load_policy
from slawatch.models import CloseInput, OpenTicketInput, ResolveInput, TicketStatus
from slawatch.tools.testing import seconds_policy, step
from tests.harness import StandInNotifier
from tests.outbound_fixtures import Receiver, serve
from workers.worker import notify_worker, outbound_worker, ticket_worker
from workflows.ticket import TicketSlaWorkflow

SECRET = "whsec_" + "c4" * 16
# Breach at 2 s, then two one-second steps for four rounds: enough history to continue as new.
POLICY = seconds_policy("fast", 2, [step("sms", 1), step("sms", 1, "roles: [primary]")], repeat=3)


async def quiet(client: Client, workflow_id: str) -> None:
    """Until the ticket's latest run has stopped growing for a second: its ladder is over and it
    is not continuing as new. An update sent while a run continues as new can be left waiting
    (seen with this test's low limit); the API's own requests carry a deadline."""
    seen: tuple[str | None, int] = (None, -1)
    for _ in range(60):
        described = await client.get_workflow_handle(workflow_id).describe()
        now = (described.run_id, described.raw_description.workflow_execution_info.history_length)
        if now == seen:
            return
        seen = now
        await asyncio.sleep(1)
    raise AssertionError(f"{workflow_id} kept changing for a minute")


async def test_events_queued_while_the_receiver_is_down_survive_continue_as_new(
    fresh_dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    client = fresh_dev_env.client
    ops = Receiver(SECRET, down=True)
    with serve(ops) as url:
        outbound = (
            f"outbound:\n  max_backoff_seconds: 1\n  webhooks:\n    - {{name: ops, url: '{url}'}}\n"
        )
        (tmp_path / "fast.yaml").write_text(POLICY + outbound)
        queue = f"can-out-{uuid.uuid4().hex[:8]}"
        notifier = StandInNotifier(fresh_dev_env)
        deliveries = OutboundActivities({"fast.ops": SECRET}, {}, {}).all()
        async with (
            ticket_worker(client, queue, tmp_path),
            notify_worker(client, queue, notifier.activities(), None),
            outbound_worker(client, queue, deliveries),
        ):
            opening = OpenTicketInput(tenant="fast", ticket_id="CANO-1")
            first = await client.start_workflow(
                TicketSlaWorkflow.run,
                ticket_input(opening, load_policy("fast", tmp_path)).model_copy(
                    update={"continue_as_new_after": 60}
                ),
                id="ticket-fast-CANO-1",
                task_queue=queue,
            )
            handle = client.get_workflow_handle(first.id)
            status: TicketStatus | None = None
            for _ in range(160):  # the ladder takes ~10 s
                await asyncio.sleep(0.25)
                status = await handle.query("status", result_type=TicketStatus)
                if status.breaches and status.breaches[0].outcome != "escalating":
                    break
            assert status is not None and status.breaches[0].outcome == "exhausted"
            first_run = client.get_workflow_handle(first.id, run_id=first.result_run_id)
            assert (await first_run.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW
            # The breach event was refused while the first run lived: it is the new run's now.
            assert ops.events == [] and 503 in ops.answers
            ops.down = False
            await quiet(client, first.id)
            await handle.execute_update("resolve", ResolveInput())
            await quiet(client, first.id)
            await handle.execute_update("close", CloseInput())
            await handle.result()
    # Delivered after the continue-as-new, once each, in the order they happened.
    assert ops.types("CANO-1") == ["sla.breached", "sla.met"]
    assert len({e["id"] for e in ops.events}) == len(ops.events)
