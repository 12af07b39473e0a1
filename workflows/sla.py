"""Pure SLA arithmetic over a ticket's state: deadlines, warnings and target states at an instant.

Deterministic (no I/O, no clock reads): the workflow passes `workflow.now()` in, tests pass any
instant. Every deadline is recomputed from the opening time, so reclassification and pauses
never accumulate rounding or drift.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from policies.clock import BusinessClock, clock_for
from slawatch.models import (
    TargetKind,
    TargetState,
    TargetStatus,
    TicketPhase,
    TicketState,
)


def clock(state: TicketState) -> BusinessClock:
    return clock_for(state.policy.calendar_for(state.severity))


def target(state: TicketState, kind: TargetKind) -> timedelta | None:
    return state.policy.target(state.severity, kind.value)


def paused_business_time(state: TicketState, until: datetime) -> timedelta:
    """Business time (on the class calendar) the resolution clock stood still before `until`."""
    c = clock(state)
    total = timedelta(0)
    for interval in state.pauses:
        end = interval.end if interval.end is not None else until
        total += c.elapsed(interval.start, min(end, until))
    return total


def is_paused(state: TicketState) -> bool:
    return bool(state.pauses) and state.pauses[-1].end is None


def consumed(state: TicketState, kind: TargetKind, at: datetime) -> timedelta:
    """Business time counted against a target at instant `at`."""
    elapsed = clock(state).elapsed(state.opened_at, at)
    if kind is TargetKind.RESOLUTION:
        elapsed -= paused_business_time(state, at)
    return elapsed


def due(
    state: TicketState, kind: TargetKind, now: datetime, fraction: float = 1.0
) -> datetime | None:
    """When `fraction` of the target will have been consumed; None if no target or paused."""
    total = target(state, kind)
    if total is None:
        return None
    if kind is TargetKind.RESOLUTION and is_paused(state):
        return None
    amount = timedelta(seconds=round(total.total_seconds() * fraction))
    if kind is TargetKind.RESOLUTION:
        amount += paused_business_time(state, now)
    return clock(state).deadline(state.opened_at, amount)


def met_at(state: TicketState, kind: TargetKind) -> datetime | None:
    if kind is TargetKind.RESPONSE:
        return state.responded_at
    return state.resolved_at if state.phase in (TicketPhase.RESOLVED, TicketPhase.CLOSED) else None


def is_breached(state: TicketState, kind: TargetKind, now: datetime) -> bool:
    """Past due now, or met late. A target met exactly at its deadline is met."""
    total = target(state, kind)
    if total is None:
        return False
    stopped = met_at(state, kind)
    if stopped is not None:
        return consumed(state, kind, stopped) > total
    # A ticket closed (at an instant its help desk reported) stops both clocks there.
    end = now if state.closed_at is None else min(now, state.closed_at)
    return consumed(state, kind, end) >= total


def warning_due(state: TicketState, kind: TargetKind, now: datetime) -> tuple[int, datetime] | None:
    """The next warning threshold (percent) not yet sent for a live target, and when it falls."""
    if met_at(state, kind) is not None or kind in state.breached_at:
        return None
    sent = state.warned.get(kind, 0)
    for pct in state.policy.warnings.at_percent:
        if pct > sent:
            at = due(state, kind, now, pct / 100)
            if at is not None:
                return pct, at
    return None


def warning_crossed(state: TicketState, kind: TargetKind, now: datetime) -> int | None:
    """The highest warning threshold passed but not yet sent (one email, not a burst)."""
    if met_at(state, kind) is not None or kind in state.breached_at:
        return None
    sent = state.warned.get(kind, 0)
    crossed = None
    for pct in state.policy.warnings.at_percent:
        at = due(state, kind, now, pct / 100)
        if pct > sent and at is not None and at <= now:
            crossed = pct
    return crossed


def target_status(state: TicketState, kind: TargetKind, now: datetime) -> TargetStatus:
    total = target(state, kind)
    if total is None:
        return TargetStatus(kind=kind, state=TargetState.NONE)
    stopped = met_at(state, kind)
    used = consumed(state, kind, stopped if stopped is not None else now)
    left = max(total - used, timedelta(0))
    status = TargetStatus(
        kind=kind,
        state=TargetState.ON_TRACK,
        target=total,
        due=due(state, kind, now),
        business_time_left=left,
        met_at=stopped,
        breached_at=state.breached_at.get(kind),
    )
    if is_breached(state, kind, now):
        status.state = TargetState.BREACHED
    elif stopped is not None:
        status.state = TargetState.MET
    elif kind is TargetKind.RESOLUTION and is_paused(state):
        status.state = TargetState.PAUSED
    elif state.warned.get(kind, 0) > 0:
        status.state = TargetState.AT_RISK
    return status


def overall_state(state: TicketState, now: datetime) -> str:
    """One word for the operator's list: the ticket's worst live condition."""
    if state.phase is TicketPhase.CLOSED:
        return "closed"
    if state.phase is TicketPhase.RESOLVED:
        return "resolved"
    states = {target_status(state, k, now).state for k in TargetKind}
    for word in (TargetState.BREACHED, TargetState.AT_RISK, TargetState.PAUSED):
        if word in states:
            return word.value
    if states <= {TargetState.MET, TargetState.NONE}:
        return TargetState.MET.value
    return TargetState.ON_TRACK.value
