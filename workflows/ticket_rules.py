"""Pure rules of a ticket's events: what may happen now, who may acknowledge, its status."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio.exceptions import ApplicationError

from policies.schema import Policy
from slawatch.models import (
    EVENT_TIME_SKEW,
    AcknowledgeInput,
    Breach,
    BreachOutcome,
    HistoryEntry,
    OpenTicketInput,
    TargetKind,
    TicketPhase,
    TicketState,
    TicketStatus,
    escalation_level,
)
from slawatch.paging import phone_pages
from workflows import sla


def invalid(message: str) -> ApplicationError:
    return ApplicationError(message, type="InvalidTransition", non_retryable=True)


def opening_state(
    ticket: OpenTicketInput, policy: Policy, opened_at: datetime, now: datetime
) -> TicketState:
    """A new ticket's state on its policy snapshot: its class, and the `opened` entry."""
    state = TicketState(policy=policy, severity=policy.default_class, opened_at=opened_at)
    try:
        state.severity = policy.class_for(ticket.severity, ticket.category)
    except KeyError:
        # A clock must run whatever intake sent: fall back to the default and say so.
        note = f"{ticket.severity!r}; using {state.severity}"
        state.history.append(HistoryEntry(at=now, event="unknown_class", detail=note))
    state.history.append(HistoryEntry(at=now, event="opened", detail=f"class {state.severity}"))
    return state


def _iso(at: datetime) -> str:
    """An instant for a person: UTC, to the second (as given when it has no UTC form)."""
    try:
        at = at.astimezone(UTC)
    except OverflowError:
        return at.isoformat()
    return at.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def previous_event_at(s: TicketState) -> datetime:
    """The instant of the ticket's latest phase or class event (its opening at first). Pauses
    and the resolution are read too: a ticket may have had them before events carried `at`."""
    instants = [s.opened_at]
    instants += [t for t in (s.last_event_at, s.resolved_at, s.closed_at) if t is not None]
    for interval in s.pauses[-1:]:
        instants += [t for t in (interval.start, interval.end) if t is not None]
    return max(instants)


def check_event_time(
    s: TicketState, at: datetime | None, now: datetime, ordered: bool = True
) -> None:
    """An event's `at` must lie between the ticket's opening (and, when `ordered`, its previous
    event) and now plus EVENT_TIME_SKEW. A first response is not `ordered`: it only answers the
    response clock, which no other event stops, so it may be reported after a later pause."""
    if at is None:
        return
    skew = int(EVENT_TIME_SKEW.total_seconds() // 60)
    if at > now + EVENT_TIME_SKEW:
        raise bad_time(f"{_iso(at)} is more than {skew} minutes ahead of slawatch's clock")
    if at < s.opened_at:
        raise bad_time(f"{_iso(at)} is before the ticket opened ({_iso(s.opened_at)})")
    previous = previous_event_at(s)
    if ordered and at < previous:
        raise bad_time(f"{_iso(at)} is before the ticket's previous event ({_iso(previous)})")


def bad_time(problem: str) -> ApplicationError:
    return ApplicationError(f"at: {problem}", type="InvalidEventTime", non_retryable=True)


def event_instant(at: datetime | None, now: datetime) -> datetime:
    """When an event happened: its `at`, never ahead of now (the skew counts as now), in UTC
    as every other instant of the ticket."""
    return now if at is None else min(at, now).astimezone(UTC)


# History entries of intake events: the one that withdraws a breach is the latest of them.
INTAKE_EVENTS = (
    "first_response",
    "reclassified",
    "waiting_on_customer",
    "resumed",
    "resolved",
    "reopened",
    "closed",
)


def withdrawal_note(s: TicketState, breach: Breach) -> str:
    """The timeline's words for a breach a late event withdrew: which event, when it happened,
    and that the pages went out all the same."""
    cause = next((h for h in reversed(s.history) if h.event in INTAKE_EVENTS), None)
    what = "a later event"
    if cause is not None:
        what = cause.event
        if cause.happened_at is not None:
            what += f" at {_iso(cause.happened_at)} (reported {_iso(cause.at)})"
    pages = sum(1 for n in s.sent if n.breach_id == breach.breach_id and n.ok)
    return (
        f"{breach.breach_id}: {what} shows the {breach.kind.value} target was not missed;"
        f" {pages} page{'s' if pages != 1 else ''} had gone out"
    )


def require_open(s: TicketState, what: str) -> None:
    if s.phase in (TicketPhase.RESOLVED, TicketPhase.CLOSED):
        raise invalid(f"cannot {what}: the ticket is {s.phase.value}")


def check_reclassify(s: TicketState, severity: str) -> None:
    require_open(s, "reclassify")
    if severity not in s.policy.classes:
        known = ", ".join(s.policy.classes)
        raise ApplicationError(
            f"severity: unknown class {severity!r} (known: {known})",
            type="UnknownClass",
            non_retryable=True,
        )
    if severity == s.severity:
        raise invalid(f"the ticket is already class {severity}")


def ackable(s: TicketState, input: AcknowledgeInput) -> list[Breach]:
    """The breaches this acknowledgement stops, or the reason it stops none."""
    targets = open_breaches(s, input.breach_id)
    if input.phone is None:
        return targets  # the API: the caller's token was checked for the tenant
    # A phone is not a credential: only breaches paged to this number before the reply
    # arrived (with its one-time code, when one is given) are this reply's to stop.
    pages = phone_pages(s.sent, input.phone, input.received_at, input.code, input.group)
    paged = {n.breach_id for n in pages}
    mine = [b for b in targets if b.breach_id in paged]
    if not mine:
        raise ApplicationError(
            "this number was not paged for that breach before the acknowledgement arrived",
            type="NotPaged",
            non_retryable=True,
        )
    return mine


def open_breaches(s: TicketState, breach_id: str | None) -> list[Breach]:
    if breach_id is not None:
        found = [b for b in s.breaches if b.breach_id == breach_id]
        if not found:
            raise ApplicationError(
                f"breach_id: no breach {breach_id!r}", type="UnknownBreach", non_retryable=True
            )
        if found[0].outcome == "acknowledged":
            raise invalid(f"breach {breach_id} is already acknowledged")
        return found
    live = [b for b in s.breaches if b.live or b.outcome == BreachOutcome.EXHAUSTED]
    if not live:
        raise invalid("nothing to acknowledge: no breach is escalating")
    return live


def status_of(
    s: TicketState, ticket: OpenTicketInput, workflow_id: str, now: datetime
) -> TicketStatus:
    return TicketStatus(
        tenant=s.policy.tenant,
        ticket_id=ticket.ticket_id,
        workflow_id=workflow_id,
        severity=s.severity,
        category=ticket.category,
        phase=s.phase,
        opened_at=s.opened_at,
        sla_state=sla.overall_state(s, now),
        response=sla.target_status(s, TargetKind.RESPONSE, now),
        resolution=sla.target_status(s, TargetKind.RESOLUTION, now),
        escalation_level=escalation_level(s.breaches),
        breaches=s.breaches,
        acknowledgements=s.acknowledgements,
        sent=s.sent,
        history=s.history,
        delivery="failing" if s.delivery_failing else "ok",
        delivery_problems=sorted(set(s.delivery_failing.values())),
        channel=ticket.channel,
        customer_ref=ticket.customer_ref,
        subject=ticket.subject,
        language=ticket.language,
    )
