"""The ticket's events: updates with validators that answer with the new SLA status."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from slawatch.models import (
        AcknowledgeInput,
        Acknowledgement,
        Breach,
        CloseInput,
        DeliveryStatusInput,
        EscalationProgress,
        EscalationResult,
        FirstResponseInput,
        Interval,
        PauseInput,
        ReclassifyInput,
        ReopenInput,
        ResolveInput,
        ResumeInput,
        TicketPhase,
        TicketStatus,
    )
    from slawatch.paging import phone_pages
    from slawatch.telemetry import record_acknowledgement
    from workflows.escalation import EscalationWorkflow
    from workflows.ticket_base import TicketBase, _invalid


class TicketEvents(TicketBase):
    """Intake events, acknowledgements and escalation reports."""

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

    @workflow.update
    async def acknowledge(self, input: AcknowledgeInput) -> TicketStatus:
        await self._ready()
        self._v_acknowledge(input)  # validators pass everything while starting
        s, now = self.state, workflow.now()
        targets = self._ackable(input)
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
        self._ackable(input)

    def _ackable(self, input: AcknowledgeInput) -> list[Breach]:
        targets = self._open_breaches(input.breach_id)
        if input.phone is None:
            return targets  # the API: the caller's token was checked for the tenant
        # A phone is not a credential: only breaches paged to this number before the reply
        # arrived (with its one-time code, when one is given) are this reply's to stop.
        pages = phone_pages(self.state.sent, input.phone, input.received_at, input.code)
        paged = {n.breach_id for n in pages}
        mine = [b for b in targets if b.breach_id in paged]
        if not mine:
            raise ApplicationError(
                "this number was not paged for that breach before the acknowledgement arrived",
                type="NotPaged",
                non_retryable=True,
            )
        return mine

    def _open_breaches(self, breach_id: str | None) -> list[Breach]:
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

    @workflow.signal
    def escalation_progress(self, input: EscalationProgress) -> None:
        s = self.state
        s.sent.extend(input.sent)
        if input.failing is not None:
            was = input.breach_id in s.delivery_failing
            if input.failing:
                s.delivery_failing[input.breach_id] = "; ".join(input.failing)
                if not was:
                    self._note(s, "delivery_failing", f"{input.breach_id}: {input.failing[0]}")
            elif was:
                del s.delivery_failing[input.breach_id]
                self._note(s, "delivery_restored", input.breach_id)
        for breach in s.breaches:
            if breach.breach_id == input.breach_id:
                breach.level = input.level
        self.dirty = True

    @workflow.signal
    def escalation_finished(self, input: EscalationResult) -> None:
        self.state.delivery_failing.pop(input.breach_id, None)
        for breach in self.state.breaches:
            if breach.breach_id == input.breach_id and breach.outcome == "escalating":
                breach.outcome = input.outcome
        self._note(self.state, "escalation_finished", f"{input.breach_id}: {input.outcome}")
        self.dirty = True

    @workflow.signal
    async def delivery_status(self, input: DeliveryStatusInput) -> None:
        """A Twilio status callback: recorded on the page, forwarded to its escalation."""
        # The last record of the key: a page retried after an account failure is there twice.
        for sent in reversed(self.state.sent):
            if sent.key == input.idempotency_key:
                sent.outcome = input.status
                for breach in self.state.breaches:
                    if breach.breach_id == sent.breach_id and breach.outcome == "escalating":
                        handle = workflow.get_external_workflow_handle(
                            breach.escalation_workflow_id
                        )
                        await handle.signal(EscalationWorkflow.delivery_status, input)
                return

    # -- reading ------------------------------------------------------------------------------
