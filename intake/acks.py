"""Acknowledgements from phones: who is calling or texting, which breach, and the ack itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from temporalio.client import Client, WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from intake.policybook import PolicyBook
from intake.twilio_guard import Responder, responder_by_phone
from intake.visibility import WORKFLOW_TYPE
from slawatch.models import AcknowledgeInput, TicketStatus

log = structlog.get_logger("slawatch.intake.acks")

# How many breached tickets a bare "1" reply looks through for the page it answers.
_RECENT_BREACHES = 20
# Twilio gives a webhook 15 s; one slow ticket must not use all of it.
_QUERY_TIMEOUT = timedelta(seconds=5)


@dataclass(frozen=True)
class Known:
    tenant: str
    responder: Responder


def known_numbers(book: PolicyBook, phone: str) -> list[Known]:
    """Every tenant in which this phone belongs to a responder (or is the emergency line)."""
    found = []
    for tenant in book.tenants():
        responder = responder_by_phone(book.get(tenant), phone)
        if responder is not None:
            found.append(Known(tenant, responder))
    return found


def who(responder: Responder, phone: str) -> str:
    """How an acknowledgement names its giver in the ticket's history."""
    return f"{responder.id} ({phone})"


async def status_of(
    client: Client, workflow_id: str, rpc_timeout: timedelta = _QUERY_TIMEOUT
) -> TicketStatus | None:
    handle = client.get_workflow_handle(workflow_id)
    try:
        status: TicketStatus = await handle.query(
            "status", result_type=TicketStatus, rpc_timeout=rpc_timeout
        )
        return status
    except WorkflowQueryFailedError as exc:
        # A ticket still starting (or failing) cannot be acknowledged by phone right now.
        log.warning("ticket_status_unavailable", workflow_id=workflow_id, error=str(exc))
        return None
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            return None
        raise


async def acknowledge(
    client: Client, workflow_id: str, breach_id: str | None, giver: str, channel: str
) -> TicketStatus | None:
    """Acknowledge on the ticket; None when there was nothing (left) to acknowledge."""
    handle = client.get_workflow_handle(workflow_id)
    arg = AcknowledgeInput(breach_id=breach_id, responder=giver, channel=channel)
    try:
        status: TicketStatus = await handle.execute_update(
            "acknowledge", arg, result_type=TicketStatus
        )
    except WorkflowUpdateFailedError as exc:
        log.info("ack_rejected", workflow_id=workflow_id, reason=str(exc.cause))
        return None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            log.info("ack_for_finished_ticket", workflow_id=workflow_id)
            return None
        raise
    log.info("acknowledged", workflow_id=workflow_id, breach_id=breach_id, channel=channel)
    return status


async def latest_page(
    client: Client, tenants: list[str], phone: str
) -> tuple[str, str, str] | None:
    """(tenant, workflow id, breach id) of the latest still-escalating page sent to `phone`."""
    names = ", ".join(f"'{t}'" for t in tenants)
    query = (
        f"WorkflowType = '{WORKFLOW_TYPE}' AND ExecutionStatus = 'Running' "
        f"AND SlaState = 'breached' AND SlaTenant IN ({names})"
    )
    best: tuple[datetime, str, str, str] | None = None
    async for wf in client.list_workflows(query, limit=_RECENT_BREACHES):
        try:
            status = await status_of(client, wf.id, timedelta(seconds=2))
        except RPCError as exc:
            # One ticket that cannot answer must not block acks for the others.
            log.warning("ack_lookup_skipped", workflow_id=wf.id, error=exc.message)
            continue
        if status is None:
            continue
        escalating = {b.breach_id for b in status.breaches if b.outcome == "escalating"}
        for sent in status.sent:
            mine = sent.to == phone and sent.breach_id in escalating
            if mine and (best is None or sent.at > best[0]):
                best = (sent.at, status.tenant, wf.id, sent.breach_id)
    return (best[1], best[2], best[3]) if best else None
