"""Records from Temporal: every ticket workflow still within retention, written idempotently.

For tickets opened before the workflow wrote its own records, and to rebuild them: list the
ticket workflows through visibility (`SlaTenant`), read each one's status (the result of a
finished ticket, the `status` query of a running one) and its policy snapshot from its history
(the `snapshot_policy` activity's result, or the state a continue-as-new carried), and upsert
its rows. Running it twice changes nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from activities.records.build import build_record
from activities.records.store import RecordStore
from policies.schema import Policy
from slawatch.models import TENANT_NAME, TICKET_WORKFLOW_TYPE, TicketStatus

WORKFLOW_TYPE = TICKET_WORKFLOW_TYPE
RPC_TIMEOUT = timedelta(seconds=15)


@dataclass
class BackfillResult:
    written: list[str] = field(default_factory=list)
    # Workflow id -> why it has no record (still starting, no policy snapshot found...).
    skipped: dict[str, str] = field(default_factory=dict)


def backfill_query(tenant: str | None) -> str:
    query = f"WorkflowType = '{WORKFLOW_TYPE}'"
    if tenant is not None:
        if not TENANT_NAME.fullmatch(tenant):
            raise ValueError(f"tenant: {tenant!r} is not a tenant name")
        query += f" AND SlaTenant = '{tenant}'"
    return query


async def _policy(client: Client, handle: WorkflowHandle[Any, Any]) -> Policy | None:
    """The policy snapshot the ticket runs on, from its latest run's history."""
    converter = client.data_converter
    snapshots: set[int] = set()
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            # Read as plain JSON, not as this version's TicketWorkflowInput: tickets started by
            # other versions carry other fields.
            [start] = await converter.decode(payloads, [dict])
            state = start.get("state") or {}
            # Continued as new: the state carries the snapshot; newer tickets get it from
            # intake in their input; older ones from the snapshot_policy activity below.
            carried = state.get("policy") or start.get("policy")
            if carried:
                return Policy.model_validate(carried)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name == "snapshot_policy":
                snapshots.add(event.event_id)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = event.activity_task_completed_event_attributes
            if done.scheduled_event_id in snapshots:
                [policy] = await converter.decode(done.result.payloads, [Policy])
                return policy  # type: ignore[no-any-return]
    return None


async def _status(handle: WorkflowHandle[Any, Any], run: WorkflowExecutionStatus) -> object:
    if run == WorkflowExecutionStatus.COMPLETED:
        # The handle has no result type (it came from an id): decode the stored status.
        result = await handle.result(rpc_timeout=RPC_TIMEOUT)
        return TicketStatus.model_validate(result)
    # Running (or ended otherwise): the query needs a worker; it answers from the replayed state.
    return await handle.query("status", result_type=TicketStatus, rpc_timeout=RPC_TIMEOUT)


async def _one(
    client: Client, store: RecordStore, workflow_id: str, run: WorkflowExecutionStatus
) -> str | None:
    """Write one ticket's record; the reason it has none, or None when written."""
    handle = client.get_workflow_handle(workflow_id)  # the latest run
    try:
        status = await _status(handle, run)
        policy = await _policy(client, handle)
    except Exception as exc:  # one unreadable ticket must not stop the rest
        return f"{type(exc).__name__}: {exc}"[:300]
    if not isinstance(status, TicketStatus):
        return "its status is not a ticket status"
    if policy is None:
        return "no policy snapshot in its history"
    # A failing database is not the ticket's fault: it ends the backfill (raised).
    await asyncio.to_thread(store.write, build_record(status, policy))
    return None


async def backfill(
    client: Client, store: RecordStore, tenant: str | None = None, concurrency: int = 8
) -> BackfillResult:
    """Write the record of every ticket workflow visible for `tenant` (every tenant if None),
    `concurrency` tickets at a time (each is three round trips to Temporal and one write)."""
    result = BackfillResult()
    running: dict[asyncio.Task[str | None], str] = {}

    def collect(done: set[asyncio.Task[str | None]]) -> None:
        for task in done:
            workflow_id = running.pop(task)
            why = task.result()  # re-raises a write failure
            if why is None:
                result.written.append(workflow_id)
            else:
                result.skipped[workflow_id] = why

    try:
        async for execution in client.list_workflows(backfill_query(tenant)):
            if execution.status == WorkflowExecutionStatus.CONTINUED_AS_NEW:
                continue  # an earlier run: its ticket is written from the latest run
            if len(running) >= concurrency:
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                collect(done)
            run = execution.status or WorkflowExecutionStatus.RUNNING
            running[asyncio.create_task(_one(client, store, execution.id, run))] = execution.id
        while running:
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            collect(done)
    finally:
        for task in running:
            task.cancel()
    result.written.sort()
    return result
