"""Continue-as-new while a breach escalates, on the real dev server (not the test server).

The time-skipping test server loses track when a ticket continues-as-new while its escalation
child signals it; the real server must not: every page is kept and the ladder runs to its end.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from intake.gateway import ticket_input
from policies.loader import load_policy
from slawatch.models import OpenTicketInput, TicketStatus
from slawatch.tools.testing import seconds_policy, step
from tests.harness import StandInNotifier
from workers.worker import notify_worker, ticket_worker
from workflows.ticket import TicketSlaWorkflow

# Two one-second steps, four rounds: eight SMS while the ticket continues-as-new.
POLICY = seconds_policy("fast", 2, [step("sms", 1), step("sms", 1, "roles: [primary]")], repeat=3)


async def test_ticket_continues_as_new_mid_ladder_without_losing_a_page(
    fresh_dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    (tmp_path / "fast.yaml").write_text(POLICY)
    queue = f"can-{uuid.uuid4().hex[:8]}"
    notifier = StandInNotifier(fresh_dev_env)
    async with (
        ticket_worker(fresh_dev_env.client, queue, tmp_path),
        notify_worker(fresh_dev_env.client, queue, notifier.activities(), None),
    ):
        first = await fresh_dev_env.client.start_workflow(
            TicketSlaWorkflow.run,
            ticket_input(
                OpenTicketInput(tenant="fast", ticket_id="CAN-1"), load_policy("fast", tmp_path)
            ).model_copy(update={"continue_as_new_after": 20}),
            id="ticket-fast-CAN-1",
            task_queue=queue,
        )
        handle = fresh_dev_env.client.get_workflow_handle(first.id)
        status: TicketStatus | None = None
        for _ in range(120):  # at most ~30 s; the ladder takes ~10 s
            await asyncio.sleep(0.25)
            # The ticket answers from its first task: no "still starting" to wait out.
            status = await handle.query("status", result_type=TicketStatus)
            if status.breaches and status.breaches[0].outcome != "escalating":
                break
        assert status is not None
        assert status.breaches[0].outcome == "exhausted"
        # The first run ended by continuing as new (describe reads it directly; visibility lags).
        first_run = fresh_dev_env.client.get_workflow_handle(first.id, run_id=first.result_run_id)
        described = await first_run.describe()
        assert described.status == WorkflowExecutionStatus.CONTINUED_AS_NEW
        # 4 rounds x 2 steps, one SMS each: all sent once, all recorded across the runs.
        assert len(notifier.sent) == 8
        assert len({s.key for s in notifier.sent}) == 8
        assert sorted(n.key for n in status.sent) == sorted(s.key for s in notifier.sent)
