"""Breaches and ladders on the time-skipping server: what is sent, to whom, and when.

Expected instants are worked out by hand from the seed policies (comments show the sums);
each scenario runs in its own environment (several at once make time skip past tasks).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from slawatch.models import (
    AcknowledgeInput,
    DeliveryStatusInput,
    FirstResponseInput,
    ReclassifyInput,
)
from tests.harness import Harness, Sent, harness, workflow_exists
from tests.ladder_scenarios import ANA, BERLIN, BOGDAN, CARMEN, PRK_LINE, open_critical

TALLINN = ZoneInfo("Europe/Tallinn")
CT_LINE, KADRI, MART, LIIS = "+3725019559", "+37255550101", "+37255550102", "+37255550103"
SECOND = timedelta(seconds=1)
STEP_SPREAD = timedelta(seconds=30)


def pages(h: Harness) -> list[tuple[datetime, str, str]]:
    return [(s.at, s.channel, s.to) for s in h.notifier.sent if s.channel != "email"]


def steps_of(
    sends: list[tuple[datetime, str, str]],
) -> list[tuple[datetime, list[tuple[str, str]]]]:
    """Sends grouped into steps: a step's sends go within seconds, steps are minutes apart."""
    steps: list[tuple[datetime, list[tuple[str, str]]]] = []
    for at, channel, to in sorted(sends):
        if steps and at - steps[-1][0] < STEP_SPREAD:
            steps[-1][1].append((channel, to))
        else:
            steps.append((at, [(channel, to)]))
    return [(at, sorted(sent)) for at, sent in steps]


def assert_schedule(
    actual: list[tuple[datetime, str, str]], expected: list[tuple[datetime, str, str]]
) -> None:
    """The same steps with the same sends: the first within a second of its instant, each later
    one its ack window (within a second) after the step before.

    A step's ack window opens when its pages have gone, so the time spent sending them (real
    time even on the time-skipping server) moves the later steps by that much; a second per step
    is the promise, not a second over a whole three-round ladder.
    """
    got, want = steps_of(actual), steps_of(expected)
    assert [sent for _, sent in got] == [sent for _, sent in want], actual
    for i, ((at, sent), (due, _)) in enumerate(zip(got, want, strict=True)):
        late = at - due if i == 0 else (at - got[i - 1][0]) - (due - want[i - 1][0])
        assert abs(late) < SECOND, f"{sent} at {at}, {late} off (expected at {due})"


def ladder(
    start: datetime, steps: list[tuple[int, list[tuple[str, str]]]]
) -> list[tuple[datetime, str, str]]:
    """Expected pages: each step's sends at `start` + minutes."""
    return [(start + timedelta(minutes=m), c, t) for m, sends in steps for c, t in sends]


def prokuria_critical_round(
    offset: int,
) -> list[tuple[int, list[tuple[str, str]]]]:
    # critical ladder: sms line+primary, 5 min; voice line+primary, 5 min;
    # secondary sms+voice, 10 min; duty manager voice (+email), 15 min => 35 min a round.
    return [
        (offset, [("sms", PRK_LINE), ("sms", ANA)]),
        (offset + 5, [("voice", PRK_LINE), ("voice", ANA)]),
        (offset + 10, [("sms", BOGDAN), ("voice", BOGDAN)]),
        (offset + 20, [("voice", CARMEN)]),
    ]


async def test_prokuria_critical_missed_runs_the_whole_ladder_three_times() -> None:
    async with harness() as h:
        handle, opened = await open_critical(h, "C-1")  # 03:00 on a Tuesday: 24x7 class
        # Response due 04:00; the ladder (repeat: 2) runs three rounds of 35 minutes.
        await h.advance_to(opened + timedelta(hours=4))
        expected = ladder(
            opened + timedelta(minutes=60),
            prokuria_critical_round(0) + prokuria_critical_round(35) + prokuria_critical_round(70),
        )
        assert_schedule(pages(h), expected)
        emails = [s for s in h.notifier.sent if s.channel == "email"]
        # 50% and 80% warnings to the team at 04:30 and 04:48... of 60 min: 03:30 and 03:48.
        warnings = [s for s in emails if "Warning" in s.text]
        assert [(s.at - opened) // SECOND for s in warnings] == [30 * 60, 48 * 60]
        assert all("ana.example" in s.to and "carmen.example" in s.to for s in warnings)
        # The duty manager also gets an email on step 4 of each round.
        breach_mails = [s for s in emails if "BREACH" in s.text]
        assert [round((s.at - opened).total_seconds() / 60) for s in breach_mails] == [80, 115, 150]
        status = await h.status(handle)
        assert status.response.state == "breached"
        assert status.breaches[0].outcome == "exhausted"
        assert status.sla_state == "breached"
        # The warnings are in the ticket's timeline beside the pages.
        warned = [n for n in status.sent if n.breach_id.startswith("warning-")]
        assert [(n.breach_id, n.ok) for n in warned] == [
            ("warning-response-50", True),
            ("warning-response-80", True),
        ]
        assert "ana" in warned[0].recipient and "ana.example" in warned[0].to
        assert {n.key for n in status.sent} == {s.key for s in h.notifier.sent}


async def test_acknowledgement_stops_the_ladder_and_is_recorded() -> None:
    async with harness() as h:
        handle, opened = await open_critical(h, "C-2")
        await h.advance_to(opened + timedelta(minutes=62))
        status = await h.update(
            handle, "acknowledge", AcknowledgeInput(responder="ana", channel="sms")
        )
        assert status.acknowledgements[0].responder == "ana"
        assert status.acknowledgements[0].breach_id == "response-1"
        assert status.breaches[0].outcome == "acknowledged"
        await h.advance_to(opened + timedelta(hours=3))
        # Only step 1 went out; nothing after the ack at 04:02.
        assert_schedule(
            pages(h), ladder(opened + timedelta(minutes=60), prokuria_critical_round(0)[:1])
        )
        # Acknowledged in step 1's window: its escalation never started.
        assert not await workflow_exists(h.client, status.breaches[0].escalation_workflow_id)
        # The target stays breached: an ack stops the paging, not the record.
        assert (await h.status(handle)).response.state == "breached"


async def test_first_response_in_time_sends_nothing_and_later_met_stops_ladder() -> None:
    async with harness() as h:
        opened = datetime(2026, 12, 8, 8, 0, tzinfo=BERLIN)
        await h.advance_to(opened)
        handle = await h.open("prokuria", "C-3", severity="critical", opened_at=opened)
        await h.advance_to(opened + timedelta(minutes=20))
        status = await h.update(handle, "first_response", FirstResponseInput(by="agent-7"))
        assert status.response.state == "met"
        await h.advance_to(opened + timedelta(hours=3))
        assert h.notifier.sent == []
        status = await h.status(handle)
        assert status.response.met_at is not None
        assert status.resolution.state == "on_track"


async def test_response_after_breach_stops_the_ladder() -> None:
    async with harness() as h:
        handle, opened = await open_critical(h, "C-4")
        await h.advance_to(opened + timedelta(minutes=67))
        status = await h.update(handle, "first_response", FirstResponseInput())
        # Met late is still a breach on record; the ladder stops (steps 1 and 2 only).
        assert status.response.state == "breached"
        await h.advance_to(opened + timedelta(hours=3))
        assert_schedule(
            pages(h), ladder(opened + timedelta(minutes=60), prokuria_critical_round(0)[:2])
        )
        assert (await h.status(handle)).breaches[0].outcome == "stopped"


async def test_reclassify_minor_to_critical_two_hours_in_breaches_at_once() -> None:
    async with harness() as h:
        opened = datetime(2026, 12, 8, 8, 0, tzinfo=BERLIN)  # Tuesday 08:00, working hours
        await h.advance_to(opened)
        handle = await h.open("prokuria", "M-1", opened_at=opened)  # no class: default minor
        assert (await h.status(handle)).severity == "minor"
        await h.advance_to(opened + timedelta(hours=2))
        status = await h.update(
            handle, "reclassify", ReclassifyInput(severity="critical", reason="all customers down")
        )
        # Critical response was due 09:00 (60 min from opening): breached at once, at 10:00.
        assert status.severity == "critical"
        assert status.response.state == "breached"
        assert status.response.due == opened + timedelta(minutes=60)
        assert status.resolution.due == opened + timedelta(hours=24)
        await h.advance_to(opened + timedelta(hours=2, minutes=6))
        assert_schedule(
            pages(h), ladder(opened + timedelta(hours=2), prokuria_critical_round(0)[:2])
        )


async def test_non_critical_breach_friday_evening_pages_nobody_until_monday_opening() -> None:
    async with harness() as h:
        # Intake hands over late on Friday: opened 15:00, arrives 18:30 (after closing).
        opened = datetime(2026, 12, 4, 15, 0, tzinfo=BERLIN)
        arrival = datetime(2026, 12, 4, 18, 30, tzinfo=BERLIN)
        await h.advance_to(arrival)
        handle = await h.open("prokuria", "J-1", severity="major", opened_at=opened)
        # Major response (90 min) was due 16:30: breached at 18:30. Step 1 is email + SMS:
        # the email goes now, the SMS waits for Monday 07 Dec 07:00 (not a Romanian holiday).
        await h.advance_to(datetime(2026, 12, 7, 6, 59, tzinfo=BERLIN))
        assert pages(h) == []
        emails = [s for s in h.notifier.sent if s.channel == "email"]
        assert len(emails) == 1 and abs(emails[0].at - arrival) < SECOND
        assert emails[0].to == "ana.example@example.com"
        monday = datetime(2026, 12, 7, 7, 0, tzinfo=BERLIN)
        await h.advance_to(monday + timedelta(minutes=31))
        # standard ladder: step 1 sms at opening, 15 min; step 2 voice, 15 min; step 3 bogdan.
        assert_schedule(
            pages(h),
            ladder(
                monday,
                [
                    (0, [("sms", ANA)]),
                    (15, [("voice", ANA)]),
                    (30, [("sms", BOGDAN), ("voice", BOGDAN)]),
                ],
            ),
        )
        assert (await h.status(handle)).response.state == "breached"


async def test_cargotask_standard_due_at_closing_pages_next_morning() -> None:
    async with harness() as h:
        # Standard: 8 business hours, Mon-Fri 09:00-17:00 Tallinn. Opened Tuesday 09:00:
        # due Tuesday 17:00 exactly at closing; pages wait for Wednesday 09:00.
        opened = datetime(2026, 12, 8, 9, 0, tzinfo=TALLINN)
        await h.advance_to(opened)
        handle = await h.open("cargotask", "S-1", opened_at=opened)
        status = await h.status(handle)
        assert status.severity == "standard"
        assert status.response.due == datetime(2026, 12, 8, 17, 0, tzinfo=TALLINN)
        assert status.resolution.state == "none" and status.resolution.due is None
        await h.advance_to(datetime(2026, 12, 9, 9, 16, tzinfo=TALLINN))
        wednesday = datetime(2026, 12, 9, 9, 0, tzinfo=TALLINN)
        assert_schedule(
            pages(h), ladder(wednesday, [(0, [("sms", KADRI)]), (15, [("voice", KADRI)])])
        )


@pytest.mark.parametrize("severity", ["critical", "serious"])
async def test_cargotask_emergency_pages_the_emergency_line_any_hour(severity: str) -> None:
    async with harness() as h:
        opened = datetime(2026, 12, 6, 2, 0, tzinfo=TALLINN)  # Sunday 02:00
        await h.advance_to(opened)
        await h.open("cargotask", f"E-{severity}", severity=severity, opened_at=opened)
        await h.advance_to(opened + timedelta(minutes=71))
        assert_schedule(
            pages(h),
            ladder(
                opened + timedelta(minutes=60),
                [
                    (0, [("sms", CT_LINE), ("sms", KADRI)]),
                    (5, [("voice", CT_LINE), ("voice", KADRI)]),
                    (10, [("sms", MART), ("voice", MART)]),
                ],
            ),
        )


async def test_provider_5xx_then_success_sends_exactly_one_sms() -> None:
    async with harness() as h:
        h.notifier.transient_failures = {"sms": 3}
        _, opened = await open_critical(h, "F-1")
        await h.advance_to(opened + timedelta(minutes=62))
        sms = h.notifier.to("sms")
        assert sorted(s.to for s in sms) == sorted([PRK_LINE, ANA])
        assert len({s.key for s in sms}) == 2
        sms_attempts = [k for c, k in h.notifier.attempts if c == "sms"]
        assert len(sms_attempts) == 5  # three failed attempts retried, one send each


async def test_invalid_number_moves_on_to_the_next_step_at_once() -> None:
    async with harness() as h:
        h.notifier.rejected_numbers = {PRK_LINE, ANA}
        handle, opened = await open_critical(h, "F-2")
        await h.advance_to(opened + timedelta(minutes=61))
        # Steps 1 and 2 reach nobody (rejected): step 3 (secondary) goes at the breach instant.
        assert_schedule(
            pages(h),
            ladder(opened + timedelta(minutes=60), [(0, [("sms", BOGDAN), ("voice", BOGDAN)])]),
        )
        status = await h.status(handle)
        failed = [n for n in status.sent if not n.ok]
        assert {(n.channel, n.to) for n in failed} == {
            ("sms", PRK_LINE),
            ("sms", ANA),
            ("voice", PRK_LINE),
            ("voice", ANA),
        }
        assert all("invalid" in n.detail for n in failed)


async def test_failed_delivery_callbacks_move_the_ladder_on() -> None:
    async with harness() as h:
        handle, opened = await open_critical(h, "F-3")
        await h.advance_to(opened + timedelta(minutes=61))
        first: list[Sent] = h.notifier.to("sms")
        assert len(first) == 2
        for s in first:
            await handle.signal(
                "delivery_status", DeliveryStatusInput(idempotency_key=s.key, status="undelivered")
            )
        await h.advance_to(opened + timedelta(minutes=61, seconds=30))
        # Step 2 (voice) went at once at 04:01, not at 04:05.
        voice = h.notifier.to("voice")
        assert sorted(v.to for v in voice) == sorted([PRK_LINE, ANA])
        assert all(abs(v.at - (opened + timedelta(minutes=61))) < 2 * SECOND for v in voice)
