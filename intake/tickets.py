"""Ticket routes: open, send an event, read status, list by tenant/state/class."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response

from intake.auth import Caller, require_tenant
from intake.errors import ApiError
from intake.gateway import TicketGateway
from intake.policybook import PolicyBook
from intake.schemas import (
    ErrorBody,
    ReclassifyEvent,
    TicketEvent,
    TicketList,
    redacted,
    update_input,
)
from policies.class_rules import rule_class
from policies.schema import Policy
from slawatch.models import (
    TENANT_PATTERN,
    TICKET_ID_PATTERN,
    OpenTicketInput,
    Payload,
    TicketStatus,
)

router = APIRouter(prefix="/v1/tickets", tags=["tickets"])

TenantPath = Annotated[str, Path(pattern=TENANT_PATTERN)]
TicketPath = Annotated[str, Path(pattern=TICKET_ID_PATTERN)]
# A ticket's policy snapshot resolves public holidays only for a few years from its opening year
# on (the snapshot's code says how many), and the clock walks business time from opened_at: an
# opening years back (year 75 from the fuzzer) left the workflow failing every task. Backfills
# within a year and clock skew are fine.
OPENED_AT_PAST = timedelta(days=366)
OPENED_AT_FUTURE = timedelta(minutes=5)
ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 413, 422, 503)
}


def caller(request: Request) -> Caller:
    auth = request.app.state.auth
    result: Caller = auth.caller(request)
    return result


def gateway(request: Request) -> TicketGateway:
    gw: TicketGateway = request.app.state.gateway
    return gw


def policies(request: Request) -> PolicyBook:
    book: PolicyBook = request.app.state.policies
    return book


CallerDep = Annotated[Caller, Depends(caller)]
# Declared for the OpenAPI document; intake/idempotency.py does the work before the route runs.
IdempotencyKeyDep = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=r"^[\x21-\x7e]{1,255}$",
        description=(
            "Printable ASCII, up to 255 characters. The same key with the same request gets"
            " the first answer again (kept 48 h); with another request, a 422."
        ),
    ),
]
GatewayDep = Annotated[TicketGateway, Depends(gateway)]
PoliciesDep = Annotated[PolicyBook, Depends(policies)]


@router.post("", status_code=201, responses={200: {"model": TicketStatus}, **ERRORS})
async def open_ticket(
    ticket: OpenTicketInput,
    response: Response,
    who: CallerDep,
    gw: GatewayDep,
    book: PoliciesDep,
    _key: IdempotencyKeyDep = None,
) -> TicketStatus:
    """Open a ticket (201), or return the existing one for a repeat (200): never a second clock.

    A repeat that names another class than the ticket's is a 409: change a class with a
    reclassify event.
    """
    require_tenant(who, ticket.tenant)
    status, created = await open_or_join(ticket, gw, book)
    response.status_code = 201 if created else 200
    return redacted(status)


async def open_or_join(
    ticket: OpenTicketInput, gw: TicketGateway, book: PolicyBook
) -> tuple[TicketStatus, bool]:
    """What opening means, for the API and the help-desk adapters: checks, then one clock."""
    _check_opened_at(ticket.opened_at)
    policy = book.get(ticket.tenant)
    book.check_class(policy, ticket.severity)
    book.check_category(policy, ticket.category)
    status, created = await gw.open(_classed(ticket, policy), policy)
    if not created and ticket.severity is not None and ticket.severity != status.severity:
        raise ApiError(
            409,
            f"ticket {ticket.ticket_id!r} is already open with class {status.severity!r}, not"
            f" {ticket.severity!r}; send a reclassify event to change its class",
            field="severity",
        )
    return status, created


def _classed(ticket: OpenTicketInput, policy: Policy) -> OpenTicketInput:
    """The ticket with the class the policy's class rules give it when intake names none (a
    named class is intake's decision; no rule matching: the category's or default class)."""
    if ticket.severity is not None:
        return ticket
    severity = rule_class(
        policy.class_rules,
        ticket.channel,
        ticket.subject,
        ticket.language,
        ticket.customer_ref,
        ticket.category,
    )
    return ticket if severity is None else ticket.model_copy(update={"severity": severity})


def _check_opened_at(opened_at: datetime | None) -> None:
    if opened_at is None:
        return
    now = datetime.now(UTC)
    if opened_at < now - OPENED_AT_PAST:
        detail = f"opened_at {opened_at.isoformat()} is more than a year ago"
        raise ApiError(422, detail, field="opened_at")
    if opened_at > now + OPENED_AT_FUTURE:
        raise ApiError(
            422, f"opened_at {opened_at.isoformat()} is in the future", field="opened_at"
        )


@router.post("/{tenant}/{ticket_id}/events", responses=ERRORS)
async def send_event(
    tenant: TenantPath,
    ticket_id: TicketPath,
    event: TicketEvent,
    who: CallerDep,
    gw: GatewayDep,
    book: PoliciesDep,
    _key: IdempotencyKeyDep = None,
) -> TicketStatus:
    """Apply one event (first_response, reclassify, pause, ...) and return the new SLA status."""
    require_tenant(who, tenant)
    return redacted(await apply_event(tenant, ticket_id, event, f"api:{who.name}", gw, book))


async def apply_event(
    tenant: str, ticket_id: str, event: Payload, caller: str, gw: TicketGateway, book: PolicyBook
) -> TicketStatus:
    """What an event means, for the API and the help-desk adapters: checks, then the update.

    `event` is one of the TicketEvent members; `caller` is who sent it ("api:token#1").
    """
    policy = book.get(tenant)
    if isinstance(event, ReclassifyEvent):
        book.check_class(policy, event.severity)
    kind: str = getattr(event, "type")  # noqa: B009 - every TicketEvent member has it
    return await gw.update(tenant, ticket_id, kind, update_input(event, caller))


@router.get("/{tenant}/{ticket_id}", responses=ERRORS)
async def ticket_status(
    tenant: TenantPath, ticket_id: TicketPath, who: CallerDep, gw: GatewayDep
) -> TicketStatus:
    """A ticket's SLA status: targets, deadlines, breaches, acknowledgements, history."""
    require_tenant(who, tenant)
    return redacted(await gw.status(tenant, ticket_id))


@router.get("", responses=ERRORS)
async def list_tickets(
    who: CallerDep,
    gw: GatewayDep,
    tenant: str | None = None,
    state: str | None = None,
    severity: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> TicketList:
    """Tickets from Temporal visibility, newest first, filtered by tenant, SLA state and class."""
    if tenant is not None and not who.may_use(tenant):
        raise ApiError(403, f"this token may not act for tenant {tenant!r}")
    return await gw.list(tenant, state, severity, who.allowed(), limit)
