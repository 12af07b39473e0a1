"""Payloads shared by workflows, activities, the API and the CLI: one object in, one out."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_serializer, field_validator

from policies import names
from policies.schema import Channel, Policy
from slawatch.outbound import Customer, OutboundPlan, OutboundState

# A tenant is named like every other name in a policy (policies/names.py).
TENANT_PATTERN = names.NAME_PATTERN
TICKET_ID_PATTERN = names.TICKET_ID_PATTERN
TENANT_NAME = re.compile(names.NAME)
_TICKET_ID = re.compile(names.TICKET_ID)
# Workflow ids are "ticket/{tenant}/{ticket_id}": neither part may contain "/", so the id is
# injective in (tenant, ticket id). The first form, "ticket-{tenant}-{ticket_id}", was not
# (acme + eu-1 and acme-eu + 1 met); tickets started under it are found by legacy_workflow_id.
WORKFLOW_ID_PREFIX = "ticket/"
# The ticket workflow's type, as the Temporal UI, visibility queries and starters by name see it.
TICKET_WORKFLOW_TYPE = "TicketSlaWorkflow"
# How far ahead of our clock an event's `at` may be (the help desk's clock and ours differ a
# little); within it the event counts as happening now. docs/helpdesk.md, "Event times".
EVENT_TIME_SKEW = timedelta(minutes=2)


def ticket_workflow_id(tenant: str, ticket_id: str) -> str:
    if not (TENANT_NAME.fullmatch(tenant) and _TICKET_ID.fullmatch(ticket_id)):
        raise ValueError(f"not a tenant and ticket id: {tenant!r}, {ticket_id!r}")
    return f"{WORKFLOW_ID_PREFIX}{tenant}/{ticket_id}"


def legacy_workflow_id(tenant: str, ticket_id: str) -> str:
    """The ambiguous first id form: only for finding tickets that still run under it."""
    return f"ticket-{tenant}-{ticket_id}"


def parse_ticket_workflow_id(workflow_id: str) -> tuple[str, str] | None:
    """(tenant, ticket id) of a current-form ticket workflow id, or None."""
    tenant, sep, ticket_id = workflow_id.removeprefix(WORKFLOW_ID_PREFIX).partition("/")
    if not workflow_id.startswith(WORKFLOW_ID_PREFIX) or not sep:
        return None
    if TENANT_NAME.fullmatch(tenant) and _TICKET_ID.fullmatch(ticket_id):
        return tenant, ticket_id
    return None


def ticket_ref(tenant: str, ticket_id: str) -> str:
    """The short reference people see in SMS and calls (and reply with: "ACK <ref>")."""
    return f"{tenant}/{ticket_id}"


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TargetKind(StrEnum):
    RESPONSE = "response"
    RESOLUTION = "resolution"


class TargetState(StrEnum):
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    BREACHED = "breached"
    MET = "met"
    PAUSED = "paused"
    NONE = "none"  # the class has no such target (CargoTASK states no resolution target)


class BreachOutcome(StrEnum):
    ESCALATING = "escalating"
    ACKNOWLEDGED = "acknowledged"
    STOPPED = "stopped"  # met after all, reclassified or closed
    EXHAUSTED = "exhausted"
    WITHDRAWN = "withdrawn"  # an event reported late shows the target was met (event-times)


class StopReason(StrEnum):
    """Why the ticket stops a breach's escalation (the `reason` of StopEscalationInput)."""

    ACKNOWLEDGED = "acknowledged"
    MET = "met"
    RECLASSIFIED = "reclassified"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"  # an event reported late shows the target was met (event-times)

    def outcome(self) -> BreachOutcome:
        """What the breach's escalation came to when stopped for this reason."""
        if self is StopReason.ACKNOWLEDGED:
            return BreachOutcome.ACKNOWLEDGED
        return BreachOutcome.STOPPED


class EventType(StrEnum):
    """What an intake system tells a ticket (the API's event `type`, the CLI's `event`); each is
    the ticket workflow's Update of the same name."""

    FIRST_RESPONSE = "first_response"
    RECLASSIFY = "reclassify"
    PAUSE = "pause"
    RESUME = "resume"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    CLOSE = "close"
    ACKNOWLEDGE = "acknowledge"


class TicketPhase(StrEnum):
    OPEN = "open"
    WAITING_ON_CUSTOMER = "waiting_on_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"


# -- opening a ticket ------------------------------------------------------------------------


def _one_line(value: str | None) -> str | None:
    if value is not None and any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must be one line of text (no control characters)")
    return value


class OpenTicketInput(Payload):
    tenant: str = Field(pattern=TENANT_PATTERN)
    ticket_id: str = Field(pattern=TICKET_ID_PATTERN)
    severity: str | None = None
    category: str | None = None
    # What the intake system knows of the ticket. Kept on the ticket (its workflow input) and
    # shown to intake tokens; the policy's class rules may read them; never in a page.
    channel: str | None = Field(default=None, min_length=1, max_length=64)
    customer_ref: str | None = Field(default=None, min_length=1, max_length=256)
    subject: str | None = Field(default=None, max_length=500)
    language: str | None = Field(default=None, max_length=35)
    opened_at: AwareDatetime | None = None
    # Where customer notices go (policy `outbound.notices`); never put into pages.
    customer: Customer | None = None

    @field_validator("channel", "customer_ref", "subject")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return _one_line(value)

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        return names.language_tag(value)


class PolicySnapshotInput(Payload):
    tenant: str
    opened_at: datetime


class Interval(Payload):
    start: datetime
    end: datetime | None = None


class TicketState(Payload):
    """Everything a ticket workflow knows; carried across continue-as-new."""

    policy: Policy
    severity: str
    phase: TicketPhase = TicketPhase.OPEN
    opened_at: datetime
    responded_at: datetime | None = None
    resolved_at: datetime | None = None
    # Waiting on customer and resolved-then-reopened: the resolution clock stands still.
    pauses: list[Interval] = Field(default_factory=list)
    # Highest warning percentage already sent, per target kind.
    warned: dict[TargetKind, int] = Field(default_factory=dict)
    breached_at: dict[TargetKind, datetime] = Field(default_factory=dict)
    breaches: list[Breach] = Field(default_factory=list)
    acknowledgements: list[Acknowledgement] = Field(default_factory=list)
    sent: list[SentNotification] = Field(default_factory=list)
    history: list[HistoryEntry] = Field(default_factory=list)
    # Breach id (or "warnings") -> what is failing account-wide, while pages cannot go out.
    delivery_failing: dict[str, str] = Field(default_factory=dict)
    # Webhook, write-back and notice events not yet delivered (workflows/outbound.py).
    outbound: OutboundState | None = None
    # The instant of the latest event that moved the phase or class (its `at`): a later event
    # may not say it happened before it (patch event-times). None: the opening.
    last_event_at: datetime | None = None
    closed_at: datetime | None = None
    # Breaches whose escalation starts only if round 1, step 1 goes unacknowledged.
    waiting: list[WaitingLadder] = Field(default_factory=list)


class TicketWorkflowInput(Payload):
    ticket: OpenTicketInput
    # Continue-as-new once history passes this many events (well under Temporal's limits).
    continue_as_new_after: int = Field(default=10_000, ge=20)
    # The compact policy snapshot intake resolved (policies/snapshot.py): the ticket has its
    # state from its first task. None only in tickets opened before intake passed it; those
    # snapshot the policy by an activity first (workflows/ticket.py, the legacy start).
    policy: Policy | None = None
    # Carried across continue-as-new so nothing is lost and the policy is never re-read.
    state: TicketState | None = None
    # What the ticket sends out (webhooks, help-desk write-back, customer notices); None: nothing.
    outbound: OutboundPlan | None = None
    # The patched changes the code that opened it had (workflows/versions.py); 0: ask each.
    revision: int = Field(default=0, ge=0)


# -- events ----------------------------------------------------------------------------------


class EventInput(Payload):
    """An event's instant in the help desk (`at`); None: now. The ticket's clocks use it."""

    at: AwareDatetime | None = Field(
        default=None,
        description=(
            "When it happened in the help desk (RFC 3339 with an offset). Not before the"
            " ticket's opening or its previous event, at most 2 minutes ahead of slawatch's"
            " clock; default: now."
        ),
    )


class FirstResponseInput(EventInput):
    by: str | None = Field(default=None, max_length=200)


class ReclassifyInput(EventInput):
    severity: str = Field(min_length=1)
    reason: str = Field(min_length=1, max_length=1000)


class PauseInput(EventInput):
    reason: str | None = Field(default=None, max_length=1000)


class ResumeInput(EventInput):
    pass


class ResolveInput(EventInput):
    note: str | None = Field(default=None, max_length=1000)


class ReopenInput(EventInput):
    reason: str | None = Field(default=None, max_length=1000)


class CloseInput(EventInput):
    pass


class AcknowledgeInput(Payload):
    # Which breach; None acknowledges every breach still escalating.
    breach_id: str | None = None
    responder: str = Field(min_length=1, max_length=200)
    channel: str = Field(min_length=1, max_length=32)
    # From a phone (SMS reply, key press): the number is not a credential by itself. Only
    # breaches paged to `phone` at or before `received_at` are acknowledged, and with `code`
    # only the page that carried that one-time code.
    phone: str | None = Field(default=None, max_length=32)
    received_at: datetime | None = None
    code: str | None = Field(default=None, max_length=12)
    # A digest's group code was given: every breach paged to `phone` in this outage group.
    group: str | None = Field(default=None, max_length=64)


class DeliveryStatusInput(Payload):
    """A delivery outcome from a Twilio status callback, forwarded to the escalation."""

    idempotency_key: str
    status: str


# -- status ----------------------------------------------------------------------------------


class TargetStatus(Payload):
    kind: TargetKind
    state: TargetState
    target: timedelta | None = None
    due: datetime | None = None
    business_time_left: timedelta | None = None
    met_at: datetime | None = None
    breached_at: datetime | None = None

    @field_serializer("target", "business_time_left")
    def _whole_seconds(self, value: timedelta | None) -> timedelta | None:
        # RFC 3339 durations (the OpenAPI "duration" format) have no fractional seconds: the
        # API sent "PT23H59M59.97S", which a client checking the schema rejects.
        return None if value is None else value - timedelta(microseconds=value.microseconds)


class SentNotification(Payload):
    breach_id: str
    key: str
    channel: Channel
    to: str
    recipient: str
    at: datetime
    ok: bool
    detail: str = ""
    # The one-time code the page carried ("Reply 4821 to acknowledge"), per breach and person.
    code: str | None = None
    # Why it did not go: "account" (the vendor refused our account: auth, permissions, geo,
    # quota; retried until it goes) or "recipient" (this number or address; the ladder moves on).
    failure: str | None = None
    # The final outcome Twilio reported for it (delivered, undelivered, no-answer, machine...).
    outcome: str | None = None
    # Outage grouping (docs/grouping.md): the group this page opened or was folded into, and
    # whether it was folded (then `detail` is the digest's SID and `code` the group's code).
    group: str | None = None
    folded: bool = False


class Acknowledgement(Payload):
    breach_id: str
    responder: str
    channel: str
    at: datetime


class Breach(Payload):
    breach_id: str
    kind: TargetKind
    at: datetime
    severity: str
    escalation_workflow_id: str
    level: int = 0
    outcome: BreachOutcome = BreachOutcome.ESCALATING
    # Set when an event reported late shows the target was met (or its clock stopped) in time
    # after all: the breach no longer stands, its pages stay on record (patch event-times).
    withdrawn_at: datetime | None = None
    withdrawn_why: str | None = None

    @property
    def live(self) -> bool:
        """Still escalating: not acknowledged, stopped or exhausted."""
        return self.outcome == BreachOutcome.ESCALATING


def live_breaches(breaches: list[Breach]) -> list[Breach]:
    """The breaches still escalating."""
    return [b for b in breaches if b.live]


def escalation_level(breaches: list[Breach]) -> int:
    """The ticket's escalation level: the highest step any live escalation has reached."""
    return max((b.level for b in live_breaches(breaches)), default=0)


class HistoryEntry(Payload):
    at: datetime  # when slawatch recorded it
    event: str
    detail: str = ""
    # When it happened in the help desk, for an event sent with `at` (patch event-times).
    happened_at: datetime | None = None


class TicketStatus(Payload):
    tenant: str
    ticket_id: str
    workflow_id: str
    severity: str
    category: str | None
    phase: TicketPhase
    opened_at: datetime
    sla_state: str
    response: TargetStatus
    resolution: TargetStatus
    escalation_level: int
    breaches: list[Breach]
    acknowledgements: list[Acknowledgement]
    sent: list[SentNotification]
    history: list[HistoryEntry]
    # "failing" while a vendor refuses our account for this ticket's pages, else "ok".
    delivery: str = "ok"
    delivery_problems: list[str] = Field(default_factory=list)
    # What intake said of the ticket (shown to intake tokens, never in pages).
    channel: str | None = None
    customer_ref: str | None = None
    subject: str | None = None
    language: str | None = None


# -- escalation ------------------------------------------------------------------------------


class Recipient(Payload):
    """Someone a step pages: a responder or the emergency line (no customer data here)."""

    id: str
    name: str
    phone: str | None = None
    email: str | None = None
    # The language of this person's SMS and call text (en, et, ro); English when None.
    language: str | None = None


class EscalationInput(Payload):
    tenant: str
    ticket_id: str
    ticket_workflow_id: str
    breach_id: str
    kind: TargetKind
    severity: str
    policy: Policy
    breached_at: datetime
    # Set when the ticket's breach task sent the phones of round 1, step 1 itself (each
    # person's one-time code): the escalation takes that step's pages from `first_step_sent`.
    first_step_codes: dict[str, str] | None = None
    # True when that step names a schedule (patch `oncall-at-page-time`): the ticket resolves
    # who is on call as it pages, and `first_step_sent` brings the people and their codes.
    first_step_resolved: bool = False
    # The patched changes the code that started it had (workflows/versions.py); 0: ask each.
    revision: int = Field(default=0, ge=0)
    # An escalation the ticket started only when round 1, step 1 needed more than its pages
    # (patch `ladder-after-first-window`): the pages it sent, when that step's ack window ends,
    # and the delivery failures Twilio reported before the escalation existed.
    first_step: FirstStepSent | None = None
    first_window_ends_at: datetime | None = None
    statuses: list[DeliveryStatusInput] = Field(default_factory=list)


class FirstStepSent(Payload):
    """The pages of round 1, step 1 that the ticket sent for its escalation."""

    sent: list[SentNotification]
    # With EscalationInput.first_step_resolved: whom the ticket paged, and each one's code.
    people: list[Recipient] | None = None
    codes: dict[str, str] | None = None


class WaitingLadder(Payload):
    """A breach whose round 1, step 1 the ticket paged itself and whose escalation it has not
    started (patch `ladder-after-first-window`): it starts when that step's ack window ends
    unacknowledged, or at once when a page of the step failed."""

    breach_id: str
    # Set when the step's pages are back (None while they are out).
    first_step: FirstStepSent | None = None
    window_ends_at: datetime | None = None
    # When the escalation starts: the window's end, or the moment a page was known to fail.
    due_at: datetime | None = None
    statuses: list[DeliveryStatusInput] = Field(default_factory=list)


class EscalationResult(Payload):
    breach_id: str
    outcome: BreachOutcome
    acknowledged_by: str | None = None
    level: int = 0


class EscalationProgress(Payload):
    breach_id: str
    level: int
    sent: list[SentNotification]
    # None: no news about delivery; []: pages go out again; else what is failing account-wide.
    failing: list[str] | None = None
    # Who each on-call role resolved to for the step, and why (layer, override): one line each.
    on_call: list[str] = Field(default_factory=list)


class StopEscalationInput(Payload):
    reason: StopReason
    responder: str | None = None
    channel: str | None = None


# -- notification activities -----------------------------------------------------------------


class PageGroup(Payload):
    """Outage grouping of one page (activities/grouping.py): a page of `tenant` to a number the
    tenant paged less than `window_seconds` earlier is folded into that page's digest."""

    tenant: str
    window_seconds: int = Field(gt=0, le=3600)
    ticket_ref: str
    severity: str
    kind: str
    # The page's instant on the workflow's clock: windows count from it, so a retry or a
    # replay decides the same, and time-skipping tests can move it.
    at: datetime


class SendSmsInput(Payload):
    to: str
    # Ticket reference and class only: never customer data (slawatch/messages.py builds it).
    body: str = Field(max_length=1600)
    idempotency_key: str
    # For the status callback URL the activity builds from settings.public_base_url.
    ticket_workflow_id: str
    breach_id: str
    # Outage grouping; None (grouping off, or an older workflow) sends as before.
    group: PageGroup | None = None


class PlaceCallInput(Payload):
    to: str
    ticket_ref: str
    severity: str
    idempotency_key: str
    # The language the call speaks (en, et, ro); English when None.
    language: str | None = None
    # The activity builds the TwiML (Gather action, status callback) from these and settings.
    ticket_workflow_id: str
    breach_id: str
    group: PageGroup | None = None


class SendDigestInput(Payload):
    """Send (once) the digest of an outage group; every folded page's workflow asks."""

    group: str
    channel: Channel
    to: str
    # The asking page: its status callback carries the digest's outcome to that ticket.
    idempotency_key: str
    ticket_workflow_id: str
    breach_id: str


class SendEmailInput(Payload):
    to: list[str] = Field(min_length=1)
    subject: str
    body: str
    idempotency_key: str


class SendResult(Payload):
    ok: bool
    provider_id: str | None = None
    detail: str = ""
    # True when the ledger showed this key was already sent, so nothing went out again.
    duplicate: bool = False
    # Outage grouping: the group the page opened or joined; `digest_at` is set when it was
    # folded (nothing sent yet: the digest goes then); a digest's result carries its `code`.
    group: str | None = None
    digest_at: datetime | None = None
    code: str | None = None


TicketState.model_rebuild()
TicketWorkflowInput.model_rebuild()
EscalationInput.model_rebuild()
