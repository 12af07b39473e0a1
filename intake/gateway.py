"""Ticket operations on Temporal for the API: open, send an event, read status, list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from intake.errors import ApiError
from intake.schemas import TicketList
from intake.visibility import WORKFLOW_TYPE, list_query, summary
from policies.schema import Policy
from policies.snapshot import ticket_snapshot
from slawatch.models import (
    OpenTicketInput,
    Payload,
    TicketStatus,
    TicketWorkflowInput,
    legacy_workflow_id,
)
from slawatch.models import ticket_workflow_id as workflow_id_of
from slawatch.outbound import outbound_plan
from slawatch.search_attributes import TENANT
from workflows.versions import REVISION

# Workflow rejections -> HTTP status. UnknownBreach: the breach named does not exist.
# InvalidEventTime: the event's `at` lies outside its bounds (workflows/ticket_rules.py).
_REJECTIONS = {
    "InvalidTransition": 409,
    "UnknownClass": 422,
    "UnknownBreach": 404,
    "InvalidEventTime": 422,
}
# The field a rejection is about, for the error body.
_FIELDS = {"UnknownClass": "severity", "InvalidEventTime": "at"}
_RPC_TIMEOUT = timedelta(seconds=10)


def ticket_input(
    ticket: OpenTicketInput, policy: Policy, now: datetime | None = None
) -> TicketWorkflowInput:
    """A new ticket's workflow input: the ticket and its compact policy snapshot, so the
    workflow has its whole state from its first task. `now` dates a ticket without
    `opened_at` for the snapshot's holiday span (the wall clock by default)."""
    opened_at = ticket.opened_at or now or datetime.now(UTC)
    plan = outbound_plan(policy, ticket.ticket_id, ticket.customer, ticket.language)
    return TicketWorkflowInput(
        ticket=ticket,
        policy=ticket_snapshot(policy, opened_at),
        outbound=plan,
        revision=REVISION,
    )


class TicketGateway:
    """The API's only door to Temporal: turns workflow outcomes into API errors."""

    def __init__(self, client: Client, task_queue: str) -> None:
        self.client = client
        self.task_queue = task_queue

    async def open(self, ticket: OpenTicketInput, policy: Policy) -> tuple[TicketStatus, bool]:
        """Start the ticket's workflow or join the existing one; True when it was created.

        `policy` is the tenant's policy as intake validated the ticket against it; the
        workflow gets its snapshot in its input.
        """
        legacy = await self._legacy(ticket.tenant, ticket.ticket_id)
        if legacy is not None:
            # Opened before ids became injective: join that clock, never start a second one.
            return await self._status(legacy, ticket.tenant, ticket.ticket_id), False
        wf_id = workflow_id_of(ticket.tenant, ticket.ticket_id)
        try:
            handle = await self.client.start_workflow(
                WORKFLOW_TYPE,
                ticket_input(ticket, policy),
                id=wf_id,
                task_queue=self.task_queue,
                # A repeat open joins the running clock and a closed ticket is never restarted:
                # both refuse the start, so a start that succeeds is the one that created it.
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=f"{ticket.tenant} {ticket.ticket_id} ({ticket.severity or '-'})",
            )
            created = True
        except WorkflowAlreadyStartedError:
            handle, created = self.client.get_workflow_handle(wf_id), False
        return await self._status(handle, ticket.tenant, ticket.ticket_id), created

    async def status(self, tenant: str, ticket_id: str) -> TicketStatus:
        handle = self.client.get_workflow_handle(workflow_id_of(tenant, ticket_id))
        try:
            return await self._status(handle, tenant, ticket_id)
        except ApiError as exc:
            legacy = await self._legacy(tenant, ticket_id) if exc.status == 404 else None
            if legacy is None:
                raise
            return await self._status(legacy, tenant, ticket_id)

    async def _legacy(self, tenant: str, ticket_id: str) -> WorkflowHandle[object, object] | None:
        """A ticket that runs under the ambiguous first id form, only if it is tenant's own.

        "ticket-acme-eu-1" may be acme's "eu-1" or acme-eu's "1": the workflow's SlaTenant
        says which. Remove once no workflow id starting with "ticket-" is running.
        """
        handle = self.client.get_workflow_handle(legacy_workflow_id(tenant, ticket_id))
        try:
            desc = await handle.describe(rpc_timeout=_RPC_TIMEOUT)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        owner = desc.typed_search_attributes.get(TENANT)
        return handle if owner == tenant else None

    async def update(self, tenant: str, ticket_id: str, name: str, arg: Payload) -> TicketStatus:
        """Run one event update; the workflow's rejections become 404/409/422."""
        handle = self.client.get_workflow_handle(workflow_id_of(tenant, ticket_id))
        try:
            return await self._update(handle, name, arg)
        except _NoSuchWorkflow:
            legacy = await self._legacy(tenant, ticket_id)
        try:
            if legacy is not None:
                return await self._update(legacy, name, arg)
        except _NoSuchWorkflow:
            pass
        raise ApiError(404, f"no ticket {ticket_id!r} for tenant {tenant!r}")

    async def _update(
        self, handle: WorkflowHandle[object, object], name: str, arg: Payload
    ) -> TicketStatus:
        try:
            result: TicketStatus = await handle.execute_update(
                name, arg, result_type=TicketStatus, rpc_timeout=_RPC_TIMEOUT
            )
            return result
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError):
                status = _REJECTIONS.get(cause.type or "", 409)
                field = _FIELDS.get(cause.type or "")
                raise ApiError(status, cause.message, field=field) from None
            raise ApiError(409, f"{name} was rejected: {cause}") from None
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                await self._raise_missing_or_closed(handle)
            raise

    async def list(
        self,
        tenant: str | None,
        state: str | None,
        severity: str | None,
        allowed: frozenset[str] | None,
        limit: int,
    ) -> TicketList:
        query = list_query(tenant, state, severity, allowed)
        rows = [summary(wf) async for wf in self.client.list_workflows(query, limit=limit)]
        return TicketList(tickets=rows, query=query)

    async def _status(
        self, handle: WorkflowHandle[object, object], tenant: str, ticket_id: str
    ) -> TicketStatus:
        # The ticket has its state from its first task, and the server holds a query to a new
        # workflow until that task has run: one query, no retries.
        try:
            status: TicketStatus = await handle.query(
                "status", result_type=TicketStatus, rpc_timeout=_RPC_TIMEOUT
            )
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise ApiError(404, f"no ticket {ticket_id!r} for tenant {tenant!r}") from None
            raise
        except WorkflowQueryFailedError as exc:
            raise ApiError(503, f"ticket {handle.id!r} did not report its status: {exc}") from None
        if (status.tenant, status.ticket_id) != (tenant, ticket_id):
            # Every path checks the ticket it reached is the one asked for.
            raise ApiError(404, f"no ticket {ticket_id!r} for tenant {tenant!r}")
        return status

    async def _raise_missing_or_closed(self, handle: WorkflowHandle[object, object]) -> None:
        try:
            desc = await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise _NoSuchWorkflow from None
            raise
        state = desc.status.name.lower() if desc.status else "finished"
        raise ApiError(409, f"ticket {handle.id!r} is no longer running ({state})")


class _NoSuchWorkflow(Exception):
    """No workflow under that id (as opposed to one that has finished)."""
