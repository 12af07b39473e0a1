"""TicketSlaWorkflow: one support ticket's SLA clocks, events and breaches, durably."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.policy import PolicyActivities
    from slawatch.models import (
        AcknowledgeInput,
        Acknowledgement,
        Breach,
        CloseInput,
        DeliveryStatusInput,
        EscalationInput,
        EscalationProgress,
        EscalationResult,
        FirstResponseInput,
        HistoryEntry,
        Interval,
        PauseInput,
        PolicySnapshotInput,
        ReclassifyInput,
        ReopenInput,
        ResolveInput,
        ResumeInput,
        StopEscalationInput,
        TargetKind,
        TicketPhase,
        TicketState,
        TicketStatus,
        TicketWorkflowInput,
    )
    from slawatch.telemetry import record_acknowledgement, record_breach
    from workflows import notices, sla
    from workflows.escalation import EscalationWorkflow
    from workflows.search import upsert_search_attributes
    from workflows.timers import wait_until

# A resolved ticket that nobody reopens or closes is closed after this long (real time).
AUTO_CLOSE_AFTER = timedelta(days=30)


def _invalid(message: str) -> ApplicationError:
    return ApplicationError(message, type="InvalidTransition", non_retryable=True)


@workflow.defn
class TicketSlaWorkflow:
    """Runs a ticket's response and resolution clocks and escalates each breach."""

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
        policy = await workflow.execute_local_activity_method(
            PolicyActivities.snapshot_policy,
            PolicySnapshotInput(tenant=ticket.tenant, opened_at=opened_at),
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
                await notices.send_warning(s, self.input_ticket_id, kind, percent, now)

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

    async def _stop_escalations(self, breaches: list[Breach], reason: str, **who: str) -> None:
        for breach in breaches:
            breach.outcome = "acknowledged" if reason == "acknowledged" else "stopped"
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

    @workflow.update
    async def first_response(self, input: FirstResponseInput) -> TicketStatus:
        await self._ready()
        self._v_first_response(input)  # validators pass everything while starting
        s = self.state
        s.responded_at = min(input.at or workflow.now(), workflow.now())
        return await self._changed("first_response", input.by or "")

    @first_response.validator
    def _v_first_response(self, input: FirstResponseInput) -> None:
        if self.s is None:
            return
        self._require_open("record a first response")
        if self.state.responded_at is not None:
            raise _invalid("the first response is already recorded")

    @workflow.update
    async def reclassify(self, input: ReclassifyInput) -> TicketStatus:
        await self._ready()
        self._v_reclassify(input)  # validators pass everything while starting
        s = self.state
        old, s.severity = s.severity, input.severity
        return await self._changed("reclassified", f"{old} -> {input.severity}: {input.reason}")

    @reclassify.validator
    def _v_reclassify(self, input: ReclassifyInput) -> None:
        if self.s is None:
            return
        self._require_open("reclassify")
        if input.severity not in self.state.policy.classes:
            known = ", ".join(self.state.policy.classes)
            raise ApplicationError(
                f"severity: unknown class {input.severity!r} (known: {known})",
                type="UnknownClass",
                non_retryable=True,
            )
        if input.severity == self.state.severity:
            raise _invalid(f"the ticket is already class {input.severity}")

    @workflow.update
    async def pause(self, input: PauseInput) -> TicketStatus:
        await self._ready()
        self._v_pause(input)  # validators pass everything while starting
        s = self.state
        s.phase = TicketPhase.WAITING_ON_CUSTOMER
        s.pauses.append(Interval(start=workflow.now()))
        return await self._changed("waiting_on_customer", input.reason or "")

    @pause.validator
    def _v_pause(self, input: PauseInput) -> None:
        if self.s is None:
            return
        if self.state.phase is not TicketPhase.OPEN:
            raise _invalid(f"cannot pause a ticket that is {self.state.phase.value}")

    @workflow.update
    async def resume(self, input: ResumeInput) -> TicketStatus:
        await self._ready()
        self._v_resume(input)  # validators pass everything while starting
        s = self.state
        s.phase = TicketPhase.OPEN
        s.pauses[-1].end = workflow.now()
        return await self._changed("resumed")

    @resume.validator
    def _v_resume(self, input: ResumeInput) -> None:
        if self.s is None:
            return
        if self.state.phase is not TicketPhase.WAITING_ON_CUSTOMER:
            raise _invalid(f"cannot resume a ticket that is {self.state.phase.value}")

    @workflow.update
    async def resolve(self, input: ResolveInput) -> TicketStatus:
        await self._ready()
        self._v_resolve(input)  # validators pass everything while starting
        s, now = self.state, workflow.now()
        if s.phase is TicketPhase.WAITING_ON_CUSTOMER:
            s.pauses[-1].end = now
        s.phase, s.resolved_at = TicketPhase.RESOLVED, now
        # A resolution reaches the customer: it answers the response target too if still open.
        s.responded_at = s.responded_at or now
        # Resolution stops the resolution clock; a reopen resumes it from here.
        s.pauses.append(Interval(start=now))
        return await self._changed("resolved", input.note or "")

    @resolve.validator
    def _v_resolve(self, input: ResolveInput) -> None:
        if self.s is None:
            return
        self._require_open("resolve")

    @workflow.update
    async def reopen(self, input: ReopenInput) -> TicketStatus:
        await self._ready()
        self._v_reopen(input)  # validators pass everything while starting
        s = self.state
        s.phase, s.resolved_at = TicketPhase.OPEN, None
        s.pauses[-1].end = workflow.now()
        return await self._changed("reopened", input.reason or "")

    @reopen.validator
    def _v_reopen(self, input: ReopenInput) -> None:
        if self.s is None:
            return
        if self.state.phase is not TicketPhase.RESOLVED:
            raise _invalid(
                f"only a resolved ticket can be reopened; this one is {self.state.phase.value}"
            )

    @workflow.update
    async def close(self, input: CloseInput) -> TicketStatus:
        await self._ready()
        self._v_close(input)  # validators pass everything while starting
        self._close(workflow.now(), "closed")
        return await self._settle()

    @close.validator
    def _v_close(self, input: CloseInput) -> None:
        if self.s is None:
            return
        if self.state.phase is TicketPhase.CLOSED:
            raise _invalid("the ticket is already closed")

    def _close(self, now: datetime, why: str) -> None:
        s = self.state
        if s.pauses and s.pauses[-1].end is None and s.phase is not TicketPhase.RESOLVED:
            s.pauses[-1].end = now
        s.phase = TicketPhase.CLOSED
        self._note(s, "closed", why)

    @workflow.update
    async def acknowledge(self, input: AcknowledgeInput) -> TicketStatus:
        await self._ready()
        self._v_acknowledge(input)  # validators pass everything while starting
        s, now = self.state, workflow.now()
        targets = self._ackable(input.breach_id)
        for breach in targets:
            s.acknowledgements.append(
                Acknowledgement(
                    breach_id=breach.breach_id,
                    responder=input.responder,
                    channel=input.channel,
                    at=now,
                )
            )
        record_acknowledgement(workflow.metric_meter(), s.policy.tenant, input.channel)
        live = [b for b in targets if b.outcome == "escalating"]
        await self._stop_escalations(
            live, "acknowledged", responder=input.responder, channel=input.channel
        )
        ids = ", ".join(b.breach_id for b in targets)
        return await self._changed(
            "acknowledged", f"{ids} by {input.responder} via {input.channel}"
        )

    @acknowledge.validator
    def _v_acknowledge(self, input: AcknowledgeInput) -> None:
        if self.s is None:
            return
        self._ackable(input.breach_id)

    def _ackable(self, breach_id: str | None) -> list[Breach]:
        breaches = self.state.breaches
        if breach_id is not None:
            found = [b for b in breaches if b.breach_id == breach_id]
            if not found:
                raise ApplicationError(
                    f"breach_id: no breach {breach_id!r}", type="UnknownBreach", non_retryable=True
                )
            if found[0].outcome == "acknowledged":
                raise _invalid(f"breach {breach_id} is already acknowledged")
            return found
        live = [b for b in breaches if b.outcome in ("escalating", "exhausted")]
        if not live:
            raise _invalid("nothing to acknowledge: no breach is escalating")
        return live

    def _require_open(self, what: str) -> None:
        phase = self.state.phase
        if phase in (TicketPhase.RESOLVED, TicketPhase.CLOSED):
            raise _invalid(f"cannot {what}: the ticket is {phase.value}")

    # -- escalation reports and Twilio callbacks ----------------------------------------------

    @workflow.signal
    def escalation_progress(self, input: EscalationProgress) -> None:
        s = self.state
        s.sent.extend(input.sent)
        for breach in s.breaches:
            if breach.breach_id == input.breach_id:
                breach.level = input.level
        self.dirty = True

    @workflow.signal
    def escalation_finished(self, input: EscalationResult) -> None:
        for breach in self.state.breaches:
            if breach.breach_id == input.breach_id and breach.outcome == "escalating":
                breach.outcome = input.outcome
        self._note(self.state, "escalation_finished", f"{input.breach_id}: {input.outcome}")
        self.dirty = True

    @workflow.signal
    async def delivery_status(self, input: DeliveryStatusInput) -> None:
        """A Twilio status callback: forwarded to the escalation that sent the notification."""
        for sent in self.state.sent:
            if sent.key == input.idempotency_key:
                for breach in self.state.breaches:
                    if breach.breach_id == sent.breach_id and breach.outcome == "escalating":
                        handle = workflow.get_external_workflow_handle(
                            breach.escalation_workflow_id
                        )
                        await handle.signal(EscalationWorkflow.delivery_status, input)
                return

    # -- reading ------------------------------------------------------------------------------

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
        )
