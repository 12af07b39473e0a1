"""TicketSlaWorkflow: one support ticket's SLA clocks, events and breaches, durably."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.policy import PolicyActivities
    from slawatch.models import (
        Breach,
        EscalationInput,
        PolicySnapshotInput,
        TargetKind,
        TicketPhase,
        TicketState,
        TicketStatus,
        TicketWorkflowInput,
    )
    from slawatch.telemetry import record_breach
    from workflows import notices, sla
    from workflows.escalation import EscalationWorkflow
    from workflows.search import upsert_search_attributes
    from workflows.ticket_events import TicketEvents
    from workflows.timers import wait_until

# A resolved ticket that nobody reopens or closes is closed after this long (real time).
AUTO_CLOSE_AFTER = timedelta(days=30)
# Patch: warning emails run beside the clock instead of holding it until SendGrid answers.
WARNINGS_BESIDE_CLOCK = "warning-emails-beside-clock"
# Patch: the policy snapshot is a regular activity, not a local one (replay-stable time).
SNAPSHOT_BY_ACTIVITY = "policy-snapshot-by-activity"


@workflow.defn
class TicketSlaWorkflow(TicketEvents):
    """Runs a ticket's response and resolution clocks and escalates each breach."""

    def __init__(self) -> None:
        super().__init__()
        self.warnings: list[asyncio.Task[None]] = []

    @workflow.run
    async def run(self, input: TicketWorkflowInput) -> TicketStatus:
        self.input = input
        self.s = input.state if input.state is not None else await self._start(input)
        while True:
            await self._evaluate()
            if self.state.phase is TicketPhase.CLOSED:
                break
            if self._should_continue_as_new():
                # Let the event that tipped it over complete in its own task first: an update
                # answered in the same task as the continue-as-new can be lost by the server.
                await wait_until(lambda: False, timedelta(seconds=1), "continue-as-new")
                await workflow.wait_condition(workflow.all_handlers_finished)
                # A warning email still retrying would be lost with this run.
                await workflow.wait_condition(lambda: all(t.done() for t in self.warnings))
                # Keeping every bit of state, including the policy snapshot: never re-read.
                workflow.continue_as_new(input.model_copy(update={"state": self.s}))
            wake, why = self._next_wake()
            self.dirty = False
            timeout = max(wake - workflow.now(), timedelta(seconds=1)) if wake else None
            await wait_until(lambda: self.dirty, timeout, why)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._status()

    async def _start(self, input: TicketWorkflowInput) -> TicketState:
        ticket = input.ticket
        opened_at = ticket.opened_at or workflow.now()
        # The policy is read once, by an activity, so its snapshot is in history for good.
        snapshot_input = PolicySnapshotInput(tenant=ticket.tenant, opened_at=opened_at)
        if workflow.patched(SNAPSHOT_BY_ACTIVITY):
            # A regular activity: its result opens a new workflow task whose time is in
            # history. After a local activity workflow.now() differed on replay (a restarted
            # worker rebuilt the "opened" entry 26 ms earlier than the first run recorded it).
            policy = await workflow.execute_activity_method(
                PolicyActivities.snapshot_policy,
                snapshot_input,
                start_to_close_timeout=timedelta(seconds=30),
                summary=f"snapshot policy {ticket.tenant}",
            )
        else:
            policy = await workflow.execute_local_activity_method(
                PolicyActivities.snapshot_policy,
                snapshot_input,
                start_to_close_timeout=timedelta(seconds=30),
            )
        state = TicketState(policy=policy, severity=policy.default_class, opened_at=opened_at)
        try:
            state.severity = policy.class_for(ticket.severity, ticket.category)
        except KeyError:
            # A clock must run whatever intake sent: fall back to the default and say so.
            self._note(state, "unknown_class", f"{ticket.severity!r}; using {state.severity}")
        self._note(state, "opened", f"class {state.severity}")
        return state

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        assert self.input is not None
        limit = self.input.continue_as_new_after
        return info.is_continue_as_new_suggested() or info.get_current_history_length() > limit

    def _next_wake(self) -> tuple[datetime | None, str]:
        """The earliest instant something is due: a warning, a deadline, or the auto-close."""
        s, now = self.state, workflow.now()
        candidates: list[tuple[datetime, str]] = []
        if s.phase is TicketPhase.RESOLVED and s.resolved_at is not None:
            candidates.append((s.resolved_at + AUTO_CLOSE_AFTER, "auto-close resolved ticket"))
        for kind in TargetKind:
            if sla.met_at(s, kind) is not None or kind in s.breached_at:
                continue
            warning = sla.warning_due(s, kind, now)
            if warning is not None:
                candidates.append((warning[1], f"{kind.value} warning at {warning[0]}%"))
            deadline = sla.due(s, kind, now)
            if deadline is not None:
                candidates.append((deadline, f"{kind.value} due ({s.severity})"))
        if not candidates:
            return None, "waiting for ticket events"
        return min(candidates)

    async def _evaluate(self) -> None:
        """Send what is due, start or stop escalations, and publish state to the UI."""
        s, now = self.state, workflow.now()
        for kind in TargetKind:
            await self._evaluate_target(kind, now)
        auto_close = s.resolved_at is not None and now >= s.resolved_at + AUTO_CLOSE_AFTER
        if s.phase is TicketPhase.RESOLVED and auto_close:
            self._close(now, "auto-closed after resolution")
        self.evaluations += 1
        upsert_search_attributes(s, now)
        workflow.set_current_details(notices.summary_line(self.input_ticket_id, s, now))

    async def _evaluate_target(self, kind: TargetKind, now: datetime) -> None:
        s = self.state
        live = [b for b in s.breaches if b.kind is kind and b.outcome == "escalating"]
        if s.phase is TicketPhase.CLOSED:
            await self._stop_escalations(live, "closed")
        elif kind in s.breached_at and not sla.is_breached(s, kind, now):
            # Reclassified to a longer target: the breach no longer stands.
            del s.breached_at[kind]
            await self._stop_escalations(live, "reclassified")
        elif sla.met_at(s, kind) is not None:
            await self._stop_escalations(live, "met")
        elif kind not in s.breached_at and sla.is_breached(s, kind, now):
            await self._breach(kind, now)
        else:
            percent = sla.warning_crossed(s, kind, now)
            if percent is not None:
                s.warned[kind] = percent
                await self._warn(kind, percent, now)

    async def _warn(self, kind: TargetKind, percent: int, now: datetime) -> None:
        # A copy: the email names the class the warning was for, whatever happens meanwhile.
        sending = notices.send_warning(
            self.state.model_copy(), self.input_ticket_id, kind, percent, now
        )
        if workflow.patched(WARNINGS_BESIDE_CLOCK):
            # Beside the clock, not in its way: with SendGrid down the email retries for
            # minutes, and the breach and its pages must not wait behind it.
            self.warnings.append(asyncio.create_task(sending))
        else:
            await sending

    async def _breach(self, kind: TargetKind, now: datetime) -> None:
        s = self.state
        s.breached_at[kind] = now
        breach_id = f"{kind.value}-{sum(1 for b in s.breaches if b.kind is kind) + 1}"
        wf_id = workflow.info().workflow_id
        child_id = f"{wf_id}-escalation-{breach_id}"
        s.breaches.append(
            Breach(
                breach_id=breach_id,
                kind=kind,
                at=now,
                severity=s.severity,
                escalation_workflow_id=child_id,
            )
        )
        self._note(s, "breached", f"{kind.value} target of class {s.severity} ({breach_id})")
        # The workflow meter skips replays, so each breach is counted once.
        record_breach(workflow.metric_meter(), s.policy.tenant, s.severity, kind.value)
        await workflow.start_child_workflow(
            EscalationWorkflow.run,
            EscalationInput(
                tenant=s.policy.tenant,
                ticket_id=self.input_ticket_id,
                ticket_workflow_id=wf_id,
                breach_id=breach_id,
                kind=kind,
                severity=s.severity,
                policy=s.policy,
                breached_at=now,
            ),
            id=child_id,
            # Escalations outlive a continue-as-new of the ticket; they report back by signal.
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            static_summary=(
                f"{s.policy.tenant} {self.input_ticket_id}: {kind.value} breach, class {s.severity}"
            ),
        )
