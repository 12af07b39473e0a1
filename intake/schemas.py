"""Request and response bodies of the intake API that are not workflow payloads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from slawatch.models import (
    AcknowledgeInput,
    CloseInput,
    EventType,
    FirstResponseInput,
    PauseInput,
    Payload,
    ReclassifyInput,
    ReopenInput,
    ResolveInput,
    ResumeInput,
    TicketStatus,
)

# The SLA states the workflow writes to the SlaState search attribute.
SLA_STATES = ("on_track", "at_risk", "breached", "met", "paused", "resolved", "closed")


class FirstResponseEvent(FirstResponseInput):
    type: Literal["first_response"]


class ReclassifyEvent(ReclassifyInput):
    type: Literal["reclassify"]


class PauseEvent(PauseInput):
    type: Literal["pause"]


class ResumeEvent(ResumeInput):
    type: Literal["resume"]


class ResolveEvent(ResolveInput):
    type: Literal["resolve"]


class ReopenEvent(ReopenInput):
    type: Literal["reopen"]


class CloseEvent(CloseInput):
    type: Literal["close"]


class AcknowledgeEvent(Payload):
    """An acknowledgement through the API: recorded as the calling token's, channel "api"."""

    type: Literal["acknowledge"]
    breach_id: str | None = None
    # Who at the intake system acknowledged, as it says: recorded beside the token's identity,
    # never instead of it. (A `channel` is not taken: API acknowledgements are channel "api".)
    responder: str | None = Field(default=None, min_length=1, max_length=120)


TicketEvent = Annotated[
    FirstResponseEvent
    | ReclassifyEvent
    | PauseEvent
    | ResumeEvent
    | ResolveEvent
    | ReopenEvent
    | CloseEvent
    | AcknowledgeEvent,
    Field(discriminator="type"),
]

# Event type -> the update's input model (the event without its "type" tag).
EVENT_INPUTS: dict[str, type[Payload]] = {
    EventType.FIRST_RESPONSE: FirstResponseInput,
    EventType.RECLASSIFY: ReclassifyInput,
    EventType.PAUSE: PauseInput,
    EventType.RESUME: ResumeInput,
    EventType.RESOLVE: ResolveInput,
    EventType.REOPEN: ReopenInput,
    EventType.CLOSE: CloseInput,
    EventType.ACKNOWLEDGE: AcknowledgeInput,
}


def redacted(status: TicketStatus) -> TicketStatus:
    """What an intake system may see: responders by id, never their numbers or page codes."""
    sent = [n.model_copy(update={"to": n.recipient, "code": None}) for n in status.sent]
    return status.model_copy(update={"sent": sent})


def update_input(event: Payload, caller: str) -> Payload:
    """The workflow update's payload for an API event from `caller` (a token's identity)."""
    if isinstance(event, AcknowledgeEvent):
        said = f": {event.responder}" if event.responder else ""
        return AcknowledgeInput(
            breach_id=event.breach_id, responder=f"{caller}{said}", channel="api"
        )
    kind: str = getattr(event, "type")  # noqa: B009 - every TicketEvent member has it
    return EVENT_INPUTS[kind].model_validate(event.model_dump(exclude={"type"}))


class TicketSummary(BaseModel):
    """One ticket as Temporal visibility sees it (search attributes, not a query)."""

    tenant: str
    ticket_id: str
    workflow_id: str
    run_status: str
    opened_at: datetime | None = None
    severity: str | None = None
    sla_state: str | None = None
    response_due: datetime | None = None
    resolution_due: datetime | None = None
    escalation_level: int | None = None


class TicketList(BaseModel):
    tickets: list[TicketSummary]
    query: str


class ErrorBody(BaseModel):
    """What every 4xx/5xx carries: a stable code, a sentence, and the fields at fault."""

    error: str
    detail: str
    fields: list[dict[str, str]] | None = None
