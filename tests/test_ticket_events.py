"""Ticket events as updates: moving clocks, rejections, snapshots, continue-as-new."""

from __future__ import annotations

import asyncio
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from intake.gateway import ticket_input
from policies.loader import BUILTIN_DIR, load_policy
from slawatch.models import (
    AcknowledgeInput,
    CloseInput,
    FirstResponseInput,
    OpenTicketInput,
    PauseInput,
    ReclassifyInput,
    ReopenInput,
    ResolveInput,
    ResumeInput,
    TicketWorkflowInput,
)
from tests.harness import harness, local_activities
from workflows.search import CLASS, ESCALATION_LEVEL, RESOLUTION_DUE, RESPONSE_DUE, STATE, TENANT
from workflows.ticket import TicketSlaWorkflow

BERLIN = ZoneInfo("Europe/Berlin")
SECOND = timedelta(seconds=1)


def near(got: datetime | timedelta | None, want: datetime | timedelta) -> bool:
    """Events land a few milliseconds after the instant a test moves to: equal to the second."""
    return got is not None and abs(got - want) <= SECOND  # type: ignore[operator,arg-type]


TUESDAY_0800 = datetime(2026, 12, 8, 8, 0, tzinfo=BERLIN)


async def test_pause_and_resume_shift_resolution_by_paused_business_time() -> None:
    async with harness() as h:
        await h.advance_to(TUESDAY_0800)
        handle = await h.open("prokuria", "P-1", severity="major", opened_at=TUESDAY_0800)
        await h.update(handle, "first_response", FirstResponseInput())
        status = await h.status(handle)
        # 48 business hours from Tue 08:00: Tue 10 h, Wed/Thu/Fri 11 h each (43 h), Mon
        # 07:00 + 5 h: due Monday 14 Dec 12:00 Berlin.
        assert status.resolution.due == datetime(2026, 12, 14, 12, 0, tzinfo=BERLIN)
        await h.advance_to(datetime(2026, 12, 8, 10, 0, tzinfo=BERLIN))
        status = await h.update(handle, "pause", PauseInput(reason="waiting for logs"))
        assert status.resolution.state == "paused" and status.resolution.due is None
        assert status.response.state == "met"  # the response clock is not paused
        assert status.sla_state == "paused"
        await h.advance_to(datetime(2026, 12, 9, 10, 0, tzinfo=BERLIN))
        status = await h.update(handle, "resume", ResumeInput())
        # Paused Tue 10:00-18:00 (8 h) + Wed 07:00-10:00 (3 h) = 11 business hours:
        # Mon 12:00 + 6 h = Mon 18:00, + 5 h = Tue 15 Dec 12:00.
        assert near(status.resolution.due, datetime(2026, 12, 15, 12, 0, tzinfo=BERLIN))
        assert near(status.resolution.business_time_left, timedelta(hours=48 - 2))
        await h.advance_to(datetime(2026, 12, 15, 12, 0, 5, tzinfo=BERLIN))
        status = await h.status(handle)
        assert status.resolution.state == "breached"
        assert [b.kind for b in status.breaches] == ["resolution"]
        assert abs(status.breaches[0].at - datetime(2026, 12, 15, 12, 0, tzinfo=BERLIN)) < (
            timedelta(seconds=1)
        )


async def test_resolve_reopen_resumes_the_resolution_clock_and_close_ends() -> None:
    async with harness() as h:
        await h.advance_to(TUESDAY_0800)
        handle = await h.open("prokuria", "R-1", severity="critical", opened_at=TUESDAY_0800)
        # 29 min, not 30: the 50% warning timer fires at 30 min, and the time-skipping test
        # server breaks its history when an update lands in the same instant as a timer.
        await h.advance_to(TUESDAY_0800 + timedelta(minutes=29))
        status = await h.update(handle, "resolve", ResolveInput(note="fixed"))
        # Resolving answers the customer too: both targets met, nothing escalates.
        assert (status.response.state, status.resolution.state) == ("met", "met")
        assert status.sla_state == "resolved"
        await h.advance_to(TUESDAY_0800 + timedelta(hours=5))
        status = await h.update(handle, "reopen", ReopenInput(reason="came back"))
        # 24x7: the 4 h 31 min spent resolved do not count: due 24 h + 4 h 31 min after opening.
        assert near(status.resolution.due, TUESDAY_0800 + timedelta(hours=28, minutes=31))
        assert status.resolution.state == "on_track"
        status = await h.update(handle, "resolve", ResolveInput())
        status = await h.update(handle, "close", CloseInput())
        assert status.phase == "closed"
        result = await handle.result()
        assert result.phase == "closed"
        assert [e.event for e in result.history] == [
            "opened",
            "resolved",
            "reopened",
            "resolved",
            "closed",
        ]
        assert h.notifier.sent == []


async def _rejected(call: object) -> ApplicationError:
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await call  # type: ignore[misc]
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    return cause


async def test_invalid_transitions_and_unknown_class_are_rejected_with_reasons() -> None:
    async with harness() as h:
        handle = await h.open("cargotask", "V-1", severity="serious")
        err = await _rejected(
            h.update(handle, "reclassify", ReclassifyInput(severity="major", reason="x"))
        )
        assert err.type == "UnknownClass" and "major" in err.message and "standard" in err.message
        err = await _rejected(h.update(handle, "resume", ResumeInput()))
        assert err.type == "InvalidTransition" and "open" in err.message
        err = await _rejected(h.update(handle, "reopen", ReopenInput()))
        assert err.type == "InvalidTransition"
        status = await h.update(handle, "close", CloseInput())
        assert status.phase == "closed"
        # A closed ticket's workflow completes once its last SLA record write is in; then
        # further events fail (the API says 409).
        await handle.result()
        with pytest.raises(RPCError):
            await h.update(handle, "resolve", ResolveInput())
        result = await handle.result()
        # Rejected updates leave no trace in the ticket's record.
        assert [e.event for e in result.history] == ["opened", "closed"]


async def test_acknowledge_without_breach_is_rejected() -> None:
    async with harness() as h:
        handle = await h.open("prokuria", "V-2", severity="critical")

        err = await _rejected(
            h.update(handle, "acknowledge", AcknowledgeInput(responder="ana", channel="api"))
        )
        assert err.type == "InvalidTransition" and "nothing to acknowledge" in err.message
        err = await _rejected(
            h.update(
                handle,
                "acknowledge",
                AcknowledgeInput(breach_id="response-9", responder="ana", channel="api"),
            )
        )
        assert err.type == "UnknownBreach"


async def test_reopening_the_same_ticket_joins_the_running_workflow() -> None:
    async with harness() as h:
        first = await h.open("prokuria", "J-1", severity="critical")
        again = await h.client.start_workflow(
            TicketSlaWorkflow.run,
            TicketWorkflowInput(
                ticket=OpenTicketInput(tenant="prokuria", ticket_id="J-1", severity="minor")
            ),
            id=first.id,
            task_queue=h.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        assert again.result_run_id == first.result_run_id
        assert (await h.status(again)).severity == "critical"


async def test_a_ticket_opened_with_the_legacy_input_still_snapshots_by_activity() -> None:
    # Tickets opened before intake passed the snapshot carry no policy in their input.
    async with harness() as h:
        handle = await h.client.start_workflow(
            TicketSlaWorkflow.run,
            TicketWorkflowInput(ticket=OpenTicketInput(tenant="prokuria", ticket_id="O-1")),
            id="ticket/prokuria/O-1",
            task_queue=h.task_queue,
        )
        h.tickets.append(handle.id)
        await h.started(handle)
        kinds = [e.WhichOneof("attributes") async for e in handle.fetch_history_events()]
        assert "activity_task_completed_event_attributes" in kinds
        status = await h.update(handle, "first_response", FirstResponseInput())
        assert status.severity == "minor" and status.response.state.value == "met"


async def test_a_new_ticket_has_its_state_from_its_first_task() -> None:
    async with harness() as h:
        handle = await h.open("prokuria", "O-2", severity="critical")
        events = [e async for e in handle.fetch_history_events()]
        kinds = [e.WhichOneof("attributes") for e in events]
        # No policy snapshot activity before the clock: the first task set the response timer,
        # and wrote the SLA record's opening itself, as a local activity (no activity, no
        # second task: `opening-write-local`).
        scheduled = [
            e.activity_task_scheduled_event_attributes.activity_type.name
            for e in events
            if e.HasField("activity_task_scheduled_event_attributes")
        ]
        assert scheduled == []
        assert local_activities(events) == ["record_milestone"]
        assert kinds.count("workflow_task_completed_event_attributes") == 1
        done = kinds.index("workflow_task_completed_event_attributes")
        after = kinds[done + 1 :]
        task = "workflow_task_scheduled_event_attributes"
        first_commands = after[: after.index(task)] if task in after else after
        assert "timer_started_event_attributes" in first_commands
        assert (await h.status(handle)).history[0].event == "opened"


async def test_the_breach_task_sends_the_first_pages_itself() -> None:
    # Prokuria critical: step 1 is an SMS to the emergency line and the primary (ana). The
    # pages leave in the breach task, not in the escalation's first task.
    async with harness() as h:
        await h.advance_to(TUESDAY_0800)
        handle = await h.open("prokuria", "P-1", severity="critical", opened_at=TUESDAY_0800)
        await h.advance_to(TUESDAY_0800 + timedelta(minutes=62))
        events = [e async for e in handle.fetch_history_events()]
        sms = [
            e.activity_task_scheduled_event_attributes
            for e in events
            if e.HasField("activity_task_scheduled_event_attributes")
            and e.activity_task_scheduled_event_attributes.activity_type.name == "send_sms"
        ]
        # Both in one task, the one the deadline's timer woke: the breach task.
        [breach_task] = {a.workflow_task_completed_event_id for a in sms}
        before = max(
            e.event_id
            for e in events
            if e.HasField("workflow_task_completed_event_attributes") and e.event_id < breach_task
        )
        woke = [e for e in events if before < e.event_id < breach_task]
        assert len(sms) == 2 and any(e.HasField("timer_fired_event_attributes") for e in woke)
        status = await h.status(handle)
        pages = [n for n in status.sent if n.breach_id == "response-1"]
        assert sorted(n.to for n in pages) == ["+40721555101", "+40724011885"]
        assert all(n.code and n.ok for n in pages)
        assert status.escalation_level == 1
        # Step 2 (a call) follows 5 minutes after step 1, from the escalation as before; the
        # escalation took step 1 from the ticket and scheduled no page of it.
        await h.advance_to(TUESDAY_0800 + timedelta(minutes=66))
        calls = [s for s in h.notifier.sent if s.channel == "voice"]
        assert len(calls) == 2 and all("/response-1/r1s2/" in c.key for c in calls)
        child = h.client.get_workflow_handle(status.breaches[0].escalation_workflow_id)
        names = [
            e.activity_task_scheduled_event_attributes.activity_type.name
            async for e in child.fetch_history_events()
            if e.HasField("activity_task_scheduled_event_attributes")
        ]
        assert names and "send_sms" not in names


async def test_unknown_class_from_intake_falls_back_to_default_and_says_so() -> None:
    async with harness() as h:
        handle = await h.open("prokuria", "U-1", severity="urgent", category="incident")
        status = await h.status(handle)
        assert status.severity == "minor"
        assert status.history[0].event == "unknown_class" and "urgent" in status.history[0].detail


async def test_category_selects_the_class_when_none_given(tmp_path: Path) -> None:
    policy = (
        (BUILTIN_DIR / "prokuria.yaml")
        .read_text()
        .replace("enhancement: minor", "enhancement: major")
    )
    (tmp_path / "prokuria.yaml").write_text(policy)
    async with harness(policy_dir=tmp_path) as h:
        handle = await h.open("prokuria", "K-1", category="enhancement")
        assert (await h.status(handle)).severity == "major"


async def test_policy_edits_do_not_change_a_running_ticket(tmp_path: Path) -> None:
    shutil.copy(BUILTIN_DIR / "prokuria.yaml", tmp_path / "prokuria.yaml")
    async with harness(policy_dir=tmp_path) as h:
        await h.advance_to(TUESDAY_0800)
        handle = await h.open("prokuria", "S-1", severity="critical", opened_at=TUESDAY_0800)
        before = await h.status(handle)
        text = (tmp_path / "prokuria.yaml").read_text()
        (tmp_path / "prokuria.yaml").write_text(
            text.replace("{amount: 60, unit: minutes}", "{amount: 5, unit: minutes}")
        )
        status = await h.update(handle, "reclassify", ReclassifyInput(severity="major", reason="r"))
        status = await h.update(
            handle, "reclassify", ReclassifyInput(severity="critical", reason="r")
        )
        assert status.response.due == before.response.due == TUESDAY_0800 + timedelta(minutes=60)
        # A ticket opened after the edit runs the new policy.
        fresh = await h.open("prokuria", "S-2", severity="critical", opened_at=TUESDAY_0800)
        assert (await h.status(fresh)).response.due == TUESDAY_0800 + timedelta(minutes=5)


async def test_search_attributes_follow_the_ticket() -> None:
    async with harness() as h:
        await h.advance_to(TUESDAY_0800)
        handle = await h.open("prokuria", "A-1", severity="critical", opened_at=TUESDAY_0800)
        await h.advance_to(TUESDAY_0800 + timedelta(minutes=66))
        attrs = (await handle.describe()).typed_search_attributes
        assert attrs.get(TENANT) == "prokuria"
        assert attrs.get(CLASS) == "critical"
        assert attrs.get(STATE) == "breached"
        assert attrs.get(ESCALATION_LEVEL) == 2
        assert attrs.get(RESPONSE_DUE) == TUESDAY_0800 + timedelta(minutes=60)
        assert attrs.get(RESOLUTION_DUE) == TUESDAY_0800 + timedelta(hours=24)
        await h.update(handle, "resolve", ResolveInput())
        await h.advance_to(TUESDAY_0800 + timedelta(minutes=67))
        attrs = (await handle.describe()).typed_search_attributes
        assert attrs.get(STATE) == "resolved" and attrs.get(ESCALATION_LEVEL) == 0


async def test_continue_as_new_keeps_all_state() -> None:
    async with harness() as h:
        await h.advance_to(TUESDAY_0800)
        ticket = OpenTicketInput(
            tenant="prokuria", ticket_id="L-1", severity="major", opened_at=TUESDAY_0800
        )
        opening = ticket_input(ticket, load_policy("prokuria"))
        handle = await h.client.start_workflow(
            TicketSlaWorkflow.run,
            opening.model_copy(update={"continue_as_new_after": 40}),
            id="ticket-prokuria-L-1",
            task_queue=h.task_queue,
        )
        await h.started(handle)
        first_run = (await handle.describe()).run_id
        # Events address the ticket by ID, whichever run of it is current.
        handle = h.client.get_workflow_handle("ticket-prokuria-L-1")
        await h.update(handle, "first_response", FirstResponseInput())
        for hour in range(1, 9):
            await h.advance_to(TUESDAY_0800 + timedelta(hours=hour))
            await h.update(
                handle,
                "pause" if hour % 2 else "resume",
                PauseInput() if hour % 2 else ResumeInput(),
            )
        await h.advance_to(TUESDAY_0800 + timedelta(hours=9))
        latest = h.client.get_workflow_handle("ticket-prokuria-L-1")
        assert (await latest.describe()).run_id != first_run
        status = await h.status(latest)
        assert (
            len([e for e in status.history if e.event in ("waiting_on_customer", "resumed")]) == 8
        )
        # Paused 09-10, 11-12, 13-14, 15-16: 4 business hours added to the 48 h target.
        assert near(status.resolution.due, datetime(2026, 12, 14, 16, 0, tzinfo=BERLIN))
        assert status.response.state == "met"
        assert status.opened_at == TUESDAY_0800


async def test_an_event_while_the_ticket_is_about_to_continue_as_new_is_answered() -> None:
    # The run waits a second before it continues as new. An event in that second waits for an
    # evaluation; before, the run waited for that event's handler to finish, and both waited
    # forever (found when a ticket's history got shorter and a test's close fell there).
    async with harness() as h:
        await h.advance_to(TUESDAY_0800)
        handle = await h.open(
            "prokuria", "CAN-1", severity="major", opened_at=TUESDAY_0800, continue_as_new_after=20
        )
        first_run = (await handle.describe()).run_id

        async def about_to_continue() -> bool:
            events = [e async for e in handle.fetch_history_events()]
            timers = [e for e in events if e.HasField("timer_started_event_attributes")]
            return b"continue-as-new" in timers[-1].SerializeToString()

        paused = False
        for _ in range(20):
            event = ("resume", ResumeInput()) if paused else ("pause", PauseInput())
            await h.update(handle, *event)
            paused = not paused
            if await about_to_continue():
                break
        assert await about_to_continue(), "the ticket never reached its continue-as-new"
        event = ("resume", ResumeInput()) if paused else ("pause", PauseInput())
        answer = asyncio.create_task(h.update(handle, *event))
        await asyncio.sleep(1)  # the update reaches the run before its second is up
        await h.sleep(timedelta(seconds=5))
        status = await asyncio.wait_for(answer, 30)
        assert status.phase.value == ("open" if paused else "waiting_on_customer")
        await h.sleep(timedelta(seconds=5))
        current = h.client.get_workflow_handle(handle.id)
        assert (await current.describe()).run_id != first_run
        assert (await h.status(current)).phase == status.phase
