"""What the help-desk adapters share: their secrets, the replay guard, and the ticket's events.

Each adapter (intake/zendesk.py, intake/jira.py) checks its help desk's signature with the
tenant's secret from the environment, reads the help desk's own payload, and turns it into the
native ticket events through the same functions the API's routes call (intake/tickets.py). A
status maps to the phase the ticket should be in; the event that gets it there follows from the
phase it is in (so a retried or repeated status change does nothing).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

import structlog
from fastapi import Request
from pydantic import BaseModel, ConfigDict, ValidationError

from intake.errors import ApiError
from intake.gateway import TicketGateway
from intake.policybook import PolicyBook
from intake.schemas import (
    CloseEvent,
    PauseEvent,
    ReclassifyEvent,
    ReopenEvent,
    ResolveEvent,
    ResumeEvent,
    redacted,
)
from intake.tickets import apply_event, open_or_join
from intake.webhook_store import WebhookStore
from policies.helpdesk import FirstResponse, Phase
from policies.schema import Policy
from slawatch.models import (
    TICKET_ID_PATTERN,
    OpenTicketInput,
    Payload,
    TargetState,
    TicketPhase,
    TicketStatus,
)

log = structlog.get_logger("slawatch.intake.helpdesk")

PREFIX = "/v1/helpdesk"
_TICKET_ID = re.compile(TICKET_ID_PATTERN)


class AdapterResult(BaseModel):
    """What an adapter did with one webhook: the native events it sent, or why none."""

    ticket_id: str | None = None
    events: list[str] = []
    ignored: str | None = None
    duplicate: bool = False
    status: TicketStatus | None = None


class Loose(BaseModel):
    """A part of a help desk's payload: fields we do not map are ignored, never refused (Zendesk
    adds fields over time; Jira sends every field of the issue, custom fields included)."""

    model_config = ConfigDict(extra="ignore")


def json_body(required: list[str], properties: dict[str, Any], desk: str) -> dict[str, Any]:
    """OpenAPI for a body the route reads raw (its signature covers the exact bytes)."""
    schema = {"type": "object", "required": required, "properties": properties}
    return {
        "requestBody": {
            "required": True,
            "description": f"The webhook exactly as {desk} sends it (docs/helpdesk.md).",
            "content": {"application/json": {"schema": schema}},
        }
    }


def secret_for(request: Request, desk: str, tenant: str) -> str | None:
    secrets: dict[str, dict[str, str]] = request.app.state.helpdesk_secrets
    return secrets.get(desk, {}).get(tenant)


def refuse(logger: Any, desk: str, tenant: str, problem: str, header: str) -> NoReturn:
    """A delivery whose signature fails: `problem` goes to the adapter's log, the caller gets a
    401 that names the signature header and nothing more."""
    logger.warning(f"{desk}_webhook_refused", tenant=tenant, problem=problem)
    raise ApiError(401, f"invalid {header}", code="bad_signature")


def not_ahead(at: datetime) -> datetime:
    """A help desk's instant, in UTC and never ahead of our clock; one that has no UTC form
    (year 1 at +05:00) is a 422, not a 500."""
    try:
        return min(at, datetime.now(UTC)).astimezone(UTC)
    except OverflowError:
        raise ApiError(422, f"time: {at.isoformat()} is out of range", field="time") from None


# Timeline entries of the events that move a ticket's phase or class: a later one may not say
# it happened before them (workflows/ticket_rules.py, check_event_time).
_ORDERED = ("reclassified", "waiting_on_customer", "resumed", "resolved", "reopened", "closed")


def in_order(status: TicketStatus, at: datetime) -> datetime:
    """The help desk's instant for a phase or class event, never before the ticket's previous
    one: a delivery that arrives out of order counts at the instant of the event it trails, so
    the help desk's retries never meet a 422 (docs/helpdesk.md, "Event times")."""
    floor = status.opened_at
    for entry in status.history:
        if entry.event in _ORDERED:
            floor = max(floor, entry.happened_at or entry.at)
    return max(not_ahead(at), floor)


def since_opening(status: TicketStatus, at: datetime) -> datetime:
    """A first response's instant: the help desk's, never ahead of our clock nor before the
    ticket's opening (a comment dated before the ticket it was found on counts at its opening)."""
    return max(not_ahead(at), status.opened_at)


def first_response_due(rule: FirstResponse, public_agent: bool, response: TargetState) -> bool:
    """Whether a comment is the ticket's first response: the policy counts a public reply by
    an agent, the comment is one, and the response target is still running."""
    waiting = response not in (TargetState.MET, TargetState.NONE)
    return rule is FirstResponse.PUBLIC_AGENT_COMMENT and public_agent and waiting


T = TypeVar("T")


def lookup(mapping: Mapping[Any, T], name: str | None) -> T | None:
    """A help desk's priority or status in the policy's mapping, ignoring case."""
    if not name:
        return None
    folded = {str(k).casefold(): v for k, v in mapping.items()}
    return folded.get(name.casefold())


def parse(model: type[BaseModel], body: bytes) -> Any:
    """The help desk's JSON as `model`; a 422 naming the first field at fault."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in err["loc"]) or "body"
        raise ApiError(422, f"{field}: {err['msg']}", field=field) from None


def ticket_id_of(prefix: str, own_id: str, field: str) -> str:
    ticket_id = f"{prefix}{own_id}"
    if not _TICKET_ID.fullmatch(ticket_id):
        raise ApiError(422, f"{field}: {own_id!r} makes no valid ticket id", field=field)
    return ticket_id


async def once(
    request: Request, key: str | None, handle: Callable[[], Awaitable[AdapterResult]]
) -> AdapterResult:
    """Handle a delivery once: the help desk's retry of one it already got is answered as done.

    A failure on our side forgets the delivery, so that the help desk's own retry is handled.
    """
    if key is None:
        return await handle()
    store: WebhookStore = request.app.state.webhook_store
    if not await asyncio.to_thread(store.first_sighting, key):
        log.info("helpdesk_delivery_repeated", key=key)
        return AdapterResult(duplicate=True)
    try:
        return await handle()
    except Exception:
        await asyncio.to_thread(store.forget, key)
        raise


class TicketSession:
    """One webhook's work on one ticket: opened when unknown, then events in order."""

    def __init__(self, request: Request, tenant: str, ticket_id: str, source: str) -> None:
        self.gw: TicketGateway = request.app.state.gateway
        self.book: PolicyBook = request.app.state.policies
        self.tenant, self.ticket_id, self.source = tenant, ticket_id, source
        self.done: list[str] = []
        self.status: TicketStatus | None = None

    def policy(self) -> Policy:
        return self.book.get(self.tenant)

    async def ensure_open(self, opening: OpenTicketInput) -> TicketStatus:
        """The ticket's status; a ticket the help desk knows and we do not is opened first
        (webhooks may arrive out of order: a priority change before its ticket's creation)."""
        try:
            self.status = await self.gw.status(self.tenant, self.ticket_id)
        except ApiError as exc:
            if exc.status != 404:
                raise
            self.status, created = await open_or_join(opening, self.gw, self.book)
            if created:
                self.done.append("open")
        return self.status

    async def send(self, event: Payload) -> TicketStatus:
        kind: str = getattr(event, "type")  # noqa: B009 - every TicketEvent member has it
        self.status = await apply_event(
            self.tenant, self.ticket_id, event, self.source, self.gw, self.book
        )
        self.done.append(kind)
        return self.status

    async def move_to(self, target: Phase | None, at: datetime) -> None:
        """Send what takes the ticket from its phase to `target` (nothing if it is there), as
        having happened at the help desk's instant `at`."""
        assert self.status is not None
        for event in transitions(self.status.phase, target):
            await self.send(event.model_copy(update={"at": in_order(self.status, at)}))

    async def reclassify(self, severity: str | None, reason: str, at: datetime) -> None:
        """Reclassify to `severity` (a mapped priority) when it is not the ticket's class."""
        assert self.status is not None
        if severity is not None and severity != self.status.severity:
            when = in_order(self.status, at)
            await self.send(
                ReclassifyEvent(type="reclassify", severity=severity, reason=reason, at=when)
            )

    async def open_with(
        self, severity: str | None, subject: str | None, opened_at: datetime | None = None
    ) -> TicketStatus:
        """`ensure_open` with what the help desk says of the ticket: its class, its subject (cut
        to 500 characters) and, when it says, when it opened (never ahead of our clock)."""
        opening = OpenTicketInput(
            tenant=self.tenant,
            ticket_id=self.ticket_id,
            severity=severity,
            channel=self.source,
            subject=(subject or "")[:500] or None,
            opened_at=None if opened_at is None else not_ahead(opened_at),
        )
        return await self.ensure_open(opening)

    def result(self, nothing: str = "nothing to change") -> AdapterResult:
        """What was done; `nothing` says why, when no event was sent."""
        status = redacted(self.status) if self.status else None
        ignored = None if self.done else nothing
        return AdapterResult(
            ticket_id=self.ticket_id, events=self.done, status=status, ignored=ignored
        )


def transitions(phase: TicketPhase, target: Phase | None) -> list[Payload]:
    """The native events that take a ticket from `phase` to the help desk's `target`."""
    waiting, resolved = TicketPhase.WAITING_ON_CUSTOMER, TicketPhase.RESOLVED
    if target is None or phase is TicketPhase.CLOSED:
        return []
    if target is Phase.CLOSE:
        return [CloseEvent(type="close")]
    if target is Phase.RESOLVE:
        return [] if phase is resolved else [ResolveEvent(type="resolve")]
    back: list[Payload] = [ReopenEvent(type="reopen")] if phase is resolved else []
    if target is Phase.PAUSE:
        return [] if phase is waiting else [*back, PauseEvent(type="pause")]
    return [ResumeEvent(type="resume")] if phase is waiting else back
