"""TicketSlaWorkflow: one support ticket's SLA clocks, events and breaches, durably."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from activities.policy import PolicyActivities
    from policies.clock import clock_for
    from policies.schema import Channel, LadderStep, Policy
    from policies.snapshot import ladder_snapshot
    from slawatch.models import (
        AcknowledgeInput,
        Acknowledgement,
        Breach,
        BreachOutcome,
        CloseInput,
        DeliveryStatusInput,
        EscalationInput,
        EscalationProgress,
        EscalationResult,
        FirstResponseInput,
        FirstStepSent,
        HistoryEntry,
        Interval,
        PauseInput,
        PolicySnapshotInput,
        Recipient,
        ReclassifyInput,
        ReopenInput,
        ResolveInput,
        ResumeInput,
        StopEscalationInput,
        StopReason,
        TargetKind,
        TicketPhase,
        TicketState,
        TicketStatus,
        TicketWorkflowInput,
        WaitingLadder,
    )
    from slawatch.telemetry import record_acknowledgement, record_breach, record_withdrawal
    from workflows import notices, sla
    from workflows.dispatch import FIRST_STEP_LABEL, send_step
    from workflows.escalation import (
        FAILED_DELIVERY,
        PHONE_CHANNELS,
        EscalationWorkflow,
        draw_codes,
        wait_of,
    )
    from workflows.oncall import ONCALL_AT_PAGE_TIME, recipients, resolve, scheduled_roles
    from workflows.outbound import Outbox
    from workflows.records_sink import RecordSink
    from workflows.search import upsert_search_attributes
    from workflows.ticket_rules import (
        ackable,
        check_event_time,
        check_reclassify,
        event_instant,
        invalid,
        opening_state,
        require_open,
        status_of,
        withdrawal_note,
    )
    from workflows.timers import wait_until
    from workflows.versions import patched

# A resolved ticket that nobody reopens or closes is closed after this long (real time).
AUTO_CLOSE_AFTER = timedelta(days=30)
# Patch: warning emails run beside the clock instead of holding it until SendGrid answers.
WARNINGS_BESIDE_CLOCK = "warning-emails-beside-clock"
# Patch: the policy snapshot is a regular activity, not a local one (replay-stable time).
# Only tickets opened without a snapshot in their input (before intake passed one) use either.
SNAPSHOT_BY_ACTIVITY = "policy-snapshot-by-activity"
# Patch: the breach task sends the first step's pages itself instead of leaving them to the
# escalation's first task, so a page costs the floor's timer -> activity.
FIRST_PAGE_FROM_TICKET = "first-page-from-ticket"
# Patch: every event takes the instant it happened (`at`), and an event reported after a
# deadline it would have prevented withdraws that breach (marked, its pages kept) and stops
# its ladder; before, only first_response took `at` and the stop read "reclassified".
EVENT_TIMES = "event-times"
# Patch: an event that arrives while the ticket is about to continue as new is evaluated first;
# before, its update waited for an evaluation that never came, and the run for the update.
EVENTS_BEFORE_CONTINUE = "events-before-continue-as-new"
# Patch: a new ticket opens at the instant the server accepted it (its `opened` entry, and its
# clock when intake gave no `opened_at`); before, at its first task's start, which a task that
# was retried moved later and a loaded worker moved seconds later.
OPENED_AT_ACCEPTANCE = "opened-at-acceptance"
# Patch: when the ticket pages round 1, step 1 itself and the step has no email, the escalation
# starts only if that step's ack window ends unacknowledged (or a page of it fails). Before, it
# started with every breach: a child execution, two tasks and a signal, mostly for a ladder
# that the first acknowledgement stopped.
LADDER_AFTER_FIRST_WINDOW = "ladder-after-first-window"


def first_step_of(policy: Policy, severity: str) -> LadderStep:
    """Round 1, step 1 of the class's ladder: the step the ticket's breach task pages."""
    return policy.ladders[policy.classes[severity].ladder].steps[0]


@workflow.defn
class TicketSlaWorkflow:
    """Runs a ticket's response and resolution clocks and escalates each breach."""

    @workflow.init
    def __init__(self, input: TicketWorkflowInput) -> None:
        self.input = input
        # Intake passes the policy snapshot, so the state exists before any handler or query
        # runs. Only a ticket opened before that (its input has neither) starts without it.
        self.s: TicketState | None = input.state
        opening = False
        if self.s is None and input.policy is not None:
            now = workflow.now()
            if patched(OPENED_AT_ACCEPTANCE, input.revision):
                # The instant the server accepted the ticket, the same in every attempt of
                # this first task (workflow.now() is that attempt's start).
                now, opening = workflow.info().workflow_start_time, True
            self.s = opening_state(input.ticket, input.policy, input.ticket.opened_at or now, now)
        self.dirty = False
        self.evaluations = 0
        # Events (updates) waiting for the clock loop to evaluate what they changed.
        self.settling = 0
        self.warnings: list[asyncio.Task[None]] = []
        # First steps sent by breach tasks, until their escalations have the pages.
        self.first_pages: list[asyncio.Task[None]] = []
        # How many of those are still sending (the record write waits for their pages).
        self.paging = 0
        self.started_children: set[str] = set()
        # Escalations whose start command is out: a signal to one waits until it has started.
        self.starting: set[str] = set()
        # The SLA record, written beside the clock at each milestone (workflows/records_sink.py).
        self.records = RecordSink(
            lambda: self.state, self._status, self._wake, input.revision, opening
        )
        # Webhooks, write-back and customer notices, beside the clock (workflows/outbound.py).
        self.outbox = Outbox(input.outbound, input.ticket.ticket_id, input.revision)

    @property
    def state(self) -> TicketState:
        assert self.s is not None, "a ticket opened without a snapshot is still starting"
        return self.s

    @workflow.run
    async def run(self, input: TicketWorkflowInput) -> TicketStatus:
        if self.s is None:
            self.s = await self._legacy_start(input)
        while True:
            await self._evaluate()
            if self.state.phase is TicketPhase.CLOSED:
                break
            if self._should_continue_as_new():
                # Let the event that tipped it over complete in its own task first: an update
                # answered in the same task as the continue-as-new can be lost by the server.
                await wait_until(lambda: False, timedelta(seconds=1), "continue-as-new")
                if self._patched(EVENTS_BEFORE_CONTINUE):
                    # An event (update) that comes now waits for an evaluation, so the run must
                    # not wait for it to finish: evaluate it, then try again. (A signal waits for
                    # nothing: the next run evaluates what it changed.) Sends still going (a
                    # retrying warning email, first pages) would be lost with this run.
                    await workflow.wait_condition(
                        lambda: (
                            self.settling > 0
                            or (workflow.all_handlers_finished() and self._sends_done())
                        )
                    )
                    if self.settling > 0:
                        continue
                else:
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    await workflow.wait_condition(self._sends_done)
                # Keeping every bit of state, including the policy snapshot: never re-read.
                workflow.continue_as_new(input.model_copy(update={"state": self.s}))
            wake, why = self._next_wake()
            self.dirty = False
            timeout = max(wake - workflow.now(), timedelta(seconds=1)) if wake else None
            await wait_until(lambda: self.dirty, timeout, why)
        await workflow.wait_condition(workflow.all_handlers_finished)
        # An escalation waits for the first pages the ticket sends for it.
        await workflow.wait_condition(lambda: all(t.done() for t in self.first_pages))
        # Outbound events still on their way go out before the ticket's run ends.
        await workflow.wait_condition(self.outbox.drained)
        await self.records.flush()
        return self._status()

    def _patched(self, patch_id: str) -> bool:
        """`workflow.patched`, without a marker when the ticket's code had the patch."""
        return patched(patch_id, self.input.revision)

    def _wake(self) -> None:
        self.dirty = True

    def _sends_done(self) -> bool:
        return all(t.done() for t in self.warnings + self.first_pages)

    async def _legacy_start(self, input: TicketWorkflowInput) -> TicketState:
        """A ticket opened before intake passed the snapshot reads it by an activity, as it
        did then, so its history replays. Remove with the legacy input shape (docs/design.md)."""
        ticket = input.ticket
        opened_at = ticket.opened_at or workflow.now()
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
        return opening_state(ticket, policy, opened_at, workflow.now())

    # -- the clock loop -----------------------------------------------------------------------

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
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
        for waiting in s.waiting:
            if waiting.due_at is not None:
                candidates.append((waiting.due_at, f"escalation of {waiting.breach_id} due"))
        if not candidates:
            return None, "waiting for ticket events"
        return min(candidates)

    async def _evaluate(self) -> None:
        """Send what is due, start or stop escalations, and publish state to the UI."""
        s, now = self.state, workflow.now()
        for kind in TargetKind:
            await self._evaluate_target(kind, now)
        await self._start_waiting(now)
        auto_close = s.resolved_at is not None and now >= s.resolved_at + AUTO_CLOSE_AFTER
        if s.phase is TicketPhase.RESOLVED and auto_close:
            self._close(now, "auto-closed after resolution")
        self.evaluations += 1
        self.outbox.observe(s, now)
        upsert_search_attributes(s, now, self.input.revision)
        workflow.set_current_details(notices.summary_line(self.input.ticket.ticket_id, s, now))
        self.records.changed(paging=self.paging > 0)

    async def _evaluate_target(self, kind: TargetKind, now: datetime) -> None:
        s = self.state
        live = [b for b in s.breaches if b.kind is kind and b.live]
        lapsed = kind in s.breached_at and not sla.is_breached(s, kind, now)
        if lapsed and self._patched(EVENT_TIMES):
            # An event reported late (or a downgrade) shows the target was not missed.
            await self._withdraw(kind, live, now)
        elif s.phase is TicketPhase.CLOSED:
            await self._stop_escalations(live, StopReason.CLOSED)
        elif lapsed:
            # Reclassified to a longer target: the breach no longer stands.
            del s.breached_at[kind]
            await self._stop_escalations(live, StopReason.RECLASSIFIED)
        elif sla.met_at(s, kind) is not None:
            await self._stop_escalations(live, StopReason.MET)
        elif kind not in s.breached_at and sla.is_breached(s, kind, now):
            await self._breach(kind, now)
        else:
            percent = sla.warning_crossed(s, kind, now)
            if percent is not None:
                s.warned[kind] = percent
                await self._warn(kind, percent, now)

    async def _warn(self, kind: TargetKind, percent: int, now: datetime) -> None:
        # A copy: the email names the class the warning was for, whatever happens meanwhile.
        ticket_id = self.input.ticket.ticket_id
        sending = notices.send_warning(self.state.model_copy(), ticket_id, kind, percent, now)
        if self._patched(WARNINGS_BESIDE_CLOCK):
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
        self._note("breached", f"{kind.value} target of class {s.severity} ({breach_id})")
        # The workflow meter skips replays, so each breach is counted once.
        record_breach(workflow.metric_meter(), s.policy.tenant, s.severity, kind.value)
        child = self._child_input(s.breaches[-1])
        if self._send_first_step(child, child_id, now):
            return  # the ladder waits for the first ack window (`_start_waiting`)
        await self._start_escalation(child, child_id)

    def _child_input(self, breach: Breach) -> EscalationInput:
        s = self.state
        return EscalationInput(
            tenant=s.policy.tenant,
            ticket_id=self.input.ticket.ticket_id,
            ticket_workflow_id=workflow.info().workflow_id,
            breach_id=breach.breach_id,
            kind=breach.kind,
            severity=breach.severity,
            # Only what this ladder needs. The input is not part of the command that replay
            # compares (type and id), so older histories replay unchanged.
            policy=ladder_snapshot(s.policy, breach.severity),
            breached_at=breach.at,
            # The ticket's own: the breach task sends the first pages with this input, and in a
            # ticket recorded without a revision those sends ask each patch as they did then.
            revision=self.input.revision,
        )

    async def _start_escalation(
        self, child: EscalationInput, child_id: str, waited: bool = False
    ) -> None:
        if waited:
            # Events may name it before it exists (a status callback, an acknowledgement);
            # the escalations started with their breach keep their recorded command order.
            self.starting.add(child_id)
        try:
            await workflow.start_child_workflow(
                EscalationWorkflow.run,
                child,
                id=child_id,
                # Escalations outlive a continue-as-new of the ticket; they report by signal.
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                static_summary=(
                    f"{child.tenant} {child.ticket_id}: {child.kind.value} breach, "
                    f"class {child.severity}"
                ),
            )
        finally:
            self.starting.discard(child_id)
        self.started_children.add(child_id)

    def _send_first_step(self, child: EscalationInput, child_id: str, now: datetime) -> bool:
        """Page round 1, step 1 from this task when its phones may ring now (the escalation
        does the step's email, the ack window and everything after). True when the ladder
        waits: the escalation starts only if the step's ack window ends unacknowledged."""
        policy, severity = child.policy, child.severity
        step = first_step_of(policy, severity)
        phones = [c for c in step.via if c in PHONE_CHANNELS]
        if not phones:
            return False
        # Phones of a non-emergency class ring only inside its support hours.
        emergency = policy.classes[severity].emergency
        if not emergency and clock_for(policy.calendar_for(severity)).next_open(now) > now:
            return False
        if not self._patched(FIRST_PAGE_FROM_TICKET):
            return False
        # A step with email leaves it to the escalation, which starts at once to send it.
        waits = len(phones) == len(step.via) and self._patched(LADDER_AFTER_FIRST_WINDOW)
        if waits:
            self.state.waiting.append(WaitingLadder(breach_id=child.breach_id))
        if scheduled_roles(policy, step) and self._patched(ONCALL_AT_PAGE_TIME):
            # Who is on call is asked as the page goes (an activity); the codes follow.
            child.first_step_codes, child.first_step_resolved = {}, True
            task = self._first_step_resolved(child, child_id, phones, waits)
        else:
            people = recipients(policy, step, now)
            child.first_step_codes = draw_codes({}, people)
            task = self._first_step(child, child_id, people, phones, waits)
        self.paging += 1
        self.first_pages.append(asyncio.create_task(task))
        return waits

    async def _first_step_resolved(
        self, child: EscalationInput, child_id: str, phones: list[Channel], waits: bool
    ) -> None:
        policy = child.policy
        step = first_step_of(policy, child.severity)
        try:
            people, notes = await resolve(child.tenant, policy, step, self.input.revision)
        except BaseException:
            self.paging -= 1  # no pages will go: the record write must not wait for them
            if waits:
                self._escalate_now(child.breach_id)  # the escalation pages the step itself
            raise
        for note in notes:
            self._note("on_call", f"{child.breach_id} {FIRST_STEP_LABEL} {note}")
        child.first_step_codes = draw_codes({}, people)
        await self._first_step(child, child_id, people, phones, waits)

    async def _first_step(
        self,
        child: EscalationInput,
        child_id: str,
        people: list[Recipient],
        phones: list[Channel],
        waits: bool,
    ) -> None:
        codes = child.first_step_codes
        assert codes is not None
        try:
            sent = await send_step(child, people, phones, FIRST_STEP_LABEL, codes)
        finally:
            self.paging -= 1
        s = self.state
        s.sent.extend(sent)
        for breach in s.breaches:
            if breach.breach_id == child.breach_id:
                breach.level = max(breach.level, 1)
        self.dirty = True
        if waits:
            waiting = self._waiting(child.breach_id)
            if waiting is not None:  # else acknowledged (or stopped) while the pages went
                now = workflow.now()
                waiting.first_step = FirstStepSent(sent=sent, people=people, codes=codes)
                step = first_step_of(child.policy, child.severity)
                waiting.window_ends_at = now + wait_of(step)
                # A page that did not go needs the escalation now: its retries, its fallback
                # channel, or the next step at once when nothing reached anyone.
                failed = any(not n.ok for n in sent)
                waiting.due_at = now if failed else waiting.window_ends_at
            return
        # Signal only a started escalation (the pages may be back before its start is). Started,
        # it is signalled at once, before this task yields: the signal's command then always
        # comes before the clock loop's, woken by `dirty`. Had both waited on a condition,
        # their order would rest on how many event-loop turns `asyncio.wait_for` takes, which
        # changed in Python 3.12: a history recorded on 3.11 did not replay on 3.13
        # (tests/test_replay.py under `make test-smoke PY=python3.13`).
        if child_id not in self.started_children:
            await workflow.wait_condition(lambda: child_id in self.started_children)
        try:
            handle = workflow.get_external_workflow_handle(child_id)
            news = FirstStepSent(sent=sent)
            if child.first_step_resolved:
                news.people, news.codes = people, child.first_step_codes
            await handle.signal(EscalationWorkflow.first_step_sent, news)
        except FailureError:
            workflow.logger.info("escalation %s ended before its first pages went", child_id)

    async def _withdraw(self, kind: TargetKind, live: list[Breach], now: datetime) -> None:
        """The standing breach of `kind` is withdrawn: marked, its pages kept, its ladder
        stopped, and the timeline says which event withdrew it."""
        s = self.state
        standing = s.breached_at.pop(kind)
        for breach in s.breaches:
            if breach.kind is kind and breach.at == standing and breach.withdrawn_at is None:
                breach.withdrawn_at, breach.withdrawn_why = now, withdrawal_note(s, breach)
                self._note("breach_withdrawn", breach.withdrawn_why)
                # The workflow meter skips replays: each withdrawal is counted once.
                meter = workflow.metric_meter()
                record_withdrawal(meter, s.policy.tenant, breach.severity, kind.value)
        await self._stop_escalations(live, StopReason.WITHDRAWN)
        for breach in s.breaches:
            if breach.withdrawn_at is not None and breach.outcome != BreachOutcome.ACKNOWLEDGED:
                breach.outcome = BreachOutcome.WITHDRAWN

    async def _stop_escalations(self, breaches: list[Breach], reason: str, **who: str) -> None:
        for breach in breaches:
            breach.outcome = StopReason(reason).outcome()
            # Its pages are no longer wanted: a failing delivery for it is no longer news.
            self.state.delivery_failing.pop(breach.breach_id, None)
            waiting = self._waiting(breach.breach_id)
            if waiting is not None:
                self.state.waiting.remove(waiting)  # its escalation never starts
                continue
            handle = await self._escalation(breach)
            await handle.signal(EscalationWorkflow.stop, StopEscalationInput(reason=reason, **who))

    async def _escalation(self, breach: Breach) -> workflow.ExternalWorkflowHandle[Any]:
        """The breach's escalation, once its start (if still on the way) is done."""
        child_id = breach.escalation_workflow_id
        if child_id in self.starting:
            await workflow.wait_condition(lambda: child_id not in self.starting)
        return workflow.get_external_workflow_handle(child_id)

    def _waiting(self, breach_id: str) -> WaitingLadder | None:
        return next((w for w in self.state.waiting if w.breach_id == breach_id), None)

    def _escalate_now(self, breach_id: str) -> None:
        waiting = self._waiting(breach_id)
        if waiting is not None:
            waiting.due_at = workflow.now()
            self.dirty = True

    async def _start_waiting(self, now: datetime) -> None:
        """Start the escalations whose breach's first ack window ended unacknowledged (or
        whose first step needs them now), with what the ticket sent in round 1, step 1."""
        s = self.state
        for waiting in [w for w in s.waiting if w.due_at is not None and w.due_at <= now]:
            s.waiting.remove(waiting)
            breach = next(b for b in s.breaches if b.breach_id == waiting.breach_id)
            if not breach.live:
                continue
            child = self._child_input(breach)
            if waiting.first_step is not None:
                child.first_step, child.statuses = waiting.first_step, waiting.statuses
                child.first_step_codes, child.first_step_resolved = waiting.first_step.codes, True
                child.first_window_ends_at = waiting.window_ends_at
            await self._start_escalation(child, breach.escalation_workflow_id, waited=True)

    # -- events: updates whose validators decide, and whose answer is the new status ------------

    def _note(self, event: str, detail: str = "", happened_at: datetime | None = None) -> None:
        entry = HistoryEntry(at=workflow.now(), event=event, detail=detail, happened_at=happened_at)
        self.state.history.append(entry)

    async def _changed(
        self, event: str, detail: str = "", happened_at: datetime | None = None
    ) -> TicketStatus:
        """Record an event, let the clock loop act on it, and answer with the new status."""
        self._note(event, detail, happened_at)
        return await self._settle()

    def _instant(self, at: datetime | None) -> datetime:
        """When a phase or class event happened: its `at` (never ahead of now), else now. An
        event with `at` exists only under the patch; the patch is asked only then."""
        now = workflow.now()
        if at is None or not self._patched(EVENT_TIMES):
            return now
        instant = event_instant(at, now)
        self.state.last_event_at = instant
        return instant

    def _check_time(self, at: datetime | None, ordered: bool = True) -> None:
        check_event_time(self._started(), at, workflow.now(), ordered)

    async def _settle(self) -> TicketStatus:
        seen = self.evaluations
        self.dirty = True
        # The answer includes what the event caused (a breach at once, a stopped ladder).
        self.settling += 1
        try:
            await workflow.wait_condition(lambda: self.evaluations > seen)
        finally:
            self.settling -= 1
        return self._status()

    def _close(self, now: datetime, why: str, happened_at: datetime | None = None) -> None:
        s = self.state
        if s.pauses and s.pauses[-1].end is None and s.phase is not TicketPhase.RESOLVED:
            s.pauses[-1].end = now
        s.phase, s.closed_at = TicketPhase.CLOSED, now
        self._note("closed", why, happened_at)

    def _started(self) -> TicketState:
        """The state, for a validator: only a ticket opened without a snapshot can lack it."""
        if self.s is None:
            raise invalid("the ticket is still starting; try again in a moment")
        return self.s

    @workflow.update
    async def first_response(self, input: FirstResponseInput) -> TicketStatus:
        self.state.responded_at = event_instant(input.at, workflow.now())
        return await self._changed("first_response", input.by or "", input.at)

    @first_response.validator
    def _v_first_response(self, input: FirstResponseInput) -> None:
        s = self._started()
        require_open(s, "record a first response")
        if s.responded_at is not None:
            raise invalid("the first response is already recorded")
        self._check_time(input.at, ordered=False)

    @workflow.update
    async def reclassify(self, input: ReclassifyInput) -> TicketStatus:
        s = self.state
        self._instant(input.at)
        old, s.severity = s.severity, input.severity
        detail = f"{old} -> {input.severity}: {input.reason}"
        return await self._changed("reclassified", detail, input.at)

    @reclassify.validator
    def _v_reclassify(self, input: ReclassifyInput) -> None:
        check_reclassify(self._started(), input.severity)
        self._check_time(input.at)

    @workflow.update
    async def pause(self, input: PauseInput) -> TicketStatus:
        s = self.state
        s.phase = TicketPhase.WAITING_ON_CUSTOMER
        s.pauses.append(Interval(start=self._instant(input.at)))
        return await self._changed("waiting_on_customer", input.reason or "", input.at)

    @pause.validator
    def _v_pause(self, input: PauseInput) -> None:
        s = self._started()
        if s.phase is not TicketPhase.OPEN:
            raise invalid(f"cannot pause a ticket that is {s.phase.value}")
        self._check_time(input.at)

    @workflow.update
    async def resume(self, input: ResumeInput) -> TicketStatus:
        s = self.state
        s.phase = TicketPhase.OPEN
        s.pauses[-1].end = self._instant(input.at)
        return await self._changed("resumed", "", input.at)

    @resume.validator
    def _v_resume(self, input: ResumeInput) -> None:
        s = self._started()
        if s.phase is not TicketPhase.WAITING_ON_CUSTOMER:
            raise invalid(f"cannot resume a ticket that is {s.phase.value}")
        self._check_time(input.at)

    @workflow.update
    async def resolve(self, input: ResolveInput) -> TicketStatus:
        s, now = self.state, self._instant(input.at)
        if s.phase is TicketPhase.WAITING_ON_CUSTOMER:
            s.pauses[-1].end = now
        s.phase, s.resolved_at = TicketPhase.RESOLVED, now
        # A resolution reaches the customer: it answers the response target too if still open.
        s.responded_at = s.responded_at or now
        # Resolution stops the resolution clock; a reopen resumes it from here.
        s.pauses.append(Interval(start=now))
        return await self._changed("resolved", input.note or "", input.at)

    @resolve.validator
    def _v_resolve(self, input: ResolveInput) -> None:
        require_open(self._started(), "resolve")
        self._check_time(input.at)

    @workflow.update
    async def reopen(self, input: ReopenInput) -> TicketStatus:
        s = self.state
        s.phase, s.resolved_at = TicketPhase.OPEN, None
        s.pauses[-1].end = self._instant(input.at)
        return await self._changed("reopened", input.reason or "", input.at)

    @reopen.validator
    def _v_reopen(self, input: ReopenInput) -> None:
        s = self._started()
        if s.phase is not TicketPhase.RESOLVED:
            raise invalid(f"only a resolved ticket can be reopened; this one is {s.phase.value}")
        self._check_time(input.at)

    @workflow.update
    async def close(self, input: CloseInput) -> TicketStatus:
        self._close(self._instant(input.at), "closed", input.at)
        return await self._settle()

    @close.validator
    def _v_close(self, input: CloseInput) -> None:
        if self._started().phase is TicketPhase.CLOSED:
            raise invalid("the ticket is already closed")
        self._check_time(input.at)

    @workflow.update
    async def acknowledge(self, input: AcknowledgeInput) -> TicketStatus:
        s, now = self.state, workflow.now()
        targets = ackable(s, input)
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
        live = [b for b in targets if b.live]
        await self._stop_escalations(
            live, StopReason.ACKNOWLEDGED, responder=input.responder, channel=input.channel
        )
        ids = ", ".join(b.breach_id for b in targets)
        return await self._changed(
            "acknowledged", f"{ids} by {input.responder} via {input.channel}"
        )

    @acknowledge.validator
    def _v_acknowledge(self, input: AcknowledgeInput) -> None:
        ackable(self._started(), input)

    # -- escalation reports and Twilio callbacks ----------------------------------------------

    @workflow.signal
    def escalation_progress(self, input: EscalationProgress) -> None:
        s = self.state
        s.sent.extend(input.sent)
        for line in input.on_call:
            self._note("on_call", line)
        if input.failing is not None:
            was = input.breach_id in s.delivery_failing
            if input.failing:
                s.delivery_failing[input.breach_id] = "; ".join(input.failing)
                if not was:
                    self._note("delivery_failing", f"{input.breach_id}: {input.failing[0]}")
            elif was:
                del s.delivery_failing[input.breach_id]
                self._note("delivery_restored", input.breach_id)
        for breach in s.breaches:
            if breach.breach_id == input.breach_id:
                breach.level = input.level
        self.dirty = True

    @workflow.signal
    def escalation_finished(self, input: EscalationResult) -> None:
        self.state.delivery_failing.pop(input.breach_id, None)
        for breach in self.state.breaches:
            if breach.breach_id == input.breach_id and breach.live:
                breach.outcome = input.outcome
        self._note("escalation_finished", f"{input.breach_id}: {input.outcome}")
        self.dirty = True

    @workflow.signal
    async def delivery_status(self, input: DeliveryStatusInput) -> None:
        """A Twilio status callback: recorded on the page, forwarded to its escalation."""
        # The last record of the key: a page retried after an account failure is there twice.
        for sent in reversed(self.state.sent):
            if sent.key == input.idempotency_key:
                sent.outcome = input.status
                for breach in self.state.breaches:
                    if breach.breach_id == sent.breach_id and breach.live:
                        waiting = self._waiting(breach.breach_id)
                        if waiting is None:
                            handle = await self._escalation(breach)
                            await handle.signal(EscalationWorkflow.delivery_status, input)
                        elif input.status in FAILED_DELIVERY:
                            # Its escalation starts now and acts on the failure (a call
                            # instead of the SMS, or the next step when all pages failed).
                            waiting.statuses.append(input)
                            self._escalate_now(breach.breach_id)
                return

    # -- reading ------------------------------------------------------------------------------

    @workflow.query
    def status(self) -> TicketStatus:
        """Answers from the first task (a ticket opened without a snapshot: once it has one)."""
        self._started()
        return self._status()

    def _status(self) -> TicketStatus:
        info = workflow.info()
        return status_of(self.state, self.input.ticket, info.workflow_id, workflow.now())
