"""Twilio webhooks: signatures, known numbers, acks by key press and SMS, PINs, delivery status."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from intake.webhooks import PIN_PATH, SMS_PATH, VOICE_PATH
from policies.schema import Channel
from slawatch.messages import GATHER_PATH, STATUS_CALLBACK_PATH
from slawatch.models import SentNotification
from tests.intake_fixtures import PUBLIC_BASE, TWILIO_TOKEN, Api, bearer, new_ticket_id
from tests.twilio_posts import ANA, post, status

STRANGER = "+40721999999"


async def breached(api: Api, to: str = ANA, code: str = "4821") -> tuple[str, str]:
    """A prokuria ticket with a breach whose escalation paged `to`; (workflow id, breach id)."""
    tid = new_ticket_id()
    body = {"tenant": "prokuria", "ticket_id": tid, "severity": "critical"}
    assert (await api.http.post("/v1/tickets", json=body, headers=bearer())).status_code == 201
    wf, breach = f"ticket/prokuria/{tid}", "response-1"
    sent = SentNotification(
        breach_id=breach,
        key=f"{breach}-0-sms",
        channel=Channel.SMS,
        to=to,
        recipient="ana",
        at=datetime.now(UTC),
        ok=True,
        code=code,
    )
    await api.client.get_workflow_handle(wf).signal("fake_breach", sent)
    query = f"WorkflowId = '{wf}' AND SlaPagedTo = '{to}'"
    for _ in range(100):  # visibility lags the workflow task by a few milliseconds
        if [w async for w in api.client.list_workflows(query)]:
            break
        await asyncio.sleep(0.05)
    return wf, breach


async def test_key_press_acknowledges_and_offers_details_after_pin(api: Api) -> None:
    wf, breach = await breached(api)
    q = {"wf": wf, "breach": breach, "key": f"{breach}-1-voice"}
    reply = await post(api, GATHER_PATH, q, {"Digits": "1", "To": ANA, "Direction": "outbound-api"})
    assert reply.status_code == 200
    assert "Acknowledged" in reply.text and PIN_PATH in reply.text
    acks = (await status(api, wf)).acknowledgements
    assert [(a.breach_id, a.responder, a.channel) for a in acks] == [(breach, "ana", "voice")]

    wrong = await post(api, PIN_PATH, q, {"Digits": "9999", "To": ANA})
    assert "not correct" in wrong.text and "Escalation level" not in wrong.text
    right = await post(api, PIN_PATH, q, {"Digits": "1234", "To": ANA})
    assert "Escalation level 0" in right.text and "class critical" in right.text


@pytest.mark.parametrize("forge", ["wrong token", "changed digit", "no signature", "other ticket"])
async def test_forged_webhooks_get_403_and_change_nothing(api: Api, forge: str) -> None:
    wf, breach = await breached(api)
    q = {"wf": wf, "breach": breach, "key": "k"}
    form = {"Digits": "1", "To": ANA}
    qs = urlencode(q)
    good = RequestValidator(TWILIO_TOKEN).compute_signature(
        f"{PUBLIC_BASE}{GATHER_PATH}?{qs}", form
    )
    signature = {
        "wrong token": RequestValidator("guess").compute_signature(
            f"{PUBLIC_BASE}{GATHER_PATH}?{qs}", form
        ),
        "changed digit": good,
        "no signature": "",
        "other ticket": good,
    }[forge]
    if forge == "changed digit":
        form = {**form, "Digits": "2"}
    if forge == "other ticket":
        qs = urlencode({**q, "wf": "ticket-prokuria-other"})
    reply = await api.http.post(
        f"{GATHER_PATH}?{qs}", data=form, headers={"X-Twilio-Signature": signature}
    )
    assert reply.status_code == 403
    assert reply.json()["error"] == "bad_signature"
    assert (await status(api, wf)).acknowledgements == []


async def test_unknown_number_cannot_acknowledge(api: Api) -> None:
    wf, breach = await breached(api)
    q = {"wf": wf, "breach": breach, "key": "k"}
    reply = await post(
        api, GATHER_PATH, q, {"Digits": "1", "To": STRANGER, "Direction": "outbound-api"}
    )
    assert "not registered" in reply.text
    sms = await post(api, SMS_PATH, {}, {"From": STRANGER, "Body": f"ACK prokuria/{wf[16:]}"})
    assert "<Message>" not in sms.text
    assert (await status(api, wf)).acknowledgements == []


async def test_sms_ack_with_reference(api: Api) -> None:
    wf, _ = await breached(api)
    ref = "prokuria/" + wf.removeprefix("ticket/prokuria/")
    reply = await post(api, SMS_PATH, {}, {"From": ANA, "Body": f" ack {ref} "})
    assert f"acknowledged {ref}" in reply.text
    ack = (await status(api, wf)).acknowledgements[0]
    assert (ack.responder, ack.channel) == ("ana", "sms")
    again = await post(api, SMS_PATH, {}, {"From": ANA, "Body": f"ACK {ref}"})
    assert f"no page for {ref} is waiting for you" in again.text
    other = await post(api, SMS_PATH, {}, {"From": ANA, "Body": "ACK cargotask/T-1"})
    assert "no page for cargotask/T-1 is waiting for you" in other.text


async def test_sms_reply_1_with_two_pages_waiting_lists_them_and_acknowledges_neither(
    api: Api,
) -> None:
    older, _ = await breached(api, code="1111")
    latest, latest_breach = await breached(api, code="2222")
    reply = await post(api, SMS_PATH, {}, {"From": ANA, "Body": "1"})
    assert "2 pages wait for you" in reply.text
    assert "1111 for prokuria/" in reply.text and "2222 for prokuria/" in reply.text
    assert (await status(api, older)).acknowledgements == []
    assert (await status(api, latest)).acknowledgements == []
    # The code picks one.
    coded = await post(api, SMS_PATH, {}, {"From": ANA, "Body": "2222"})
    assert "acknowledged" in coded.text
    assert [a.breach_id for a in (await status(api, latest)).acknowledgements] == [latest_breach]
    assert (await status(api, older)).acknowledgements == []


async def test_status_callbacks_forward_final_outcomes(api: Api) -> None:
    wf, breach = await breached(api)
    q = {"wf": wf, "key": f"{breach}-0-sms", "breach": breach}
    assert (await post(api, STATUS_CALLBACK_PATH, q, {"MessageStatus": "sent"})).status_code == 204
    assert (
        await post(api, STATUS_CALLBACK_PATH, q, {"CallStatus": "no-answer"})
    ).status_code == 204
    forged = await post(api, STATUS_CALLBACK_PATH, q, {"MessageStatus": "failed"}, token="guess")
    assert forged.status_code == 403
    history = [h.detail for h in (await status(api, wf)).history if h.event == "delivery"]
    assert history == [f"{breach}-0-sms no-answer"]


async def test_voice_twiml_reads_reference_and_class_only(api: Api) -> None:
    wf, breach = await breached(api)
    reply = await post(api, VOICE_PATH, {"wf": wf, "breach": breach, "key": "k"}, {"To": ANA})
    assert reply.headers["content-type"].startswith("application/xml")
    assert "class critical" in reply.text and GATHER_PATH in reply.text
    assert "Escalation level" not in reply.text


async def test_a_call_answered_by_voicemail_is_reported_as_machine(api: Api) -> None:
    wf, breach = await breached(api)
    q = {"wf": wf, "key": f"{breach}-1-voice", "breach": breach}
    form = {"CallStatus": "completed", "AnsweredBy": "machine_end_beep"}
    assert (await post(api, STATUS_CALLBACK_PATH, q, form)).status_code == 204
    human = {"CallStatus": "completed", "AnsweredBy": "human"}
    assert (await post(api, STATUS_CALLBACK_PATH, q, human)).status_code == 204
    history = [h.detail for h in (await status(api, wf)).history if h.event == "delivery"]
    assert history == [f"{breach}-1-voice machine", f"{breach}-1-voice completed"]
