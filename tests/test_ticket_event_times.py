"""Event times (`at`) on the time-skipping server: the clock runs on when things happened, its
bounds refuse what cannot be, and an event reported after a deadline it would have prevented
withdraws the breach (marked, its pages kept) and stops the ladder.

Prokuria critical (24x7): response 60 min, resolution 24 h; opened at NIGHT.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from slawatch.models import (
    CloseInput,
    FirstResponseInput,
    PauseInput,
    ReclassifyInput,
    ResolveInput,
    ResumeInput,
    TicketStatus,
)
from tests.harness import Harness, harness

BERLIN = ZoneInfo("Europe/Berlin")
NIGHT = datetime(2026, 12, 8, 3, 0, tzinfo=BERLIN)
MIN = timedelta(minutes=1)


async def _critical(h: Harness, ticket_id: str) -> WorkflowHandle[Any, Any]:
    await h.advance_to(NIGHT)
    return await h.open("prokuria", ticket_id, severity="critical", opened_at=NIGHT)


def _phone_pages(h: Harness) -> list[str]:
    return [s.key for s in h.notifier.sent if s.channel != "email"]


def _withdrawn(status: TicketStatus, breach_id: str) -> str:
    """The breach is marked withdrawn and the timeline says why; returns that sentence."""
    breach = next(b for b in status.breaches if b.breach_id == breach_id)
    assert breach.outcome == "withdrawn" and breach.withdrawn_at is not None
    entries = [e for e in status.history if e.event == "breach_withdrawn"]
    assert [e.detail for e in entries] == [breach.withdrawn_why]
    assert breach.withdrawn_why is not None
    return breach.withdrawn_why


async def test_a_late_first_response_withdraws_the_breach_and_stops_the_ladder() -> None:
    async with harness() as h:
        handle = await _critical(h, "L-1")
        await h.advance_to(NIGHT + 63 * MIN)
        status = await h.status(handle)
        assert status.response.state == "breached"
        paged = _phone_pages(h)
        assert paged  # the first step went out at 60 min
        # The agent answered at 59 min; the help desk's webhook arrives at 63.
        answered = NIGHT + 59 * MIN
        status = await h.update(
            handle, "first_response", FirstResponseInput(at=answered, by="agent 7")
        )
        assert status.response.state == "met" and status.response.met_at == answered
        assert status.response.breached_at is None and status.sla_state == "on_track"
        why = _withdrawn(status, "response-1")
        assert why.startswith("response-1: first_response at 2026-12-08T02:59:00Z (reported")
        assert f"{len(paged)} pages had gone out" in why
        # The record keeps that the pages went; the ladder sends nothing more.
        assert {n.key for n in status.sent if n.breach_id == "response-1"} >= set(paged)
        await h.advance_to(NIGHT + 3 * 60 * MIN)
        assert _phone_pages(h) == paged
        status = await h.status(handle)
        assert status.escalation_level == 0 and status.breaches[0].outcome == "withdrawn"
        happened = [e.happened_at for e in status.history if e.event == "first_response"]
        assert happened == [answered]


async def test_a_late_pause_and_a_late_resolve_withdraw_resolution_breaches() -> None:
    async with harness() as h:
        handle = await _critical(h, "L-2")
        await h.update(handle, "first_response", FirstResponseInput())
        due = NIGHT + 24 * 60 * MIN
        await h.advance_to(due + 2 * MIN)
        assert (await h.status(handle)).resolution.state == "breached"
        # Waiting on the customer since 23 h, reported now: the clock stood still before 24 h.
        status = await h.update(handle, "pause", PauseInput(at=NIGHT + 23 * 60 * MIN))
        assert status.resolution.state == "paused" and status.resolution.breached_at is None
        assert "waiting_on_customer at 2026-12-09T01:00:00Z" in _withdrawn(status, "resolution-1")
        # Resumed now: 1 h of the target was left when it paused.
        resumed = await h.now()
        status = await h.update(handle, "resume", ResumeInput())
        assert status.resolution.due is not None
        assert abs(status.resolution.due - (resumed + 60 * MIN)) < timedelta(seconds=1)
        # It breaches again at that new due time; then a resolve 5 min before it arrives late.
        await h.advance_to(resumed + 62 * MIN)
        status = await h.status(handle)
        assert [b.breach_id for b in status.breaches] == ["resolution-1", "resolution-2"]
        assert status.resolution.state == "breached"
        solved = resumed + 55 * MIN
        status = await h.update(handle, "resolve", ResolveInput(at=solved))
        assert status.resolution.state == "met" and status.resolution.met_at == solved
        assert [b.outcome for b in status.breaches] == ["withdrawn", "withdrawn"]


async def test_a_late_close_before_the_deadline_withdraws_the_breach() -> None:
    async with harness() as h:
        handle = await _critical(h, "L-3")
        await h.advance_to(NIGHT + 61 * MIN)
        status = await h.update(handle, "close", CloseInput(at=NIGHT + 30 * MIN))
        assert status.phase == "closed"
        assert "closed at 2026-12-08T02:30:00Z" in _withdrawn(status, "response-1")


async def test_the_clock_runs_on_event_times() -> None:
    async with harness() as h:
        handle = await _critical(h, "L-4")
        await h.advance_to(NIGHT + 5 * 60 * MIN)
        await h.update(handle, "first_response", FirstResponseInput(at=NIGHT + 10 * MIN))
        await h.update(handle, "pause", PauseInput(at=NIGHT + 60 * MIN))
        status = await h.update(handle, "resume", ResumeInput(at=NIGHT + 3 * 60 * MIN))
        # Paused 2 h: due 24 h + 2 h after opening, whatever time the requests came.
        assert status.resolution.due == NIGHT + 26 * 60 * MIN
        reason = "customer call"
        status = await h.update(
            handle,
            "reclassify",
            ReclassifyInput(severity="major", reason=reason, at=NIGHT + 4 * 60 * MIN),
        )
        entry = status.history[-1]
        assert (entry.event, entry.happened_at) == ("reclassified", NIGHT + 4 * 60 * MIN)


async def _refused(call: Any) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await call
    cause = info.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidEventTime"
    return cause.message


async def test_event_times_out_of_bounds_are_refused_naming_the_field() -> None:
    async with harness() as h:
        handle = await _critical(h, "L-5")
        await h.advance_to(NIGHT + 30 * MIN)
        now = await h.now()
        early = await _refused(h.update(handle, "pause", PauseInput(at=NIGHT - MIN)))
        assert (
            early == "at: 2026-12-08T01:59:00Z is before the ticket opened (2026-12-08T02:00:00Z)"
        )
        ahead = await _refused(h.update(handle, "resolve", ResolveInput(at=now + 3 * MIN)))
        assert ahead.startswith("at: ") and "more than 2 minutes ahead" in ahead
        await _refused(h.update(handle, "first_response", FirstResponseInput(at=NIGHT - MIN)))
        await h.update(handle, "pause", PauseInput(at=NIGHT + 20 * MIN))
        before = await _refused(h.update(handle, "resume", ResumeInput(at=NIGHT + 10 * MIN)))
        assert "before the ticket's previous event (2026-12-08T02:20:00Z)" in before
        # Within the skew counts as now; a first response is bounded by the opening only.
        await h.update(handle, "first_response", FirstResponseInput(at=NIGHT + 5 * MIN))
        status = await h.update(handle, "resume", ResumeInput(at=now + MIN))
        assert status.phase == "open"
        assert [e.event for e in status.history] == [
            "opened",
            "waiting_on_customer",
            "first_response",
            "resumed",
        ]
