"""Outage grouping on the real stack (`slawatch dev`, the Twilio stand-in): twenty critical
tickets breaching together page each number twice (the first page, then one digest), every
ticket names the message that paged it, and one reply with the digest's code stops them all."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from twilio.request_validator import RequestValidator

from slawatch.settings import DEV_ACCOUNT_SID
from slawatch.tools.testing import ANA, EMERGENCY
from tests.e2e_fixtures import GROUPING_TENANT, TWILIO_TOKEN, Stack, wait_for

TENANT = GROUPING_TENANT
TICKETS = 20
# Every ticket breaches 3 s after it opens, all within a few seconds of each other; the
# window (12 s, tests/e2e_fixtures.py) covers them, so the digest goes 12 s after the first.
_CODE = re.compile(r"Reply ([1-9][0-9]{3}) to acknowledge all (\d+)")


def test_twenty_breaches_page_each_number_twice_and_one_reply_stops_them_all(
    e2e_stack: Stack,
) -> None:
    with e2e_stack.http() as api:
        batch = uuid.uuid4().hex[:6]
        ids = [f"OUT-{batch}-{n:02d}" for n in range(TICKETS)]
        started = time.monotonic()
        # All opened at one instant, so all breach 3 s after it, or as they open if the
        # opening takes longer: a busy machine cannot spread them past the 12 s window.
        at = datetime.now(UTC).isoformat()
        for ticket_id in ids:
            body = {"tenant": TENANT, "ticket_id": ticket_id, "opened_at": at}
            opened = api.post("/v1/tickets", json=body)
            assert opened.status_code == 201, opened.text
        # "Breaching within 10 s": they open within that span.
        assert time.monotonic() - started < 10

        def sms_to(number: str) -> list[Any]:
            # This tenant's pages only: the emergency line is shared with tests/test_e2e.py's.
            return [
                r
                for r in e2e_stack.outbox()
                if r.channel == "sms" and r.to == [number] and f"{TENANT}/" in r.text
            ]

        def statuses() -> list[dict[str, Any]] | None:
            found = [api.get(f"/v1/tickets/{TENANT}/{t}").json() for t in ids]
            paged = [
                s
                for s in found
                if sum(1 for n in s["sent"] if n["channel"] == "sms" and n["ok"]) == 2
            ]
            return found if len(paged) == TICKETS else None

        status = wait_for("every ticket to record its two SMS pages", statuses, limit=60)
        time.sleep(2)  # anything more would go now: a digest of a digest, a stray page
        # The API names who was paged by responder id, never by number.
        for number, who in ((EMERGENCY, "emergency_line"), (ANA, "ana")):
            texts = sms_to(number)
            assert len(texts) == 2, [t.text for t in texts]
            first, digest = texts
            found = _CODE.search(digest.text)
            assert found and found.group(2) == str(TICKETS), digest.text
            assert f"{TICKETS - 1} more tickets breached" in digest.text
            # Only what a page carries: references, class, target; never customer data.
            assert "Seconds-scale" not in digest.text and "example.com" not in digest.text
            # Each ticket's timeline names the message that paged it: the first page (one
            # ticket) or the digest (the other nineteen), by the SID Twilio answered with.
            by_sid: dict[str, int] = {}
            for s in status:
                [page] = [n for n in s["sent"] if n["channel"] == "sms" and n["to"] == who]
                by_sid[page["detail"]] = by_sid.get(page["detail"], 0) + 1
                assert page["group"] and page["folded"] == (page["detail"] == digest.sid)
            assert by_sid == {first.sid: 1, digest.sid: TICKETS - 1}

        # One reply with the digest's code, from Ana, acknowledges all twenty.
        code = _CODE.search(sms_to(ANA)[1].text).group(1)  # type: ignore[union-attr]
        url = f"{e2e_stack.api}/twilio/sms"
        form = {
            "AccountSid": DEV_ACCOUNT_SID,
            "MessageSid": "SM" + uuid.uuid4().hex,
            "From": ANA,
            "To": "+15005550006",
            "Body": code,
        }
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, form)
        reply = api.post(url, data=form, headers={"X-Twilio-Signature": signature})
        assert reply.status_code == 200 and "acknowledged" in reply.text, reply.text

        def all_acknowledged() -> bool:
            found = [api.get(f"/v1/tickets/{TENANT}/{t}").json() for t in ids]
            return all(s["breaches"][0]["outcome"] == "acknowledged" for s in found)

        wait_for("every ticket of the group to be acknowledged", all_acknowledged, limit=30)
        for ticket_id in ids:
            s = api.get(f"/v1/tickets/{TENANT}/{ticket_id}").json()
            [ack] = s["acknowledgements"]
            assert (ack["responder"], ack["channel"]) == ("ana", "sms")
