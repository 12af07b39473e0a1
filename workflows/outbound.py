"""A ticket's outbound events: SLA webhooks, help-desk write-back and customer notices.

The ticket calls `Outbox.observe` once per evaluation. It compares the state with what it
already queued (`OutboundState.seen`) and appends the new events to one queue per
destination, kept in the ticket's state so continue-as-new carries what is not yet delivered.
One coroutine per destination delivers its queue in order, an activity per event with
unbounded retries; nothing in the clock loop or the escalations ever awaits it, so a receiver
that is down delays no deadline and no page. A ticket without an outbound plan never gets
here: no command, no task, no activity (docs/helpdesk.md, "Outbound").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.outbound import OutboundActivities
    from slawatch.models import HistoryEntry, TargetKind, TicketState
    from slawatch.outbound import (
        DeliveryInput,
        DeliveryResult,
        Destination,
        OutboundEvent,
        OutboundPlan,
        OutboundState,
        event_id,
    )
    from slawatch.settings import outbound_queue_for
    from workflows import sla
    from workflows.versions import patched

# Patch: tickets with an outbound plan queue and deliver outbound events.
OUTBOUND_WEBHOOKS = "outbound-webhooks"
# By method reference, so the type checker sees the input; the activity type names are the
# ones older histories hold.
ACTIVITIES: dict[str, Callable[[OutboundActivities, DeliveryInput], Awaitable[DeliveryResult]]] = {
    "webhook": OutboundActivities.deliver_webhook,
    "zendesk": OutboundActivities.write_back,
    "jira": OutboundActivities.write_back,
    "customer": OutboundActivities.send_customer_notice,
}


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def sla_summary(s: TicketState, now: datetime) -> dict[str, Any]:
    """The ticket's SLA at an instant, as every event carries it (no people, no pages)."""
    out: dict[str, Any] = {
        "state": sla.overall_state(s, now),
        "class": s.severity,
        "phase": s.phase.value,
    }
    for kind in TargetKind:
        st = sla.target_status(s, kind, now)
        out[kind.value] = {
            "state": st.state.value,
            "due": _iso(st.due),
            "met_at": _iso(st.met_at),
            "breached_at": _iso(st.breached_at),
        }
    return out


def new_events(
    s: TicketState, box: OutboundState, now: datetime
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(key, type, data) of what happened since the last look, in the order it happened."""
    seen = set(box.seen)
    for kind, percent in s.warned.items():
        key = f"at_risk/{kind.value}/{percent}"
        if key not in seen:
            yield key, "sla.at_risk", {"target": kind.value, "percent": percent}
    for b in s.breaches:
        data = {"target": b.kind.value, "breach_id": b.breach_id, "at": _iso(b.at)}
        if f"breached/{b.breach_id}" not in seen:
            yield f"breached/{b.breach_id}", "sla.breached", {**data, "class": b.severity}
    for i, ack in enumerate(s.acknowledgements):
        if f"ack/{i}" not in seen:
            data = {"breach_id": ack.breach_id, "by": ack.responder, "channel": ack.channel}
            yield f"ack/{i}", "sla.acknowledged", {**data, "at": _iso(ack.at)}
    for b in s.breaches:
        # A breach stands while its target's breached_at is its own instant: reclassified to a
        # longer target (or a late first response) takes it away.
        gone = s.breached_at.get(b.kind) != b.at or b.outcome == "withdrawn"
        key = f"withdrawn/{b.breach_id}"
        if gone and f"breached/{b.breach_id}" in seen and key not in seen:
            yield key, "sla.withdrawn", {"target": b.kind.value, "breach_id": b.breach_id}
    for kind in TargetKind:
        met = sla.met_at(s, kind)
        if met is None or sla.target(s, kind) is None or sla.is_breached(s, kind, now):
            continue
        key = f"met/{kind.value}/{met.isoformat()}"
        if key not in seen:
            yield key, "sla.met", {"target": kind.value, "at": _iso(met)}


class Outbox:
    """The ticket's outbound queues and their delivery coroutines."""

    def __init__(self, plan: OutboundPlan | None, ticket_id: str, revision: int) -> None:
        self.plan = plan
        self.revision = revision
        self.ticket_id = ticket_id
        self.running: dict[str, asyncio.Task[None]] = {}
        self.s: TicketState | None = None

    def drained(self) -> bool:
        box = self.s.outbound if self.s is not None else None
        return box is None or not any(box.pending.values())

    def observe(self, s: TicketState, now: datetime) -> None:
        """Queue what happened since the last call and start delivering it."""
        if self.plan is None or not patched(OUTBOUND_WEBHOOKS, self.revision):
            return
        self.s = s
        box = s.outbound = s.outbound or OutboundState()
        wf_id = workflow.info().workflow_id
        summary = sla_summary(s, now)
        found = list(new_events(s, box, now)) + list(self._notices(s, box, now))
        for key, type_, data in found:
            box.seen.append(key)
            payload = data if type_.startswith("notice.") else {**data, "sla": summary}
            event = OutboundEvent(id=event_id(wf_id, key), type=type_, created_at=now, data=payload)
            for dest in self.plan.destinations:
                if type_ in dest.events:
                    box.pending.setdefault(dest.name, []).append(event)
        for name, queue in box.pending.items():
            task = self.running.get(name)
            if queue and (task is None or task.done()):
                self.running[name] = asyncio.create_task(self._deliver(name))

    def _notices(
        self, s: TicketState, box: OutboundState, now: datetime
    ) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """The customer's receipt, and a notice when the class changes (nothing internal)."""
        assert self.plan is not None
        if not any(d.kind == "customer" for d in self.plan.destinations):
            return
        due = _iso(sla.due(s, TargetKind.RESPONSE, now))
        if box.noticed_class is None:
            box.noticed_class = s.severity
            yield "notice/receipt", "notice.receipt", {"class": s.severity, "response_due": due}
        elif box.noticed_class != s.severity:
            old, box.noticed_class = box.noticed_class, s.severity
            data = {"class": s.severity, "previous_class": old, "response_due": due}
            yield f"notice/reclassified/{now.isoformat()}", "notice.reclassified", data

    def _destination(self, name: str) -> Destination:
        assert self.plan is not None
        return next(d for d in self.plan.destinations if d.name == name)

    async def _deliver(self, name: str) -> None:
        """Deliver one destination's queue in order; each event retries until it goes."""
        assert self.s is not None and self.s.outbound is not None and self.plan is not None
        s, box, plan = self.s, self.s.outbound, self.plan
        dest = self._destination(name)
        while box.pending.get(name):
            event = box.pending[name][0]
            try:
                await workflow.execute_activity_method(
                    ACTIVITIES[dest.kind],
                    DeliveryInput(
                        tenant=s.policy.tenant,
                        ticket_id=self.ticket_id,
                        destination=dest,
                        event=event,
                    ),
                    task_queue=outbound_queue_for(workflow.info().task_queue),
                    start_to_close_timeout=timedelta(seconds=30),
                    schedule_to_close_timeout=timedelta(hours=plan.give_up_after_hours),
                    retry_policy=RetryPolicy(
                        initial_interval=timedelta(seconds=1),
                        backoff_coefficient=2.0,
                        maximum_interval=timedelta(seconds=plan.max_backoff_seconds),
                        maximum_attempts=0,
                    ),
                    summary=f"{event.type} to {name}",
                )
            except ActivityError as err:
                # Given up (the schedule-to-close passed, or a permanent refusal): the
                # timeline says so, and the queue goes on.
                why = str(err.cause or err)[:200]
                detail = f"{name}: {event.type} {event.id}: {why}"
                s.history.append(
                    HistoryEntry(at=workflow.now(), event="outbound_failed", detail=detail)
                )
            box.pending[name].pop(0)
        box.pending.pop(name, None)
