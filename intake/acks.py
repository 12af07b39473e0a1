"""Acknowledgements from phones: who is calling or texting, which breach, and the ack itself."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from temporalio.client import Client, WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from intake.policybook import PolicyBook
from intake.twilio_guard import Responder, responder_by_phone
from intake.visibility import WORKFLOW_TYPE
from slawatch.models import TENANT_NAME, AcknowledgeInput, TicketStatus, live_breaches, ticket_ref
from slawatch.paging import phone_pages
from slawatch.search_attributes import PAGED_TO

log = structlog.get_logger("slawatch.intake.acks")

# How many tickets paging one number at once a reply looks at (far more than a person carries).
_MAX_TICKETS = 50
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
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


def who(responder: Responder) -> str:
    """How an acknowledgement names its giver in the ticket's history (an id, not a number)."""
    return responder.id


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
    client: Client,
    workflow_id: str,
    breach_id: str | None,
    giver: str,
    channel: str,
    *,
    phone: str,
    received_at: datetime,
    code: str | None = None,
    group: str | None = None,
) -> TicketStatus | None:
    """Acknowledge on the ticket; None when there was nothing (left) to acknowledge.

    The ticket checks again that `phone` was paged for the breach before `received_at`: the
    workflow, not this API, is the judge of what a phone may stop.
    """
    handle = client.get_workflow_handle(workflow_id)
    arg = AcknowledgeInput(
        breach_id=breach_id,
        responder=giver,
        channel=channel,
        phone=phone,
        received_at=received_at,
        code=code,
        group=group,
    )
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


@dataclass(frozen=True)
class Page:
    """A breach still escalating that was paged to one number, with the code the page carried."""

    tenant: str
    ticket_id: str
    workflow_id: str
    breach_id: str
    severity: str
    code: str | None
    # Outage grouping: every group a page of this breach to the number was in, and (group,
    # code) of each that came by its group's digest, whose code acknowledges the whole group.
    groups: frozenset[str] = frozenset()
    digests: frozenset[tuple[str, str]] = frozenset()

    @property
    def ref(self) -> str:
        return ticket_ref(self.tenant, self.ticket_id)


async def pages_waiting(
    client: Client, tenants: list[str], phone: str, received_at: datetime
) -> list[Page]:
    """Breaches still escalating that were paged to `phone` before `received_at`.

    One visibility query finds the tickets by their SlaPagedTo attribute (the numbers paged for
    their live breaches); only those tickets are asked for their status, concurrently.
    """
    if not E164.fullmatch(phone) or not tenants:
        return []
    names = ", ".join(f"'{t}'" for t in tenants if TENANT_NAME.fullmatch(t))
    query = (
        f"WorkflowType = '{WORKFLOW_TYPE}' AND ExecutionStatus = 'Running' "
        f"AND {PAGED_TO.name} = '{phone}' AND SlaTenant IN ({names})"
    )
    ids = [wf.id async for wf in client.list_workflows(query, limit=_MAX_TICKETS)]
    answers = await asyncio.gather(
        *(status_of(client, wf_id, timedelta(seconds=2)) for wf_id in ids),
        return_exceptions=True,
    )
    pages: dict[tuple[str, str], Page] = {}
    groups: dict[tuple[str, str], set[str]] = {}
    digests: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for wf_id, status in zip(ids, answers, strict=True):
        if not isinstance(status, TicketStatus):
            # One ticket that cannot answer must not block acks for the others.
            log.warning("ack_lookup_skipped", workflow_id=wf_id, error=str(status))
            continue
        escalating = {b.breach_id for b in live_breaches(status.breaches)}
        for sent in phone_pages(status.sent, phone, received_at):
            if sent.breach_id in escalating:
                at = (wf_id, sent.breach_id)
                if sent.group is not None:
                    groups.setdefault(at, set()).add(sent.group)
                    if sent.folded and sent.code is not None:
                        digests.setdefault(at, set()).add((sent.group, sent.code))
                pages[at] = Page(
                    status.tenant,
                    status.ticket_id,
                    wf_id,
                    sent.breach_id,
                    status.severity,
                    sent.code,
                    frozenset(groups.get(at, ())),
                    frozenset(digests.get(at, ())),
                )
    return sorted(pages.values(), key=lambda p: (p.ref, p.breach_id))


def group_pages(pages: list[Page], group: str) -> list[Page]:
    """The waiting pages of one outage group: its first page and the digest's tickets."""
    return [p for p in pages if group in p.groups]


def digest_group(pages: list[Page], code: str) -> str | None:
    """The one outage group whose digest carried `code` to this number, if there is one."""
    found = {g for p in pages for g, c in p.digests if c == code}
    return found.pop() if len(found) == 1 else None
