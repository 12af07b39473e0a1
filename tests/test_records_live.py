"""Live SLA record writes from the ticket workflow (time-skipping): a row for every milestone,
written while the ticket runs, and a record store that is down delays no page."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from activities.records.activities import RecordActivities
from activities.records.store import RecordStore
from intake.gateway import ticket_input
from policies.loader import load_policy
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
from tests.harness import harness
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

    assert dump(store) == expected(final)
