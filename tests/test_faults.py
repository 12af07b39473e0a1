"""Fault tests on the real pieces: kill -9 the worker, kill the SQLite dev server, a flaky
Twilio, SendGrid down. "Exactly once" is counted at the stand-ins, per idempotency key."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from temporalio.client import WorkflowQueryFailedError

from slawatch.models import TargetState, TicketStatus
from slawatch.tools.process import poll_until
from slawatch.tools.standins.faults import FaultPlan
from tests.fault_fixtures import Rig, fault_policy, step
from tests.harness import harness

ANA = "roles: [primary]"
SENDGRID_LADDER = [
    step("email, sms", 2, ANA),
    step("voice", 2, ANA),
    step("email, sms", 2, ANA),
]
SMS_THEN_CALL = [
    step("sms", 15),
    step("voice", 60),
]

# Whole stacks (dev server, worker subprocesses, stand-ins) with hundreds of tickets: about a
# minute each on a quiet machine, and more on a loaded one. Still bounded, still named.
pytestmark = pytest.mark.timeout(300)


TICKETS = 40


def key(ticket_id: str, label: str, channel: str, who: str = "emergency_line") -> str:
    """The idempotency key of one step's send (see workflows/dispatch.py)."""
    return f"ticket/faults/{ticket_id}/response-1/{label}/{channel}/{who}"


async def test_kill_9_worker_mid_ladders_sends_every_step_once(rig: Rig) -> None:
    rig.write_policy(fault_policy(4, SMS_THEN_CALL))
    await rig.start_worker()
    # 40 tickets: enough to kill the worker mid-flight with ladders at every point (the kill
    # waits for the first SMS of all of them), and a third of the time of the 100 it had, so
    # the suite keeps within 10 minutes on 2 cores.
    ids = rig.ticket_ids(TICKETS)
    sms = {key(t, "r1s1", "sms") for t in ids}
    calls = {key(t, "r1s2", "voice") for t in ids}
    began = time.monotonic()
    await rig.open(ids)

    # Kill while all ladders sit in an ack window: every first SMS is in the ledger as
    # sent and no send is in flight (on a slow machine a few ladders may already be in step
    # 2's window; that is an ack wait too). A kill in the middle of a request could not be made
    # exactly-once by anyone (Twilio may have carried out a request whose answer we never
    # saw), and the ledger re-sends such a key on purpose: a missed page is worse than a
    # duplicate. So we also read which keys were "sending" at the kill and allow only those
    # to repeat; waiting for the quiet moment makes that set empty in practice.
    def quiet() -> bool:
        ledger = rig.ledger()
        every_sms_sent = all(ledger.get(k, ("",))[0] == "sent" for k in sms)
        return every_sms_sent and not any(v[0] == "sending" for v in ledger.values())

    await poll_until("all first SMS sent with nothing in flight", quiet, limit=120)
    all_sms_at = time.monotonic() - began
    await rig.kill_worker()
    at_kill = rig.ledger()
    in_flight = {k for k, v in at_kill.items() if v[0] == "sending"}
    calls_before = len(calls & at_kill.keys())
    restarted = time.monotonic()
    await rig.start_worker()

    await poll_until(
        "every ticket's call after the restart", lambda: calls <= rig.delivered("voice").keys(), 120
    )
    all_calls_at = time.monotonic() - restarted
    await poll_until(
        "no send left in flight", lambda: not any(v[0] == "sending" for v in rig.ledger().values())
    )

    counts = rig.delivered("sms") | rig.delivered("voice")
    assert sms | calls <= counts.keys(), "a step was skipped"
    repeated = {k for k, n in counts.items() if n > 1}
    assert repeated <= in_flight, f"sent twice though not in flight at the kill: {repeated}"
    assert counts.keys() == sms | calls, "a step nobody asked for went out"
    # A ticket hears of its call a moment after the stand-in saw it (the escalation's signal).
    heard: list[TicketStatus] = []

    async def every_ticket_heard_of_its_call() -> bool:
        heard[:] = await rig.statuses(ids)
        return all(len(s.sent) >= 2 for s in heard)

    await poll_until("every ticket to hear of its call", every_ticket_heard_of_its_call, 30)
    for status in heard:
        assert [(n.channel.value, n.ok) for n in status.sent] == [("sms", True), ("voice", True)]
        # Nobody acknowledged: still in step 2's window, or past it on a slow machine.
        assert [b.outcome for b in status.breaches] in (["escalating"], ["exhausted"])
    print(
        f"kill -9: {TICKETS} tickets; all first SMS sent {all_sms_at:.1f} s after opening; "
        f"{len(in_flight)} sends in flight and {calls_before} calls made at the kill; "
        f"all calls {all_calls_at:.1f} s after the restart; duplicates {len(repeated)}"
    )


async def test_sqlite_dev_server_killed_mid_flight_loses_no_ticket_and_fires_every_timer(
    rig: Rig,
) -> None:
    rig.write_policy(fault_policy(5, SMS_THEN_CALL[:1]))
    await rig.start_worker()
    ids = rig.ticket_ids(20)
    await rig.open(ids)
    # Straight after the starts were accepted: some tickets have run their first task, some
    # not. The server stays down past every response deadline, so each timer comes due while
    # nothing is running and must fire after the restart.
    await rig.server.kill()
    await asyncio.sleep(8)
    await rig.server.start()

    sms = {key(t, "r1s1", "sms") for t in ids}
    await poll_until("every ticket's breach SMS", lambda: sms <= rig.delivered("sms").keys(), 120)
    statuses = await rig.statuses(ids)
    assert sorted(s.ticket_id for s in statuses) == sorted(ids)
    for status in statuses:
        assert status.response.state is TargetState.BREACHED
        assert [h.event for h in status.history][:2] == ["opened", "breached"]
        breach = status.breaches[0]
        assert status.response.due is not None and breach.at >= status.response.due
    assert set(rig.delivered("sms").values()) == {1}


async def test_flaky_twilio_loses_no_notification_and_repeats_none_it_saw_answered(
    rig: Rig,
) -> None:
    rig.write_policy(
        fault_policy(
            3,
            [
                step("sms", 3, "emergency_line: true, roles: [primary]"),
                # Long enough for a redelivery. A page throttled three times running counts as
                # refused for the account; it is tried again 5 s after the escalation starts,
                # but only while the ladder runs (docs/design.md, "Delivery assurance"). With a
                # 2 s window here the ladder ended at the breach + 5 s, before that retry, and
                # the page was never sent (seen once in a full run on a fresh clone).
                step("voice", 30),
            ],
        )
    )
    # 30% of Twilio requests fail: 10% answer 500, 10% 429, 10% are held past the worker's
    # request timeout (2 s here, 10 s in production) before the stand-in carries them out.
    rig.standins.twilio.standin.faults = FaultPlan(
        error=0.1, throttle=0.1, delay=0.1, delay_seconds=3, seed=30
    )
    await rig.start_worker(request_timeout=2.0)
    ids = rig.ticket_ids(30)
    wanted = set()
    for t in ids:
        wanted |= {key(t, "r1s1", "sms"), key(t, "r1s1", "sms", "ana"), key(t, "r1s2", "voice")}
    await rig.open(ids)

    def all_sent() -> bool:
        ledger = rig.ledger()
        return all(ledger.get(k, ("",))[0] == "sent" for k in wanted)

    await poll_until("every notification through the faults", all_sent, limit=150)
    # Requests the client gave up on still arrive at the stand-in up to 3 s later.
    await asyncio.sleep(3.5)
    records = rig.deliveries()
    faults = [r["fault"] for rs in records.values() for r in rs]
    assert {"error", "throttle", "delay"} <= set(faults), faults
    late = 0
    for k in wanted:
        ok = [r for r in records[k] if 200 <= r["status"] < 300]
        # Answered in time: exactly one per notification. Only a request the worker gave up
        # on (timed out) may also have been carried out: Twilio has no idempotency key, so
        # after a timeout nobody can know, and the design re-sends rather than miss a page.
        assert len([r for r in ok if r["fault"] != "delay"]) == 1, (k, records[k])
        late += len([r for r in ok if r["fault"] == "delay"])
    # A send throttled three times running counts as account-wide (activities/vendor_errors.py)
    # and brings the step's fallback email at once; nothing else went out.
    fallback = {k for k in records if "-fallback/email/" in k}
    assert records.keys() - fallback == wanted
    for status in await rig.statuses(ids):
        pages = [n for n in status.sent if n.ok and "-fallback/" not in n.key]
        assert sorted(n.channel.value for n in pages) == ["sms", "sms", "voice"]
        # The ticket shows each fallback email it sent, and only those the stand-in received.
        assert {n.key for n in status.sent if n.ok and "-fallback/" in n.key} <= fallback
    print(
        f"flaky Twilio: {len(wanted)} notifications, {len(faults)} requests, "
        f"{sum(f is not None for f in faults)} faulted ({faults.count('error')} x 500, "
        f"{faults.count('throttle')} x 429, {faults.count('delay')} timed out); "
        f"{late} timed-out requests also carried out (duplicates the design allows)"
    )


async def test_sendgrid_down_for_the_whole_ladder_emails_arrive_once_and_pages_keep_time(
    rig: Rig,
) -> None:
    rig.write_policy(fault_policy(3, SENDGRID_LADDER, warn_at=[50]))
    # SendGrid answers 500 to everything from before the first warning email until the whole
    # ladder has paged: "minutes" at this policy's scale (several ack windows).
    rig.standins.sendgrid.standin.faults = FaultPlan(error=1.0)
    await rig.start_worker()
    ids = rig.ticket_ids(5)
    pages, emails = set(), set()
    for t in ids:
        pages |= {
            key(t, s, c, "ana") for s, c in (("r1s1", "sms"), ("r1s2", "voice"), ("r1s3", "sms"))
        }
        emails |= {key(t, s, "email", "ana") for s in ("r1s1", "r1s3")}
        emails.add(f"ticket/faults/{t}/warning-response-50-critical")
    began = time.monotonic()
    await rig.open(ids)

    def paged() -> bool:
        found = rig.delivered("sms") | rig.delivered("voice")
        return pages <= found.keys()

    await poll_until("every page of the ladder while SendGrid is down", paged, limit=60)

    def each_email_retried() -> bool:
        # A second attempt claimed during the outage: the first was refused. (The last step's
        # email goes beside its page, so when that page lands it may not have been tried yet;
        # ending the outage then let it through on its first try, and the run failed.)
        ledger = rig.ledger()
        return all(k in ledger and ledger[k][1] >= 2 for k in emails)

    await poll_until("every email refused once and tried again", each_email_retried, limit=60)
    outage = time.monotonic() - began
    assert not rig.delivered("email")
    rig.standins.sendgrid.standin.faults = FaultPlan()

    await poll_until(
        "every email after SendGrid is back", lambda: emails <= rig.delivered("email").keys(), 90
    )
    await poll_until(
        "no send left in flight", lambda: not any(v[0] == "sending" for v in rig.ledger().values())
    )
    assert set(
        (rig.delivered("sms") | rig.delivered("voice") | rig.delivered("email")).values()
    ) == {1}
    ledger = rig.ledger()
    assert all(ledger[k][1] >= 2 for k in emails), "emails were not retried through the outage"
    records = rig.deliveries()
    for t in ids:
        at = {
            s: datetime.fromisoformat(records[key(t, s, c, "ana")][0]["at"])
            for s, c in (("r1s1", "sms"), ("r1s2", "voice"), ("r1s3", "sms"))
        }
        # Each ack window ran in full between the pages, none was stretched by the emails.
        assert (at["r1s2"] - at["r1s1"]).total_seconds() >= 2
        assert (at["r1s3"] - at["r1s2"]).total_seconds() >= 2
    # The stand-in has each email a moment before its ticket hears of it (activity completed,
    # escalation task, signal to the ticket): wait for every ticket's timeline to have them.
    deadline = time.monotonic() + 30
    while True:
        statuses = await rig.statuses(ids)
        heard = [
            len([n for n in st.sent if n.ok and n.channel.value == "email"]) for st in statuses
        ]
        if heard == [3] * len(ids) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    for status in statuses:
        ladder_sent = [n for n in status.sent if n.ok and not n.breach_id.startswith("warning-")]
        # The warning email is in the timeline too, sent once SendGrid was back.
        assert [n.ok for n in status.sent if n.breach_id == "warning-response-50"] == [True]
        sent = sorted((n.channel.value, n.key.split("/")[-3]) for n in ladder_sent)
        assert sent == [
            ("email", "r1s1"),
            ("email", "r1s3"),
            ("sms", "r1s1"),
            ("sms", "r1s3"),
            ("voice", "r1s2"),
        ]
    print(
        f"SendGrid down {outage:.1f} s: the whole ladder paged meanwhile; "
        f"{len(emails)} emails sent once after"
    )


async def test_email_outage_never_moves_the_clock_or_the_pages_time_skipping(
    tmp_path: Path,
) -> None:
    # The same ladder on the time-skipping server, where instants are exact: with every email
    # failing for the whole retry budget, the breach and each page keep their instants.
    (tmp_path / "faults.yaml").write_text(fault_policy(3, SENDGRID_LADDER, warn_at=[50]))
    async with harness(tmp_path) as h:
        h.notifier.transient_failures["email"] = 10**6
        opened = await h.now()
        handle = await h.open("faults", "S-1")
        await h.advance_to(opened + timedelta(minutes=11))

        # Each email's last failure reaches the ticket through the escalation's signal, which a
        # loaded machine may still be carrying when the clock stops: wait for both (the clock
        # stands still meanwhile, so this waits on the machine, not on slawatch's time).
        async def both_emails_recorded() -> TicketStatus | None:
            status = await h.status(handle)
            ladder = [n for n in status.sent if n.channel.value == "email"]
            failed = [n for n in ladder if not n.ok and not n.breach_id.startswith("warn")]
            return status if len(failed) >= 2 else None

        status = await poll_until("both ladder emails recorded", both_emails_recorded, 30)
    pages = [(s.channel, (s.at - opened).total_seconds()) for s in h.notifier.sent]
    assert [channel for channel, _ in pages] == ["sms", "voice", "sms"]
    # Breach at 3 s, then a 2 s ack window per step. A window opens once its step's pages have
    # gone (real time on this server too), so each step is held to its own window, not to a sum:
    # an email waiting out its retries would hold a step back by minutes.
    at = [seconds for _, seconds in pages]
    assert abs(at[0] - 3) < 1 and all(abs(b - a - 2) < 1 for a, b in pairwise(at)), at
    assert round((status.breaches[0].at - opened).total_seconds()) == 3
    emails = [
        n for n in status.sent if n.channel.value == "email" and not n.breach_id.startswith("warn")
    ]
    # Each email was tried until its 10-minute budget ran out, then recorded as failed.
    assert [(n.key.split("/")[-3], n.ok) for n in emails] == [("r1s1", False), ("r1s3", False)]
    assert h.notifier.attempts.count(("email", emails[0].key)) > 3


async def test_twilio_refusing_every_request_never_burns_the_ladder_and_recovers_once(
    rig: Rig,
) -> None:
    # An expired Twilio token: every request answers 401 (code 20003). The seconds-scale
    # ladder would otherwise run through all three steps in a few seconds and page nobody.
    rig.write_policy(fault_policy(1, SENDGRID_LADDER))
    rig.standins.twilio.standin.faults = FaultPlan(unauthorized=True)
    await rig.start_worker()
    ids = rig.ticket_ids(3)
    await rig.open(ids)

    async def failing() -> bool:
        try:
            return all(s.delivery == "failing" for s in await rig.statuses(ids))
        except WorkflowQueryFailedError:  # a ticket still starting
            return False

    began = time.monotonic()
    await poll_until("every ticket to show delivery failing", failing, limit=30)
    shown = time.monotonic() - began
    # The other vendor carries the news at once: the step's email, and the fallback email.
    fallback = {key(t, "r1s1-fallback", "email", "ana") for t in ids}
    await poll_until("the fallback emails", lambda: fallback <= rig.delivered("email").keys(), 30)
    await asyncio.sleep(6)  # several of the ladder's 2-second ack windows
    for status in await rig.statuses(ids):
        assert status.escalation_level == 1, "the ladder moved on while nothing was delivered"
        assert [b.outcome for b in status.breaches] == ["escalating"]
    assert not rig.delivered("sms") and not rig.delivered("voice")

    rig.standins.twilio.standin.faults = FaultPlan()  # the token is renewed
    first_sms = {key(t, "r1s1", "sms", "ana") for t in ids}
    calls = {key(t, "r1s2", "voice", "ana") for t in ids}
    await poll_until("the pending SMS", lambda: first_sms <= rig.delivered("sms").keys(), 60)
    await poll_until("the ladder going on", lambda: calls <= rig.delivered("voice").keys(), 60)
    assert set((rig.delivered("sms") | rig.delivered("voice")).values()) == {1}
    for status in await rig.statuses(ids):
        assert status.delivery == "ok"
    print(f"Twilio 401: delivery shown failing after {shown:.1f} s; pages sent once after")
