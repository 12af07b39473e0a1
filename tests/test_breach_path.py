"""What a breach costs the server, on the real ticket workflow (docs/benchmarks.md, "The breach
path"): no escalation runs until round 1, step 1 goes unacknowledged, it echoes nothing the
ticket already knows, the breach and its first pages are one record write, and a ticket opened
by this code writes no patch markers."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHandle

from benchmarks.page_tasks import breach_path, load
from intake.gateway import ticket_input
from policies.loader import BUILTIN_DIR, load_policy
from slawatch.models import OpenTicketInput
from tests.harness import Harness, harness, workflow_exists
from workflows import dispatch, escalation, records_sink, search, ticket
from workflows.ticket import TicketSlaWorkflow
from workflows.versions import ADDED, REVISION, patched, taken

HISTORIES = Path(__file__).parent / "histories"
BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY_0800 = datetime(2026, 12, 8, 8, 0, tzinfo=BERLIN)
# Prokuria critical: the response target is an hour; step 1 texts two numbers, the ack window
# is five minutes, so at 62 minutes only the breach path has run; at 66 step 2 has gone.
BREACHED = TUESDAY_0800 + timedelta(minutes=62)
WINDOW_ENDED = TUESDAY_0800 + timedelta(minutes=66)


async def events_of(h: Harness, workflow_id: str) -> list[HistoryEvent]:
    return [e async for e in h.client.get_workflow_handle(workflow_id).fetch_history_events()]


def activities(events: list[HistoryEvent]) -> list[tuple[int, str]]:
    return [
        (e.event_id, e.activity_task_scheduled_event_attributes.activity_type.name)
        for e in events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]


def patch_markers(events: list[HistoryEvent]) -> list[str]:
    found = []
    for e in events:
        marker = e.marker_recorded_event_attributes
        if e.HasField("marker_recorded_event_attributes") and marker.marker_name == "core_patch":
            data = e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data
            found.append(data.decode())
    return found


async def breach(
    h: Harness, handle: WorkflowHandle[Any, Any], at: datetime = WINDOW_ENDED
) -> tuple[list[Any], list[Any]]:
    """The ticket's events at `at`, and its escalation's (which starts when the window ends)."""
    await h.advance_to(at)
    status = await h.status(handle)
    [escalation] = status.breaches
    ticket = await events_of(h, handle.id)
    child = await events_of(h, escalation.escalation_workflow_id)
    return ticket, child


async def test_the_breach_and_its_first_pages_are_one_record_write() -> None:
    async with harness() as h:
        await h.advance_to(TUESDAY_0800)
        handle = await h.open("prokuria", "BP-1", severity="critical", opened_at=TUESDAY_0800)
        await h.advance_to(BREACHED)
        ticket = await events_of(h, handle.id)
        names = [name for _, name in activities(ticket)]
        scheduled = activities(ticket)[names.index("send_sms") :]
        # The breach: two pages, and one record write once both returned.
        assert [name for _, name in scheduled] == ["send_sms", "send_sms", "record_milestone"]
        pages = {i for i, name in scheduled if name == "send_sms"}
        completed = [
            e.event_id
            for e in ticket
            if e.HasField("activity_task_completed_event_attributes")
            and e.activity_task_completed_event_attributes.scheduled_event_id in pages
        ]
        assert len(completed) == 2 and scheduled[-1][0] > max(completed)
        # That write carried the breach and the pages: the status has both, and nothing waits.
        status = await h.status(handle)
        assert [e.event for e in status.history][-1] == "breached"
        assert len([n for n in status.sent if n.breach_id == "response-1"]) == 2


async def test_no_escalation_runs_while_the_first_step_may_still_be_acknowledged() -> None:
    async with harness() as h:
        await h.advance_to(TUESDAY_0800)
        handle = await h.open("prokuria", "BP-2", severity="critical", opened_at=TUESDAY_0800)
        await h.advance_to(BREACHED)
        status = await h.status(handle)
        # Paged from the breach task, level 1, and no child execution yet: before, one started
        # with every breach, though most ladders end with the first acknowledgement.
        assert status.escalation_level == 1 and len(status.sent) >= 2
        assert not await workflow_exists(h.client, status.breaches[0].escalation_workflow_id)
        kinds = [e.WhichOneof("attributes") for e in await events_of(h, handle.id)]
        assert "start_child_workflow_execution_initiated_event_attributes" not in kinds


async def test_the_escalation_starts_when_the_first_window_ends_and_echoes_nothing() -> None:
    async with harness() as h:
        await h.advance_to(TUESDAY_0800)
        handle = await h.open("prokuria", "BP-3", severity="critical", opened_at=TUESDAY_0800)
        ticket, child = await breach(h, handle)
        # Step 2 follows five minutes after step 1, as it always did; its report reaches the
        # ticket. The escalation got step 1's pages in its input, so it neither waits a
        # window again nor signals the ticket before step 2's pages: no timer, no signal.
        assert (await h.status(handle)).escalation_level == 2
        kinds = [e.WhichOneof("attributes") for e in child]
        first_page = kinds.index("activity_task_scheduled_event_attributes")
        assert "timer_started_event_attributes" not in kinds[:first_page]
        assert (
            "signal_external_workflow_execution_initiated_event_attributes"
            not in kinds[:first_page]
        )
        assert activities(child)[0][1] == "place_call"
        call = next(n for n in h.notifier.sent if n.channel == "voice")
        assert round((call.at - TUESDAY_0800).total_seconds()) == 65 * 60
        signals = [
            e.workflow_execution_signaled_event_attributes.signal_name
            for e in ticket
            if e.HasField("workflow_execution_signaled_event_attributes")
        ]
        assert signals.count("escalation_progress") == 1  # step 2's pages, not step 1's


async def test_a_ticket_opened_by_this_code_writes_no_patch_markers() -> None:
    async with harness() as h:
        await h.advance_to(TUESDAY_0800)
        handle = await h.open("prokuria", "BP-5", severity="critical", opened_at=TUESDAY_0800)
        ticket, child = await breach(h, handle)
        # Each marker was an event and a TemporalChangeVersion upsert (a visibility write).
        assert patch_markers(ticket) == [] and patch_markers(child) == []


async def test_a_ticket_without_a_revision_still_asks_each_patch() -> None:
    # A ticket whose input predates `revision` (or that a test starts by hand) takes the same
    # branches, and says so with markers, as every ticket did before.
    async with harness() as h:
        await h.advance_to(TUESDAY_0800)
        policy = load_policy("prokuria", BUILTIN_DIR)
        opened = OpenTicketInput(
            tenant="prokuria", ticket_id="BP-4", severity="critical", opened_at=TUESDAY_0800
        )
        input = ticket_input(opened, policy, TUESDAY_0800).model_copy(update={"revision": 0})
        handle = await h.client.start_workflow(
            TicketSlaWorkflow.run, input, id="ticket/prokuria/BP-4", task_queue=h.task_queue
        )
        h.tickets.append(handle.id)
        await h.started(handle)
        ticket, child = await breach(h, handle)
        asked = {m.split('"')[3] for m in patch_markers(ticket)}
        assert {"sla-records", "first-page-from-ticket", "record-with-first-pages"} <= asked
        assert "ladder-after-first-window" in asked
        # Its escalation has the ticket's revision (the breach task sends with its input).
        assert "delivery-assurance" in {m.split('"')[3] for m in patch_markers(child)}
        assert "record_milestone" in [name for _, name in activities(ticket)]


def test_each_revision_takes_its_own_and_every_earlier_patch() -> None:
    assert taken(0) == frozenset()
    assert taken(REVISION) == frozenset().union(*ADDED.values())
    assert "quiet-first-step" in taken(1) and "sla-records" in taken(1)
    assert ticket.LADDER_AFTER_FIRST_WINDOW in taken(2) - taken(1)
    assert records_sink.RECORD_POLICY_ONCE in taken(3) - taken(2)
    assert {ticket.OPENED_AT_ACCEPTANCE, records_sink.OPENING_WRITE_LOCAL} == taken(4) - taken(3)
    # The constants the workflows ask by are the ids the revision lists.
    for patch_id in (
        dispatch.DELIVERY_ASSURANCE,
        escalation.QUIET_FIRST_STEP,
        escalation.EMAIL_BESIDE_PAGES,
        records_sink.SLA_RECORDS,
        records_sink.RECORD_WITH_FIRST_PAGES,
        search.PAGED_TO_ATTRIBUTE,
        search.DELIVERY_ATTRIBUTE,
        search.BREACHED_ATTRIBUTE,
        ticket.FIRST_PAGE_FROM_TICKET,
        ticket.EVENT_TIMES,
        ticket.WARNINGS_BESIDE_CLOCK,
    ):
        assert patch_id in taken(1), patch_id
    # Legacy tickets' own patch is never taken without asking: only they reach it.
    assert ticket.SNAPSHOT_BY_ACTIVITY not in taken(REVISION)
    # A run from newer code fails its task on this worker instead of guessing.
    with pytest.raises(ValueError, match="newer than this worker"):
        patched("anything", REVISION + 1)


def test_the_committed_histories_show_the_leaner_path() -> None:
    """critical_ladder (this code) against v5_ (before `ladder-after-first-window`) and v4_
    (before `quiet-first-step` and `record-with-first-pages`)."""

    def cost(name: str) -> dict[str, int]:
        [ticket_file] = HISTORIES.glob(f"{name}--ticket+prokuria+H-ladder.json")
        [child_file] = HISTORIES.glob(f"{name}--ticket+prokuria+H-ladder-escalation-*.json")
        return breach_path(load(ticket_file), load(child_file))

    new, v5, v4 = cost("critical_ladder"), cost("v5_critical_ladder"), cost("v4_critical_ladder")
    assert [c["signals"] for c in (new, v5, v4)] == [0, 1, 2]
    assert [c["activities"] for c in (new, v5, v4)] == [3, 3, 4]
    # No escalation task before the first ack window ends: the ladder has not started.
    assert new["escalation_tasks"] == 0 < v5["escalation_tasks"] < v4["escalation_tasks"]
    assert new["ticket_tasks"] <= v5["ticket_tasks"] < v4["ticket_tasks"]
    assert new["events"] < v5["events"] * 0.7 and v5["events"] < v4["events"] * 0.7
    for name in ("critical_ladder", "v5_critical_ladder", "v4_critical_ladder"):
        events = list(load(HISTORIES / f"{name}--ticket+prokuria+H-ladder.json").events)
        assert bool(patch_markers(events)) is (name == "v4_critical_ladder")
    # Nor in the escalation it started when the window ended (revision 2: no marker to ask).
    child = HISTORIES / "critical_ladder--ticket+prokuria+H-ladder-escalation-response-1.json"
    assert patch_markers(list(load(child).events)) == []
