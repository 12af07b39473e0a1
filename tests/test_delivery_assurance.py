"""Never page nobody: a vendor refusing our account holds the ladder, says so, and falls back.

On the time-skipping server with the Prokuria seed policy. The critical ladder's first step
SMSes the emergency line and Ana and waits 5 minutes; the second calls them.
"""

from __future__ import annotations

from datetime import timedelta

from slawatch.models import AcknowledgeInput, DeliveryStatusInput, TicketStatus
from tests.harness import Sent, harness
from tests.ladder_scenarios import ANA, CARMEN, PRK_LINE, open_critical

BREACH = timedelta(minutes=60)  # Prokuria critical: 60 min response, 24x7


def keys(sent: list[Sent], channel: str) -> list[str]:
    return [s.key for s in sent if s.channel == channel]


async def test_twilio_refusing_the_account_holds_the_ladder_says_failing_and_emails() -> None:
    async with harness() as h:
        handle, opened = await open_critical(h, "DA-1")
        h.notifier.account_down.add("sms")
        h.notifier.account_down.add("voice")
        await h.advance_to(opened + BREACH + timedelta(seconds=2))
        status: TicketStatus = await h.status(handle)
        assert status.delivery == "failing", status.delivery_problems
        assert "sms refused for the account" in status.delivery_problems[0]
        assert "delivery_failing" in [e.event for e in status.history]
        # The other vendor carries the news at once: the step's people and the duty manager.
        emailed = {s.to for s in h.notifier.sent if s.channel == "email"}
        assert {"ana.example@example.com", "carmen.example@example.com"} <= {
            a for to in emailed for a in to.split(",")
        }, emailed
        # Half an hour of refusals: the ladder has not burned (still step 1, nothing sent).
        await h.advance_to(opened + BREACH + timedelta(minutes=30))
        status = await h.status(handle)
        assert status.escalation_level == 1
        assert [b.outcome for b in status.breaches] == ["escalating"]
        assert keys(h.notifier.sent, "sms") == []
        tries = [k for c, k in h.notifier.attempts if c == "sms"]
        assert len(tries) >= 8  # retried with backoff (5 s doubling to 5 min), not given up
        # Twilio answers again: each pending page goes once, then the ack window runs.
        h.notifier.account_down.clear()
        recovered = await h.now()
        await h.advance_to(recovered + timedelta(minutes=5, seconds=30))
        sms = [(s.to, s.key) for s in h.notifier.sent if s.channel == "sms"]
        assert sorted(to for to, _ in sms) == sorted([PRK_LINE, ANA]), sms
        assert len({k for _, k in sms}) == len(sms)
        status = await h.status(handle)
        assert status.delivery == "ok"
        assert "delivery_restored" in [e.event for e in status.history]
        # ...and the ladder goes on: step 2 calls when its 5-minute window after delivery ends.
        delivered = max(s.at for s in h.notifier.sent if s.channel == "sms")
        await h.advance_to(delivered + timedelta(minutes=5, seconds=2))
        calls = [s for s in h.notifier.sent if s.channel == "voice"]
        assert {c.to for c in calls} == {PRK_LINE, ANA}, calls
        assert all(
            abs(c.at - delivered - timedelta(minutes=5)) < timedelta(seconds=2) for c in calls
        )
        assert CARMEN not in {s.to for s in h.notifier.sent if s.channel != "email"}


async def test_a_country_refused_by_geo_permissions_does_not_stop_the_others() -> None:
    async with harness() as h:
        handle, opened = await open_critical(h, "DA-2")
        h.notifier.geo_blocked.add("+40721")  # Ana's prefix only; the emergency line goes
        await h.advance_to(opened + BREACH + timedelta(seconds=2))
        assert [s.to for s in h.notifier.sent if s.channel == "sms"] == [PRK_LINE]
        status = await h.status(handle)
        assert status.delivery == "failing"
        # The line was paged: its ack window runs and step 2 comes on time.
        await h.advance_to(opened + BREACH + timedelta(minutes=5, seconds=2))
        assert PRK_LINE in {s.to for s in h.notifier.sent if s.channel == "voice"}


async def test_an_sms_not_delivered_is_followed_by_a_call_at_once_and_kept_in_the_timeline() -> (
    None
):
    async with harness() as h:
        handle, opened = await open_critical(h, "DA-3")
        await h.advance_to(opened + BREACH + timedelta(seconds=2))
        ana_sms = next(s for s in h.notifier.sent if s.channel == "sms" and s.to == ANA)
        await handle.signal(
            "delivery_status",
            DeliveryStatusInput(idempotency_key=ana_sms.key, status="undelivered"),
        )
        await h.advance_to(await h.now() + timedelta(seconds=3))
        calls = [s for s in h.notifier.sent if s.channel == "voice"]
        assert [c.to for c in calls] == [ANA], calls  # only Ana, and well before step 2
        assert calls[0].at - opened < BREACH + timedelta(minutes=1)
        status = await h.status(handle)
        outcome = {n.key: n.outcome for n in status.sent}
        assert outcome[ana_sms.key] == "undelivered"


async def test_a_call_answered_by_a_machine_moves_the_ladder_on() -> None:
    async with harness() as h:
        handle, opened = await open_critical(h, "DA-4")
        await h.advance_to(opened + BREACH + timedelta(minutes=5, seconds=2))
        calls = [s for s in h.notifier.sent if s.channel == "voice"]
        assert {c.to for c in calls} == {PRK_LINE, ANA}
        for call in calls:
            await handle.signal(
                "delivery_status", DeliveryStatusInput(idempotency_key=call.key, status="machine")
            )
        await h.advance_to(await h.now() + timedelta(seconds=5))
        # Step 3 (the secondary) is paged at once instead of after the 5-minute window.
        status = await h.status(handle)
        assert status.escalation_level == 3, status.escalation_level
        step2 = {c.key for c in calls}
        assert {n.outcome for n in status.sent if n.key in step2} == {"machine"}


async def test_acknowledging_while_delivery_fails_ends_the_retries_and_the_failing_state() -> None:
    async with harness() as h:
        handle, opened = await open_critical(h, "DA-5")
        h.notifier.account_down.update({"sms", "voice"})
        await h.advance_to(opened + BREACH + timedelta(seconds=2))
        assert (await h.status(handle)).delivery == "failing"
        # Ana heard by the fallback email and acknowledges through the help desk.
        ack = AcknowledgeInput(responder="ana", channel="api")
        status = await h.update(handle, "acknowledge", ack)
        assert status.delivery == "ok" and status.delivery_problems == []
        tries = len(h.notifier.attempts)
        await h.advance_to(await h.now() + timedelta(minutes=20))
        assert len(h.notifier.attempts) == tries  # no more retries for an acknowledged breach


async def test_sendgrid_refusing_the_account_falls_back_to_sms() -> None:
    async with harness() as h:
        handle, opened = await open_critical(h, "DA-6")
        h.notifier.account_down.add("email")
        # Step 4 (20 min after the breach) calls and emails the duty manager, Carmen.
        await h.advance_to(opened + BREACH + timedelta(minutes=20, seconds=2))
        fallback = [s for s in h.notifier.sent if s.channel == "sms" and "fallback" in s.key]
        assert [s.to for s in fallback] == [CARMEN], fallback
        assert "Reply" in fallback[0].text  # with her one-time code
        status = await h.status(handle)
        assert status.delivery == "failing"
        assert any("email refused for the account" in p for p in status.delivery_problems)
        h.notifier.account_down.clear()
        await h.advance_to(await h.now() + timedelta(minutes=6))
        emailed = [s for s in h.notifier.sent if s.channel == "email" and "/r1s4/" in s.key]
        assert len(emailed) == 1  # the refused email went once it could
