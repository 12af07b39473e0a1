"""The rows of the SLA record: one ticket, its milestones, its breaches and its pages.

Each row has a natural key (named in its docstring) that the store upserts on, so writing the
same ticket twice — a retried activity, a replayed workflow, a second backfill — changes nothing.
`version` grows with everything the ticket has recorded (history entries, pages,
acknowledgements): a late retry carrying an older picture never overwrites a newer one.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from slawatch.models import BreachOutcome, TargetKind

# The verdicts a target can have in the record (docs/reports.md defines each).
MET, BREACHED, PENDING, NO_TARGET = "met", "breached", "pending", "none"


class Row(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TicketRow(Row):
    """Key: (tenant, ticket_id). The ticket's SLA outcome under its final class."""

    tenant: str
    ticket_id: str
    workflow_id: str
    category: str | None = None
    sla_class: str
    opened_class: str
    phase: str
    policy_tenant: str
    policy_hash: str
    policy_effective: date | None = None
    opened_at: datetime
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    response_verdict: str
    response_target_s: float | None = None
    response_due: datetime | None = None
    response_business_s: float | None = None
    response_wall_s: float | None = None
    resolution_verdict: str
    resolution_target_s: float | None = None
    resolution_due: datetime | None = None
    resolution_business_s: float | None = None
    resolution_wall_s: float | None = None
    # Waiting on the customer (not the resolved-then-reopened gaps), on the final class calendar.
    paused_business_s: float = 0.0
    paused_wall_s: float = 0.0
    reclassifications: int = 0
    version: int = 0


class EventRow(Row):
    """Key: (tenant, ticket_id, event, at, n); n tells apart equal events at one instant."""

    tenant: str
    ticket_id: str
    event: str
    at: datetime
    n: int = 0
    detail: str = ""


class BreachRow(Row):
    """Key: (tenant, ticket_id, breach_id). Kept when a downgrade withdraws it (withdrawn)."""

    tenant: str
    ticket_id: str
    breach_id: str
    kind: TargetKind
    sla_class: str
    target_s: float | None = None
    due: datetime | None = None
    breached_at: datetime
    withdrawn: bool = False
    withdrawn_at: datetime | None = None
    outcome: str = BreachOutcome.ESCALATING.value
    level: int = 0
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    ack_channel: str | None = None
    version: int = 0


class PageRow(Row):
    """Key: (tenant, ticket_id, key, sent_at): a page retried after a refusal is two rows."""

    tenant: str
    ticket_id: str
    key: str
    sent_at: datetime
    breach_id: str
    channel: str
    recipient: str
    ok: bool
    failure: str | None = None
    outcome: str | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    version: int = 0


class TicketRecord(Row):
    """Everything recorded about one ticket: what one write upserts."""

    ticket: TicketRow
    events: list[EventRow] = Field(default_factory=list)
    breaches: list[BreachRow] = Field(default_factory=list)
    pages: list[PageRow] = Field(default_factory=list)
