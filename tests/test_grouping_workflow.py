"""Outage grouping in the workflows, time-skipping: the first page at once, the folded ones by
one digest when the window ends, each ticket's record naming its message, one group ack."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from slawatch.models import AcknowledgeInput
from slawatch.tools.testing import ANA, EMERGENCY
from tests.grouping_fixtures import TENANT, grouping_harness


async def test_pages_fold_into_one_digest_at_the_window_end_and_one_code_acks_all(
    tmp_path: Path,
) -> None:
    async with grouping_harness(tmp_path) as (h, phone):
        tickets = []
        for n in range(3):
            # A second apart, so T-0 breaches first and leads both groups.
            tickets.append(await h.open(TENANT, f"T-{n}"))
            await h.sleep(timedelta(seconds=1))
        await h.sleep(timedelta(seconds=60))
        # The first page to each number went at once; the other two tickets' were folded.
        assert sorted(to for to, _, _ in phone.texts) == [ANA, EMERGENCY]
        before = [await h.status(t) for t in tickets]
        assert [len([n for n in s.sent if n.channel == "sms"]) for s in before] == [2, 0, 0]
        await h.sleep(timedelta(seconds=100))
        assert len(phone.texts) == 2, "nothing more before the window ends"

        await h.sleep(timedelta(seconds=30))
        assert len(phone.texts) == 4
        digests = {to: (body, sid) for to, body, sid in phone.texts[2:]}
        assert set(digests) == {ANA, EMERGENCY}
        body, digest_sid = digests[ANA]
        assert "2 more tickets breached: grp/T-1 (critical response)" in body
        assert "Reply " in body and "to acknowledge all 3 (with grp/T-0)" in body
        statuses = [await h.status(t) for t in tickets]
        first_sid = next(sid for to, _, sid in phone.texts[:2] if to == ANA)
        pages = [next(n for n in s.sent if n.to == ANA) for s in statuses]
        # Each ticket's record names the message that paged it, and its group.
        assert [p.detail for p in pages] == [first_sid, digest_sid, digest_sid]
        assert [p.folded for p in pages] == [False, True, True]
        assert len({p.group for p in pages}) == 1 and pages[0].group
        code = pages[1].code
        assert code is not None and f"Reply {code} " in body and pages[2].code == code

        # The group's acknowledgement, as the SMS webhook sends it to each ticket of the group.
        now = await h.now()
        for t in tickets:
            ack = AcknowledgeInput(
                responder="ana", channel="sms", phone=ANA, received_at=now, group=pages[0].group
            )
            await h.update(t, "acknowledge", ack)
        await h.settle()
        done = [await h.status(t) for t in tickets]
        assert [s.breaches[0].outcome for s in done] == ["acknowledged"] * 3
        # The ladders stopped: nobody is called at step 2.
        await h.sleep(timedelta(minutes=15))
        assert len(phone.texts) == 4 and phone.calls == []
