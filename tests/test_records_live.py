"""Live SLA record writes from the ticket workflow (time-skipping): a row for every milestone,
written while the ticket runs, and a record store that is down delays no page."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from temporalio.api.history.v1 import HistoryEvent

from activities.records.activities import POLICY_MISSING, RecordActivities
from activities.records.store import RecordStore
from intake.gateway import ticket_input
from policies.loader import load_policy
from policies.schema import Policy
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
    TicketStatus,
    ticket_workflow_id,
)
from tests.harness import harness, local_activities
from tests.records_rows import WIDE, dump, expected
from workflows.ticket import TicketSlaWorkflow

BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY_0800 = datetime(2026, 12, 8, 8, 0, tzinfo=BERLIN)
ANA = "+40721555101"  # Prokuria's primary on call


async def until_recorded(store: RecordStore, event: str, limit: float = 20.0) -> list[str]:
    """Real time: the write runs beside the clock, as an activity the test server doesn't wait
    for. The ticket's recorded event names once `event` is among them."""
    for _ in range(int(limit / 0.05)):
        names = [
            e.event
            for t in store.tickets("prokuria", *WIDE)
            for e in store.events("prokuria", t.ticket_id)
        ]
        if event in names:
            return names
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {event!r} row after {limit} s")


async def test_each_milestone_is_written_while_the_ticket_runs(tmp_path: Path) -> None:
    store = RecordStore(tmp_path / "records.sqlite3")
    async with harness(records=RecordActivities(store)) as h:
        await h.advance_to(TUESDAY_0800)
        handle = await h.open("prokuria", "L-1", severity="critical", opened_at=TUESDAY_0800)
        assert await until_recorded(store, "opened") == ["opened"]
        await h.sleep(timedelta(minutes=61))  # warned at 50 % and 80 %, breached at 60 min
        names = await until_recorded(store, "breached")
        assert "warned" in names
        pages = await _until_pages(store, 2)  # round 1, step 1: the emergency line and ana
        assert {p.channel for p in pages} == {"sms"}
        ack = AcknowledgeInput(responder="ana", channel="sms", phone=ANA)
        await h.update(handle, "acknowledge", ack)
        await until_recorded(store, "acknowledged")
        # Down to major (90 business minutes, 61 used): the breach is withdrawn, kept.
        await h.update(handle, "reclassify", ReclassifyInput(severity="major", reason="subset"))
        await h.update(handle, "first_response", FirstResponseInput(by="agent"))
        await h.update(handle, "pause", PauseInput(reason="logs"))
        await h.sleep(timedelta(minutes=10))
        await h.update(handle, "resume", ResumeInput())
        await h.update(handle, "resolve", ResolveInput())
        await h.update(handle, "reopen", ReopenInput(reason="again"))
        await h.update(handle, "resolve", ResolveInput())
        await h.update(handle, "close", CloseInput())
        # The run completes only once its last write is in.
        final: TicketStatus = await handle.result()

    rows = dump(store)
    assert rows == expected(final)
    assert {e["event"] for e in rows["events"]} >= {
        "opened", "warned", "breached", "acknowledged", "reclassified", "first_response",
        "waiting_on_customer", "resumed", "resolved", "reopened", "closed",
    }  # fmt: skip
    [breach] = rows["breaches"]
    assert breach["withdrawn"] and breach["acknowledged_by"] == "ana"
    assert rows["tickets"][0]["phase"] == "closed" and rows["tickets"][0]["reclassifications"] == 1
    # One row per milestone: every (event, instant, n) key once, and as many as the timeline.
    keys = [(e["event"], e["at"], e["n"]) for e in rows["events"]]
    assert len(keys) == len(set(keys)) == len(final.history) + 2  # + the two warnings


async def _until_pages(store: RecordStore, count: int) -> list[Any]:
    for _ in range(400):
        pages = store.pages("prokuria", *WIDE)
        if len(pages) >= count:
            return pages
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {count} page rows")


async def test_a_record_store_outage_delays_no_page_and_loses_no_milestone(
    tmp_path: Path,
) -> None:
    # The store's directory is a file: every open fails (as an unreadable path or a database
    # that is down would) until the file is gone.
    blocker = tmp_path / "blocked"
    blocker.write_text("not a directory")
    opens: list[str] = []

    def open_store() -> RecordStore:
        opens.append("try")
        return RecordStore(blocker / "records.sqlite3")

    async with harness(records=RecordActivities(open_store)) as h:
        await h.advance_to(TUESDAY_0800)
        handle = await h.open("prokuria", "L-2", severity="critical", opened_at=TUESDAY_0800)
        await h.sleep(timedelta(minutes=60))
        # Paged at the breach instant, as with the store up (tests/test_ticket_ladders.py).
        sms = h.notifier.to("sms")
        assert len(sms) == 2, h.notifier.sent
        due = TUESDAY_0800 + timedelta(minutes=60)
        assert all(abs(s.at - due) <= timedelta(seconds=1) for s in sms), [s.at for s in sms]
        await h.update(handle, "first_response", FirstResponseInput(by="agent"))
        status = await h.update(handle, "close", CloseInput())
        assert status.phase == "closed"  # the ticket answered; its record waits for the store
        assert len(opens) >= 2  # retried
        # Still running: its last write is not in. Then the store comes back.
        described = await handle.describe()
        assert described.status is not None and described.status.name == "RUNNING"
        blocker.unlink()
        final: TicketStatus = await handle.result()  # retries (skipped time) until written

    store = RecordStore(blocker / "records.sqlite3")
    assert dump(store) == expected(final)


async def test_a_ticket_that_continues_as_new_keeps_every_row(tmp_path: Path) -> None:
    store = RecordStore(tmp_path / "records.sqlite3")
    async with harness(records=RecordActivities(store)) as h:
        await h.advance_to(TUESDAY_0800)
        ticket = OpenTicketInput(
            tenant="prokuria", ticket_id="L-3", severity="major", opened_at=TUESDAY_0800
        )
        opening = ticket_input(ticket, load_policy("prokuria"))
        handle = await h.client.start_workflow(
            TicketSlaWorkflow.run,
            opening.model_copy(update={"continue_as_new_after": 40}),
            id=ticket_workflow_id("prokuria", "L-3"),
            task_queue=h.task_queue,
        )
        await h.started(handle)
        first_run = (await handle.describe()).run_id
        # Whichever run is current.
        handle = h.client.get_workflow_handle(handle.id, result_type=TicketStatus)
        await h.update(handle, "first_response", FirstResponseInput())
        for hour in range(1, 7):
            await h.advance_to(TUESDAY_0800 + timedelta(hours=hour))
            event = ("pause", PauseInput()) if hour % 2 else ("resume", ResumeInput())
            await h.update(handle, *event)
        await h.update(handle, "close", CloseInput())
        final: TicketStatus = await handle.result()
        assert (await handle.describe()).run_id != first_run  # it did continue as new
        last_run = [e async for e in handle.fetch_history_events()]

    assert dump(store) == expected(final)
    # The new run's first write carries the snapshot again: its history stands on its own.
    first, *later = record_inputs(last_run)
    assert first["policy"] is not None and all(w["policy"] is None for w in later)


def record_inputs(events: list[HistoryEvent]) -> list[dict[str, Any]]:
    """The inputs of the run's `record_milestone` writes, in order, as JSON."""
    return [
        json.loads(e.activity_task_scheduled_event_attributes.input.payloads[0].data)
        for e in events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == "record_milestone"
    ]


async def test_a_run_sends_its_policy_snapshot_in_its_first_write_only(tmp_path: Path) -> None:
    store = RecordStore(tmp_path / "records.sqlite3")
    async with harness(records=RecordActivities(store)) as h:
        await h.advance_to(TUESDAY_0800)
        handle = await h.open("prokuria", "L-4", severity="major", opened_at=TUESDAY_0800)
        await until_recorded(store, "opened")
        await h.update(handle, "first_response", FirstResponseInput(by="agent"))
        await until_recorded(store, "first_response")
        await h.update(handle, "resolve", ResolveInput())
        await h.update(handle, "close", CloseInput())
        final: TicketStatus = await handle.result()
        events = [e async for e in handle.fetch_history_events()]

    # The first write is the opening, a local activity in the first task (its input is not in
    # history); it carried the snapshot, so every later write (activities) names it by its key.
    assert local_activities(events) == ["record_milestone"]
    writes = record_inputs(events)
    assert len(writes) >= 2
    key = writes[0]["policy_key"]
    assert key and all(w["policy"] is None and w["policy_key"] == key for w in writes)
    # The store kept the snapshot once, and built every later row from it.
    assert Policy.model_validate_json(store.policy(key) or "").tenant == "prokuria"
    assert dump(store) == expected(final)


async def test_a_store_without_the_snapshot_is_sent_it_again(tmp_path: Path) -> None:
    """A key-only write to a store that lacks the snapshot (restored from an older backup, and
    a worker process that never read it) fails at once; the ticket's next write carries the
    snapshot, and the record is complete."""
    path = tmp_path / "records.sqlite3"
    store = RecordStore(path)
    records = RecordActivities(store)
    async with harness(records=records) as h:
        await h.advance_to(TUESDAY_0800)
        handle = await h.open("prokuria", "L-5", severity="major", opened_at=TUESDAY_0800)
        await until_recorded(store, "opened")
        with closing(sqlite3.connect(path)) as db, db:
            db.execute("DELETE FROM sla_policy")
        records._policies.clear()  # a process that has not read it yet
        await h.update(handle, "first_response", FirstResponseInput(by="agent"))
        await until_recorded(store, "first_response")
        await h.update(handle, "close", CloseInput())
        final: TicketStatus = await handle.result()
        events = [e async for e in handle.fetch_history_events()]

    failed = [
        e.activity_task_failed_event_attributes.failure
        for e in events
        if e.HasField("activity_task_failed_event_attributes")
    ]
    assert [f.application_failure_info.type for f in failed] == [POLICY_MISSING]
    assert "policy_key" in failed[0].message and failed[0].application_failure_info.non_retryable
    writes = record_inputs(events)
    # The opening (local) carried it; the first response's write named it, failed, and the
    # write after it carried it again.
    assert [w["policy"] is not None for w in writes][:2] == [False, True]
    assert store.policy(writes[0]["policy_key"]) is not None
    assert dump(store) == expected(final)
