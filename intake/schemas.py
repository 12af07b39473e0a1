"""Request and response bodies of the intake API that are not workflow payloads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from slawatch.models import (
    AcknowledgeInput,
    CloseInput,
    FirstResponseInput,
    PauseInput,
    Payload,
    ReclassifyInput,
    ReopenInput,
    ResolveInput,
    ResumeInput,
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


class AcknowledgeEvent(AcknowledgeInput):
    type: Literal["acknowledge"]


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
    "first_response": FirstResponseInput,
    "reclassify": ReclassifyInput,
    "pause": PauseInput,
    "resume": ResumeInput,
    "resolve": ResolveInput,
    "reopen": ReopenInput,
    "close": CloseInput,
    "acknowledge": AcknowledgeInput,
}


def update_input(event: Payload) -> Payload:
    """The workflow update's payload for an API event: the same fields without the tag."""
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
