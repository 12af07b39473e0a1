"""The workflow test harness itself: time moves only when a test says so, and then settles."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tests.harness import harness

TUESDAY_0800 = datetime(2026, 12, 8, 8, 0, tzinfo=ZoneInfo("Europe/Berlin"))


async def test_sleeping_onto_a_deadline_returns_after_the_ticket_acted_on_it() -> None:
    # A major ticket's 90-minute response target runs out exactly where the sleep ends. The
    # status read right after must already show the breach: a test that reads, acts and reads
    # again must not find the clock acting in between (the event fuzzer's flake).
    async with harness() as h:
        handle = await h.open("prokuria", "H-1", severity="major", opened_at=TUESDAY_0800)
        await h.advance_to(TUESDAY_0800)
        await h.sleep(timedelta(minutes=90))
        status = await h.status(handle)
        assert status.response.state.value == "breached", status.response
        assert [e.event for e in status.history].count("breached") == 1
        assert len(status.breaches) == 1
        # Still: nothing moves while the test only reads.
        again = await h.status(handle)
        assert again.history == status.history
        # While locked the test server's clock runs at wall-clock speed, never skipping.
        assert await h.now() - (TUESDAY_0800 + timedelta(minutes=90)) < timedelta(seconds=5)
