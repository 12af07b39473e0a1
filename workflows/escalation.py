"""EscalationWorkflow: one breach's ladder, step by step, until someone acknowledges."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from policies.clock import clock_for
    from policies.oncall import members_at
    from policies.schema import Channel, Ladder, LadderStep, ServiceClass
    from slawatch.models import (
        BreachOutcome,
        DeliveryStatusInput,
        EscalationInput,
        EscalationProgress,
        EscalationResult,
        FirstStepSent,
        Recipient,
        SentNotification,
        StopEscalationInput,
    )
    from slawatch.telemetry import record_escalation_exhausted
    from workflows.dispatch import DELIVERY_ASSURANCE, FIRST_STEP_LABEL, send_one, send_step

    # `recipients` moved to workflows/oncall.py; re-exported for callers that import it here.
    from workflows.oncall import recipients as recipients
    from workflows.oncall import resolve, scheduled_roles
    from workflows.timers import wait_until
    from workflows.versions import patched

PHONE_CHANNELS = (Channel.SMS, Channel.VOICE)
# Twilio call/message statuses after which nobody will acknowledge that notification; "machine"
# is a call answered by voicemail (answering-machine detection): a voicemail is not an answer.
FAILED_DELIVERY = frozenset({"failed", "undelivered", "no-answer", "busy", "canceled", "machine"})
# A page the vendor refused for our whole account is tried again after this, doubling up to
# REDELIVER_MAX, until it goes, the breach is acknowledged or the ladder ends.
REDELIVER_FIRST = timedelta(seconds=5)
REDELIVER_MAX = timedelta(minutes=5)
# Who hears by the other vendor's channel when one vendor refuses our account.
FALLBACK_ROLE = "duty_manager"
# Patch: a step's email runs beside the pages instead of holding them until SendGrid answers.
EMAIL_BESIDE_PAGES = "email-beside-pages"
# Patch: after the ticket's own first pages the escalation reports only news (an email, a
# schedule's answer, a failing delivery); before, it always signalled the level the ticket had
# already set, which cost both workflows a task per breach.
QUIET_FIRST_STEP = "quiet-first-step"


def wait_of(step: LadderStep) -> timedelta:
    """Ack windows are real time (a pager wait, not business time)."""
    return step.wait.as_timedelta()


def draw_codes(codes: dict[str, str], people: list[Recipient]) -> dict[str, str]:
    """A four-digit code per person, drawn once from the calling workflow's replay-safe
    random, distinct within the breach; `codes` is updated and returned."""
    for person in people:
        if person.id not in codes:
            taken = set(codes.values())
            code = str(workflow.random().randint(1000, 9999))
            while code in taken:
                code = str(workflow.random().randint(1000, 9999))
            codes[person.id] = code
    return codes


@workflow.defn
class EscalationWorkflow:
    """Runs a class's ladder from the policy snapshot; stops on ack, met target or resolution."""

    def __init__(self) -> None:
        self.stopped: StopEscalationInput | None = None
        self.level = 0
        self.step_keys: set[str] = set()
        self.failed_keys: set[str] = set()
        self.emails: list[asyncio.Task[None]] = []
        # Each person's one-time acknowledgement code for this breach (the same on every step).
        self.codes: dict[str, str] = {}
        # Delivery assurance: pages refused for our account (key -> what failed), the current
        # step's label, its SMS pages by key (for a call when one is not delivered), whether
        # any of its pages got through, and the retries still running.
        self.failing: dict[str, str] = {}
        self.label = ""
        self.sms_pages: dict[str, Recipient] = {}
        self.delivered = False
        self.finished = False
        self.assured = False
        self.input: EscalationInput | None = None
        self.retries: list[asyncio.Task[None]] = []
        # Round 1, step 1's pages when the ticket sent them (EscalationInput.first_step_codes),
        # and whom it paged when it resolved the step's schedules itself.
        self.first_sent: list[SentNotification] | None = None
        self.first_people: list[Recipient] | None = None
        # Who each schedule resolved to, and why: told to the ticket with the next report.
        self.on_call: list[str] = []

    @workflow.run
    async def run(self, input: EscalationInput) -> EscalationResult:
        self.input = input
        if input.first_step_codes is not None:
            self.codes = dict(input.first_step_codes)
        if input.first_step is not None:
            # Started after the ticket paged round 1, step 1 (patch `ladder-after-first-window`
            # in workflows/ticket.py): those pages come in the input, not by signal.
            self.first_step_sent(input.first_step)
        policy = input.policy
        cls: ServiceClass = policy.classes[input.severity]
        ladder: Ladder = policy.ladders[cls.ladder]
        outcome = BreachOutcome.EXHAUSTED
        for round_no in range(ladder.repeat + 1):
            for step_no, step in enumerate(ladder.steps):
                if self.stopped is not None:
                    break
                self.level += 1
                label = f"r{round_no + 1}s{step_no + 1}"
                sent = await self._run_step(input, cls, step, label)
                ends_at = None
                if self._by_ticket(input, label):
                    ends_at = input.first_window_ends_at
                    # Failures Twilio reported while the ticket held the ladder.
                    for status in input.statuses:
                        self.delivery_status(status)
                    # The ticket has these pages already: tell it only what it does not know.
                    emails = [n for n in sent if n.channel is Channel.EMAIL]
                    if self._news(emails) or not patched(QUIET_FIRST_STEP, input.revision):
                        await self._report(input, emails)
                elif sent:
                    await self._report(input, sent)
                if self.stopped is not None:
                    break
                await self._wait_for_ack(step, sent, f"ack window, step {self.level}", ends_at)
        self.finished = True
        if self.stopped is not None:
            outcome = self.stopped.reason.outcome()
        result = EscalationResult(
            breach_id=input.breach_id,
            outcome=outcome,
            acknowledged_by=self.stopped.responder if self.stopped else None,
            level=self.level,
        )
        if outcome == BreachOutcome.EXHAUSTED:
            # Metric only (the workflow meter skips replays): no command changes, no patch.
            record_escalation_exhausted(workflow.metric_meter(), input.tenant, input.severity)
            parent = workflow.get_external_workflow_handle(input.ticket_workflow_id)
            await parent.signal("escalation_finished", result)
        # Emails still retrying (SendGrid down) get their full retry time, then report.
        await workflow.wait_condition(lambda: all(t.done() for t in self.emails + self.retries))
        return result

    async def _run_step(
        self, input: EscalationInput, cls: ServiceClass, step: LadderStep, label: str
    ) -> list[SentNotification]:
        if self._by_ticket(input, label) and input.first_step_resolved:
            # The ticket resolved the step's roles as it paged: its people, its codes.
            await workflow.wait_condition(
                lambda: self.first_sent is not None or self.stopped is not None
            )
            people = self.first_people or []
        else:
            people = await self._resolve(input, step, label)
        sent: list[SentNotification] = []
        # Email may go at any hour; phones only inside the class's support hours.
        if Channel.EMAIL in step.via:
            if patched(EMAIL_BESIDE_PAGES, input.revision):
                # With SendGrid down an email retries for minutes: the pages and the ack
                # window must not wait behind it.
                self.emails.append(asyncio.create_task(self._email(input, people, label)))
            else:
                sent += await send_step(input, people, [Channel.EMAIL], label)
        phones = [c for c in step.via if c in PHONE_CHANNELS]
        if phones and self._by_ticket(input, label):
            # Sent by the ticket's breach task, one workflow task earlier than we could.
            await workflow.wait_condition(
                lambda: self.first_sent is not None or self.stopped is not None
            )
            sent += self.first_sent or []
        elif phones:
            if not cls.emergency:
                waited = await self._wait_for_support_hours(input)
                if self.stopped is not None:
                    return sent
                if waited and scheduled_roles(input.policy, step):
                    # Hours later: whoever is on call when the phones may ring.
                    people = await self._resolve(input, step, label)
            sent += await send_step(input, people, phones, label, self._codes_for(people))
        self.step_keys = {n.key for n in sent if n.channel in PHONE_CHANNELS and n.ok}
        self.failed_keys = set()
        self.assured = patched(DELIVERY_ASSURANCE, input.revision)
        if self.assured:
            self.label, self.delivered = label, bool(self.step_keys)
            by_id = {p.id: p for p in people}
            self.sms_pages = {
                n.key: by_id[n.recipient] for n in sent if n.channel is Channel.SMS and n.ok
            }
            self._assure(input, people, sent, label)
        return sent

    async def _resolve(
        self, input: EscalationInput, step: LadderStep, label: str
    ) -> list[Recipient]:
        people, notes = await resolve(input.tenant, input.policy, step, input.revision)
        self.on_call += [f"{input.breach_id} {label} {note}" for note in notes]
        return people

    def _news(self, sent: list[SentNotification]) -> bool:
        """Whether a report would tell the ticket anything beyond the level it set itself when
        it sent round 1, step 1: a page it has not seen, who a schedule resolved to, or pages
        refused for the account (the ticket's `delivery_failing`)."""
        return bool(sent or self.on_call or (self.assured and self.failing))

    def _codes_for(self, people: list[Recipient]) -> dict[str, str]:
        return draw_codes(self.codes, people)

    @staticmethod
    def _by_ticket(input: EscalationInput, label: str) -> bool:
        return input.first_step_codes is not None and label == FIRST_STEP_LABEL

    async def _email(self, input: EscalationInput, people: list[Recipient], label: str) -> None:
        sent = await send_step(input, people, [Channel.EMAIL], label)
        if not sent:
            return
        if patched(DELIVERY_ASSURANCE, input.revision):
            self._assure(input, people, sent, label)
        try:
            await self._report(input, sent)
        except FailureError:
            # The ticket closed while the email was retrying: nobody is left to tell.
            workflow.logger.info("email %s reported after the ticket closed", label)

    async def _wait_for_support_hours(self, input: EscalationInput) -> bool:
        """Wait until the class's support hours open; True when that meant waiting."""
        calendar = input.policy.calendar_for(input.severity)
        now = workflow.now()
        opening = clock_for(calendar).next_open(now)
        if opening > now:
            await wait_until(
                lambda: self.stopped is not None,
                opening - now,
                f"outside support hours: pages wait for {opening.isoformat()}",
            )
            return True
        return False

    async def _wait_for_ack(
        self,
        step: LadderStep,
        sent: list[SentNotification],
        why: str,
        ends_at: datetime | None = None,
    ) -> None:
        """Wait out the step's ack window, or until it ends at `ends_at` (a window that began
        when the ticket paged the step, before this escalation started)."""
        window = wait_of(step)
        if sent and not any(n.ok for n in sent):
            if not any(n.failure == "account" for n in sent):
                # Nothing reached anyone (all rejected): waiting out the window would only delay.
                return
            # Nothing went because the vendor refuses our account: the ladder must not burn.
            # The ack window starts when a retried page gets through (or someone acknowledges
            # after hearing by the fallback channel).
            await workflow.wait_condition(
                lambda: self.stopped is not None or self.delivered,
                timeout_summary="delivery failing: waiting for a page to get through",
            )
            if self.stopped is not None:
                return
            ends_at = None  # the window starts now that a page got through
        if ends_at is not None:
            window = ends_at - workflow.now()
            if window <= timedelta(0):
                return
        await wait_until(
            lambda: (
                self.stopped is not None
                or (bool(self.step_keys) and self.step_keys <= self.failed_keys)
            ),
            window,
            why,
        )

    async def _report(self, input: EscalationInput, sent: list[SentNotification]) -> None:
        parent = workflow.get_external_workflow_handle(input.ticket_workflow_id)
        failing = sorted(set(self.failing.values())) if self.assured else None
        progress = EscalationProgress(
            breach_id=input.breach_id, level=self.level, sent=sent, failing=failing
        )
        if self.on_call:
            progress.on_call, self.on_call = self.on_call, []
        await parent.signal("escalation_progress", progress)

    # -- delivery assurance -------------------------------------------------------------------

    def _assure(
        self,
        input: EscalationInput,
        people: list[Recipient],
        sent: list[SentNotification],
        label: str,
    ) -> None:
        """Pages refused for our account: retry each until it goes, and tell people by the
        other vendor's channel at once (Twilio refused: email; SendGrid refused: SMS)."""
        refused = [n for n in sent if n.failure == "account"]
        if not refused:
            return
        by_id = {p.id: p for p in people}
        for n in refused:
            self.failing[n.key] = f"{n.channel.value} refused for the account: {n.detail}"[:200]
            task = self._redeliver(input, by_id[n.recipient], n)
            self.retries.append(asyncio.create_task(task))
        phones_refused = any(n.channel in PHONE_CHANNELS for n in refused)
        channel = Channel.EMAIL if phones_refused else Channel.SMS
        self.retries.append(asyncio.create_task(self._fallback(input, people, channel, label)))

    async def _fallback(
        self, input: EscalationInput, people: list[Recipient], channel: Channel, label: str
    ) -> None:
        policy = input.policy
        extra = (
            members_at(policy, FALLBACK_ROLE, workflow.now()) if channel is Channel.EMAIL else []
        )
        everyone = people + [
            Recipient(id=pid, name=r.name, phone=r.phone, email=r.email, language=r.language)
            for pid in extra
            if pid not in {p.id for p in people}
            for r in [input.policy.responders[pid]]
        ]
        codes = self._codes_for(everyone) if channel is Channel.SMS else None
        sent = await send_step(input, everyone, [channel], f"{label}-fallback", codes)
        if sent:
            await self._report_quietly(input, sent)

    async def _redeliver(
        self, input: EscalationInput, person: Recipient, page: SentNotification
    ) -> None:
        delay = REDELIVER_FIRST
        while True:
            done = await wait_until(
                lambda: self.stopped is not None or self.finished,
                delay,
                f"delivery failing: {page.channel.value} to {person.id} again",
            )
            if done:
                self.failing.pop(page.key, None)
                return
            label = page.key.split("/")[-3]
            again = await send_one(input, person, page.channel, page.to, label, page.code)
            if again.failure == "account":
                delay = min(delay * 2, REDELIVER_MAX)
                continue
            self.failing.pop(page.key, None)
            if again.ok and again.channel in PHONE_CHANNELS and label == self.label:
                self.step_keys.add(again.key)
                self.delivered = True
            await self._report_quietly(input, [again])
            return

    async def _report_quietly(self, input: EscalationInput, sent: list[SentNotification]) -> None:
        try:
            await self._report(input, sent)
        except FailureError:
            workflow.logger.info("delivery news after the ticket closed")

    @workflow.signal
    def first_step_sent(self, input: FirstStepSent) -> None:
        self.first_sent = input.sent
        if input.people is not None:
            self.first_people = input.people
        # The ticket drew these codes: later steps page the same people with the same ones.
        self.codes.update(input.codes or {})

    @workflow.signal
    def stop(self, input: StopEscalationInput) -> None:
        if self.stopped is None:
            self.stopped = input

    @workflow.signal
    def delivery_status(self, input: DeliveryStatusInput) -> None:
        """Failed, busy or unanswered: when every page of the step failed, move on at once.

        An SMS that was not delivered is followed by a call to that person at once (unless
        the step already calls them): the step moves on only when the call fails too.
        """
        if input.status not in FAILED_DELIVERY or input.idempotency_key not in self.step_keys:
            return
        person = self.sms_pages.pop(input.idempotency_key, None)
        called = {k for k in self.step_keys if k.endswith(f"/voice/{person.id}")} if person else {}
        if person is not None and not called and self.input is not None and person.phone:
            call_key = input.idempotency_key.removesuffix(f"/sms/{person.id}")
            self.step_keys.add(f"{call_key}/voice/{person.id}")
            self.retries.append(asyncio.create_task(self._call_instead(self.input, person)))
        self.failed_keys.add(input.idempotency_key)

    async def _call_instead(self, input: EscalationInput, person: Recipient) -> None:
        code = self._codes_for([person])[person.id]
        assert person.phone is not None
        call = await send_one(input, person, Channel.VOICE, person.phone, self.label, code)
        if not call.ok:
            self.failed_keys.add(call.key)
        await self._report_quietly(input, [call])

    @workflow.query
    def current_level(self) -> int:
        return self.level
