"""A ticket's SLA record from what its workflow reports (pure: no I/O, no clock).

The workflow's `TicketStatus` holds the verdicts (met, breached), its timeline and its pages;
the policy snapshot holds the calendars that turn instants into business time. The live
milestone activity and the backfill both build rows here, so they write the same rows.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import datetime, timedelta

from activities.records.rows import (
    BREACHED,
    MET,
    NO_TARGET,
    PENDING,
    BreachRow,
    EventRow,
    PageRow,
    TicketRecord,
    TicketRow,
)
from policies.clock import BusinessClock, clock_for
from policies.schema import Policy
from slawatch.models import (
    BreachOutcome,
    HistoryEntry,
    TargetKind,
    TargetState,
    TargetStatus,
    TicketPhase,
    TicketStatus,
)

# Timeline entries that end a wait on the customer, and the one that ends a resolved gap.
_WAIT_ENDS = {"resumed", "resolved", "closed"}
_WARNING_PREFIX = "warning-"


def policy_hash(policy: Policy) -> str:
    """The policy's content hash: its terms, the same for the policy file and for every ticket's
    snapshot of it, which resolves dated lists for its own years (holidays, closed dates) and
    may leave out calendars no class uses."""
    data = policy.model_dump(mode="json")
    # How pages are grouped is not an SLA term (and older snapshots lack it): not in the hash.
    data.pop("grouping", None)
    used = {c["calendar"] for c in data["classes"].values()}
    data["calendars"] = {n: c for n, c in data["calendars"].items() if n in used}
    for calendar in data["calendars"].values():
        calendar.pop("resolved_holidays", None)
        calendar.pop("closed_dates", None)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def snapshot_key(policy: Policy) -> str:
    """The key a ticket's record writes name its whole policy snapshot by: every byte of it,
    resolved holidays included (two tickets on the same terms may hold different years)."""
    return hashlib.sha256(policy.model_dump_json().encode()).hexdigest()[:32]


def verdict(status: TargetStatus) -> str:
    if status.state is TargetState.NONE:
        return NO_TARGET
    if status.state is TargetState.MET:
        return MET
    if status.state is TargetState.BREACHED:
        return BREACHED
    return PENDING


def _intervals(
    history: list[HistoryEntry], start: str, ends: set[str], until: datetime
) -> list[tuple[datetime, datetime]]:
    spans: list[tuple[datetime, datetime]] = []
    opened: datetime | None = None
    for entry in history:
        if entry.event == start and opened is None:
            opened = entry.at
        elif entry.event in ends and opened is not None:
            spans.append((opened, entry.at))
            opened = None
    if opened is not None:
        spans.append((opened, max(opened, until)))
    return spans


def _business(
    clock: BusinessClock, spans: list[tuple[datetime, datetime]], until: datetime
) -> float:
    total = timedelta(0)
    for start, end in spans:
        if start < until:
            total += clock.elapsed(start, min(end, until))
    return total.total_seconds()


def _resolved_at(status: TicketStatus) -> datetime | None:
    if status.phase not in (TicketPhase.RESOLVED, TicketPhase.CLOSED):
        return None
    resolved: datetime | None = None
    for entry in status.history:
        if entry.event == "resolved":
            resolved = entry.at
        elif entry.event == "reopened":
            resolved = None
    return resolved


def _first(status: TicketStatus, *events: str) -> datetime | None:
    return next((e.at for e in status.history if e.event in events), None)


def _version(status: TicketStatus) -> int:
    """Grows with every change the status can show: a newer picture has a higher number."""
    outcomes = sum(1 for s in status.sent if s.outcome is not None)
    levels = sum(b.level for b in status.breaches)
    finished = sum(1 for b in status.breaches if b.outcome != BreachOutcome.ESCALATING)
    return (
        len(status.history)
        + len(status.sent)
        + len(status.acknowledgements)
        + outcomes
        + (levels + finished)
    )


def build_record(status: TicketStatus, policy: Policy) -> TicketRecord:
    """Every row of one ticket's record, from its status and its policy snapshot."""
    tenant, ticket_id = status.tenant, status.ticket_id
    history = status.history
    latest = max([status.opened_at, *(e.at for e in history), *(s.at for s in status.sent)])
    clock = clock_for(policy.calendar_for(status.severity))
    opened = status.opened_at
    responded = status.response.met_at or _first(status, "first_response", "resolved")
    resolved = status.resolution.met_at or _resolved_at(status)
    waits = _intervals(history, "waiting_on_customer", _WAIT_ENDS, latest)
    gaps = _intervals(history, "resolved", {"reopened"}, latest)
    reclassified = [e for e in history if e.event == "reclassified"]
    opened_class = reclassified[0].detail.split(" -> ")[0] if reclassified else status.severity

    ticket = TicketRow(
        tenant=tenant,
        ticket_id=ticket_id,
        workflow_id=status.workflow_id,
        category=status.category,
        sla_class=status.severity,
        opened_class=opened_class,
        phase=status.phase.value,
        policy_tenant=policy.tenant,
        policy_hash=policy_hash(policy),
        policy_effective=policy.effective,
        opened_at=opened,
        first_response_at=responded,
        resolved_at=resolved,
        closed_at=_first(status, "closed"),
        response_verdict=verdict(status.response),
        resolution_verdict=verdict(status.resolution),
        paused_business_s=_business(clock, waits, latest),
        paused_wall_s=sum((min(e, latest) - s).total_seconds() for s, e in waits),
        reclassifications=len(reclassified),
        version=_version(status),
    )
    response_target = policy.target(status.severity, TargetKind.RESPONSE.value)
    if response_target is not None:
        ticket.response_target_s = response_target.total_seconds()
        ticket.response_due = clock.deadline(opened, response_target)
    if responded is not None:
        ticket.response_business_s = clock.elapsed(opened, responded).total_seconds()
        ticket.response_wall_s = (responded - opened).total_seconds()
    resolution_target = policy.target(status.severity, TargetKind.RESOLUTION.value)
    # The resolution clock stands still while waiting on the customer and between a
    # resolution and its reopening.
    stood = waits + [g for g in gaps if resolved is None or g[0] < resolved]
    if resolution_target is not None:
        until = resolved if resolved is not None else latest
        paused = timedelta(seconds=_business(clock, stood, until))
        ticket.resolution_target_s = resolution_target.total_seconds()
        ticket.resolution_due = status.resolution.due or clock.deadline(
            opened, resolution_target + paused
        )
    if resolved is not None:
        used = clock.elapsed(opened, resolved).total_seconds() - _business(clock, stood, resolved)
        ticket.resolution_business_s = used
        ticket.resolution_wall_s = (resolved - opened).total_seconds()

    return TicketRecord(
        ticket=ticket,
        events=_events(status),
        breaches=_breaches(status, policy, stood),
        pages=_pages(status),
    )


def _events(status: TicketStatus) -> list[EventRow]:
    seen: Counter[tuple[str, datetime]] = Counter()
    rows = []
    entries = [(e.event, e.at, e.detail) for e in status.history]
    # Warning emails are in the pages list, not the timeline: they are milestones too.
    for sent in status.sent:
        if sent.breach_id.startswith(_WARNING_PREFIX):
            what = sent.breach_id.removeprefix(_WARNING_PREFIX).replace("-", " ") + "%"
            entries.append(("warned", sent.at, what))
    for event, at, detail in entries:
        rows.append(
            EventRow(
                tenant=status.tenant,
                ticket_id=status.ticket_id,
                event=event,
                at=at,
                n=seen[(event, at)],
                detail=detail[:1000],
            )
        )
        seen[(event, at)] += 1
    return rows


def _breaches(
    status: TicketStatus, policy: Policy, stood: list[tuple[datetime, datetime]]
) -> list[BreachRow]:
    rows = []
    for breach in status.breaches:
        same_kind = [b for b in status.breaches if b.kind is breach.kind]
        standing = (
            status.response if breach.kind is TargetKind.RESPONSE else status.resolution
        ).breached_at
        # A later breach of the same kind exists only after the earlier one was withdrawn; the
        # last one stands while the workflow still holds the target breached at its instant.
        withdrawn = breach is not same_kind[-1] or standing != breach.at
        # A ticket under patch event-times marks the breach itself (and when).
        withdrawn_at = breach.withdrawn_at
        if withdrawn and withdrawn_at is None:
            withdrawn_at = next(
                (
                    e.at
                    for e in status.history
                    if e.at >= breach.at and e.event in ("reclassified", "first_response")
                ),
                None,
            )
        target = policy.target(breach.severity, breach.kind.value)
        due = None
        if target is not None:
            clock = clock_for(policy.calendar_for(breach.severity))
            if breach.kind is TargetKind.RESOLUTION:
                target += timedelta(seconds=_business(clock, stood, breach.at))
            due = clock.deadline(status.opened_at, target)
        ack = next((a for a in status.acknowledgements if a.breach_id == breach.breach_id), None)
        rows.append(
            BreachRow(
                tenant=status.tenant,
                ticket_id=status.ticket_id,
                breach_id=breach.breach_id,
                kind=breach.kind,
                sla_class=breach.severity,
                target_s=None if target is None else target.total_seconds(),
                due=due,
                breached_at=breach.at,
                withdrawn=withdrawn,
                withdrawn_at=withdrawn_at,
                outcome=breach.outcome,
                level=breach.level,
                acknowledged_at=ack.at if ack else None,
                acknowledged_by=ack.responder if ack else None,
                ack_channel=ack.channel if ack else None,
                version=_version(status),
            )
        )
    return rows


def _pages(status: TicketStatus) -> list[PageRow]:
    acks = {a.breach_id: a for a in reversed(status.acknowledgements)}
    rows = []
    for sent in status.sent:
        if sent.breach_id.startswith(_WARNING_PREFIX):
            continue
        ack = acks.get(sent.breach_id)
        rows.append(
            PageRow(
                tenant=status.tenant,
                ticket_id=status.ticket_id,
                key=sent.key,
                sent_at=sent.at,
                breach_id=sent.breach_id,
                channel=sent.channel.value,
                recipient=sent.recipient,
                ok=sent.ok,
                failure=sent.failure,
                outcome=sent.outcome,
                acknowledged_at=ack.at if ack else None,
                acknowledged_by=ack.responder if ack else None,
                version=_version(status),
            )
        )
    return rows
