"""The ticket workflow's state and the helpers its events and clock loop share."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from slawatch.models import (
        Breach,
        HistoryEntry,
        StopEscalationInput,
        TargetKind,
        TicketPhase,
        TicketState,
        TicketStatus,
        TicketWorkflowInput,
    )
    from workflows import sla
    from workflows.escalation import EscalationWorkflow


def _invalid(message: str) -> ApplicationError:
    return ApplicationError(message, type="InvalidTransition", non_retryable=True)


class TicketBase:
    """State, status and the event bookkeeping of a ticket (TicketSlaWorkflow)."""

    def __init__(self) -> None:
        self.s: TicketState | None = None
        self.input: TicketWorkflowInput | None = None
        self.dirty = False
        self.evaluations = 0

    @property
    def state(self) -> TicketState:
        assert self.s is not None, "state is read only after _ready()"
        return self.s

    async def _ready(self) -> None:
        """Events that arrive while the ticket starts wait for its policy snapshot."""
        await workflow.wait_condition(lambda: self.s is not None)

    # -- the clock loop -----------------------------------------------------------------------

    async def _stop_escalations(self, breaches: list[Breach], reason: str, **who: str) -> None:
        for breach in breaches:
            breach.outcome = "acknowledged" if reason == "acknowledged" else "stopped"
            # Its pages are no longer wanted: a failing delivery for it is no longer news.
            self.state.delivery_failing.pop(breach.breach_id, None)
            handle = workflow.get_external_workflow_handle(breach.escalation_workflow_id)
            await handle.signal(EscalationWorkflow.stop, StopEscalationInput(reason=reason, **who))

    @property
    def input_ticket_id(self) -> str:
        assert self.input is not None
        return self.input.ticket.ticket_id

    # -- events -------------------------------------------------------------------------------

    def _note(self, s: TicketState, event: str, detail: str = "") -> None:
        s.history.append(HistoryEntry(at=workflow.now(), event=event, detail=detail))

    async def _changed(self, event: str, detail: str = "") -> TicketStatus:
        """Record an event, let the clock loop act on it, and answer with the new status."""
        self._note(self.state, event, detail)
        return await self._settle()

    async def _settle(self) -> TicketStatus:
        seen = self.evaluations
        self.dirty = True
        # The answer includes what the event caused (a breach at once, a stopped ladder).
        await workflow.wait_condition(lambda: self.evaluations > seen)
        return self._status()

    def _close(self, now: datetime, why: str) -> None:
        s = self.state
        if s.pauses and s.pauses[-1].end is None and s.phase is not TicketPhase.RESOLVED:
            s.pauses[-1].end = now
        s.phase = TicketPhase.CLOSED
        self._note(s, "closed", why)

    def _require_open(self, what: str) -> None:
        phase = self.state.phase
        if phase in (TicketPhase.RESOLVED, TicketPhase.CLOSED):
            raise _invalid(f"cannot {what}: the ticket is {phase.value}")

    # -- escalation reports and Twilio callbacks ----------------------------------------------

    @workflow.query
    def status(self) -> TicketStatus:
        if self.s is None:
            raise _invalid("the ticket is still starting; ask again in a moment")
        return self._status()

    def _status(self) -> TicketStatus:
        s, now = self.state, workflow.now()
        assert self.input is not None
        return TicketStatus(
            tenant=s.policy.tenant,
            ticket_id=self.input.ticket.ticket_id,
            workflow_id=workflow.info().workflow_id,
            severity=s.severity,
            category=self.input.ticket.category,
            phase=s.phase,
            opened_at=s.opened_at,
            sla_state=sla.overall_state(s, now),
            response=sla.target_status(s, TargetKind.RESPONSE, now),
            resolution=sla.target_status(s, TargetKind.RESOLUTION, now),
            escalation_level=max(
                (b.level for b in s.breaches if b.outcome == "escalating"), default=0
            ),
            breaches=s.breaches,
            acknowledgements=s.acknowledgements,
            sent=s.sent,
            history=s.history,
            delivery="failing" if s.delivery_failing else "ok",
            delivery_problems=sorted(set(s.delivery_failing.values())),
        )
