"""A ladder that waits for its first ack window (patch `ladder-after-first-window`).

The ticket pages round 1, step 1 from its breach task and starts the escalation only when that
step's ack window ends unacknowledged. On the time-skipping server with the Prokuria critical
ladder: step 1 texts the emergency line and Ana and waits 5 minutes; step 2 calls them.
"""

from __future__ import annotations

from datetime import timedelta

from policies.schema import Channel
from slawatch.models import AcknowledgeInput, FirstResponseInput
from tests.harness import harness, workflow_exists
from tests.ladder_scenarios import ANA, NIGHT, open_critical

BREACH = timedelta(minutes=60)  # Prokuria critical: 60 min response, 24x7
WINDOW = timedelta(minutes=5)


async def test_an_acknowledgement_in_the_first_window_means_no_escalation_ever_runs() -> None:
    async with harness() as h:
        handle, opened = await open_critical(h, "W-1")
        await h.advance_to(opened + BREACH + timedelta(minutes=2))
        status = await h.update(
            handle, "acknowledge", AcknowledgeInput(responder="ana", channel="sms")
        )
        assert status.breaches[0].outcome == "acknowledged"
        await h.advance_to(opened + timedelta(hours=3))
        # Step 1's two texts, nothing after; no escalation execution was ever started.
        assert [s.channel for s in h.notifier.sent if s.channel != "email"] == ["sms", "sms"]
        assert not await workflow_exists(h.client, status.breaches[0].escalation_workflow_id)
        status = await h.status(handle)
        assert status.breaches[0].outcome == "acknowledged" and status.breaches[0].level == 1


async def test_a_late_first_response_in_the_first_window_stops_the_ladder_unstarted() -> None:
    async with harness() as h:
        handle, opened = await open_critical(h, "W-2")
        await h.advance_to(opened + BREACH + timedelta(minutes=3))
        status = await h.update(handle, "first_response", FirstResponseInput())
        assert status.response.state == "breached" and status.breaches[0].outcome == "stopped"
        await h.advance_to(opened + timedelta(hours=3))
        assert [s.channel for s in h.notifier.sent if s.channel != "email"] == ["sms", "sms"]
        assert not await workflow_exists(h.client, status.breaches[0].escalation_workflow_id)


async def test_a_ladder_waiting_across_continue_as_new_starts_in_the_next_run() -> None:
    async with harness() as h:
        await h.advance_to(NIGHT)
        # Short enough that the run continues as new right after the breach's pages.
        handle = await h.open(
            "prokuria", "W-3", severity="critical", opened_at=NIGHT, continue_as_new_after=20
        )
        first_run = (await handle.describe()).run_id
        await h.advance_to(NIGHT + BREACH + timedelta(minutes=2))
        latest = h.client.get_workflow_handle(handle.id)
        assert (await latest.describe()).run_id != first_run
        status = await h.status(latest)
        assert not await workflow_exists(h.client, status.breaches[0].escalation_workflow_id)
        await h.advance_to(NIGHT + BREACH + WINDOW + timedelta(minutes=1))
        # Step 2 at the end of step 1's window, to the same people with the same codes.
        calls = [s for s in h.notifier.sent if s.channel == "voice"]
        assert {round((c.at - NIGHT - BREACH).total_seconds()) for c in calls} == {300}
        status = await h.status(h.client.get_workflow_handle(handle.id))
        assert status.escalation_level == 2
        code = {n.channel: n.code for n in status.sent if n.to == ANA}
        assert code[Channel.SMS] is not None and code[Channel.SMS] == code[Channel.VOICE]
        assert await workflow_exists(h.client, status.breaches[0].escalation_workflow_id)
