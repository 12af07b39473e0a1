"""Acknowledging an outage group: the digest's code (or 1 on a digest call) stops every ticket of
the group, the first page's included; a ticket's own code stops that ticket only."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from intake.webhooks import SMS_PATH
from policies.schema import Channel
from slawatch.messages import GATHER_PATH
from slawatch.models import SentNotification
from tests.intake_fixtures import Api, bearer, new_ticket_id
from tests.twilio_posts import ANA, post, status

GROUP = "grp_00000000000000aa"


async def paged(api: Api, code: str, group: str | None, folded: bool) -> str:
    """A prokuria ticket whose breach paged Ana by SMS (maybe in an outage group)."""
    tid = new_ticket_id()
    body = {"tenant": "prokuria", "ticket_id": tid, "severity": "critical"}
    assert (await api.http.post("/v1/tickets", json=body, headers=bearer())).status_code == 201
    wf = f"ticket/prokuria/{tid}"
    sent = SentNotification(
        breach_id="response-1",
        key=f"{wf}/response-1/r1s1/sms/ana",
        channel=Channel.SMS,
        to=ANA,
        recipient="ana",
        at=datetime.now(UTC),
        ok=True,
        code=code,
        group=group,
        folded=folded,
    )
    await api.client.get_workflow_handle(wf).signal("fake_breach", sent)
    query = f"WorkflowId = '{wf}' AND SlaPagedTo = '{ANA}'"
    for _ in range(100):  # visibility lags the workflow task by a few milliseconds
        if [w async for w in api.client.list_workflows(query)]:
            break
        await asyncio.sleep(0.05)
    return wf


async def acked(api: Api, wf: str) -> bool:
    return bool((await status(api, wf)).acknowledgements)


async def test_the_digest_code_acknowledges_the_whole_group_and_nothing_else(api: Api) -> None:
    lead = await paged(api, "1111", GROUP, folded=False)
    folded = [await paged(api, "7777", GROUP, folded=True) for _ in range(2)]
    other = await paged(api, "3333", None, folded=False)
    reply = await post(api, SMS_PATH, {}, {"From": ANA, "Body": "7777"})
    assert "acknowledged" in reply.text, reply.text
    assert [await acked(api, wf) for wf in (lead, *folded, other)] == [True, True, True, False]


async def test_the_first_pages_own_code_acknowledges_only_its_ticket(api: Api) -> None:
    group = "grp_00000000000000bb"
    lead = await paged(api, "1212", group, folded=False)
    folded = await paged(api, "8787", group, folded=True)
    reply = await post(api, SMS_PATH, {}, {"From": ANA, "Body": "1212"})
    assert "acknowledged" in reply.text, reply.text
    assert [await acked(api, wf) for wf in (lead, folded)] == [True, False]


async def test_1_on_a_digest_call_acknowledges_the_group(api: Api) -> None:
    group = "grp_00000000000000cc"
    lead = await paged(api, "1313", group, folded=False)
    folded = await paged(api, "8888", group, folded=True)
    other = await paged(api, "3434", None, folded=False)
    q = {"wf": folded, "breach": "response-1", "key": "k", "group": group}
    form = {"Digits": "1", "To": ANA, "Direction": "outbound-api"}
    reply = await post(api, GATHER_PATH, q, form)
    assert reply.status_code == 200 and "Acknowledged" in reply.text, reply.text
    assert [await acked(api, wf) for wf in (lead, folded, other)] == [True, True, False]
    bad = await post(api, GATHER_PATH, {**q, "group": "grp_x'"}, form)
    assert bad.status_code == 422 and "group" in bad.text
