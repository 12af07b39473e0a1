"""The notification activities against the real stand-ins, with the real twilio/sendgrid clients."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree as ET

import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.ledger import SQLITE_FILE, open_ledger
from activities.ledger.sqlite import SqliteLedger
from activities.notify import notification_activities
from slawatch.models import PlaceCallInput, SendEmailInput, SendResult, SendSmsInput
from slawatch.settings import Settings
from slawatch.tools.standins.outbox import read_jsonl
from slawatch.tools.standins.stack import Standins
from tests import standins_fixtures
from tests.standins_fixtures import records_for, twilio_lines_for, unique_key

# Registered here until tests/conftest.py imports them (one Prism is shared either way).
standins = standins_fixtures.standins
standins_settings = standins_fixtures.standins_settings

RESPONDER = "+40721555101"
SMS_BODY = "slawatch: ticket prokuria/T-1 (critical) response target BREACHED."


def sms(key: str, to: str = RESPONDER) -> SendSmsInput:
    return SendSmsInput(
        to=to,
        body=SMS_BODY,
        idempotency_key=key,
        ticket_workflow_id="ticket-prokuria-T-1",
        breach_id="breach-1",
    )


async def run(settings: Settings, name: str, arg: object) -> SendResult:
    activities = {fn.__name__: fn for fn in notification_activities(settings)}
    result = await ActivityEnvironment().run(activities[name], arg)
    assert isinstance(result, SendResult)
    return result


async def test_sms_sends_exactly_what_the_workflow_gave(
    standins: Standins, standins_settings: Settings
) -> None:
    key = unique_key("sms")
    result = await run(standins_settings, "send_sms", sms(key))
    [line] = twilio_lines_for(standins, key)
    form = line["form"]
    assert (form["To"], form["From"], form["Body"]) == (RESPONDER, "+15005550006", SMS_BODY)
    assert set(form) == {"To", "From", "Body", "StatusCallback"}
    callback = urlsplit(form["StatusCallback"])
    assert f"{callback.scheme}://{callback.netloc}{callback.path}" == (
        "https://hooks.example.test/twilio/status"
    )
    query = parse_qs(callback.query)
    assert query == {"key": [key], "wf": ["ticket-prokuria-T-1"], "breach": ["breach-1"]}
    assert line["status"] == 201
    assert result.ok and not result.duplicate
    assert result.provider_id is not None and result.provider_id.startswith("SM")


async def test_same_key_twice_sends_once_and_returns_the_stored_result(
    standins: Standins, standins_settings: Settings
) -> None:
    key = unique_key("sms")
    first = await run(standins_settings, "send_sms", sms(key))
    second = await run(standins_settings, "send_sms", sms(key))
    assert len(twilio_lines_for(standins, key)) == 1
    assert second.duplicate and not first.duplicate
    assert second.provider_id == first.provider_id


async def test_crashed_sending_entry_is_sent_again(
    standins: Standins, standins_settings: Settings
) -> None:
    key = unique_key("sms")
    # A worker that marked the key and died before the vendor answered; its lease ran out.
    crashed = SqliteLedger(standins_settings.data_dir / SQLITE_FILE, lease=timedelta(0))
    assert crashed.begin(key, "sms") is None
    result = await run(standins_settings, "send_sms", sms(key))
    assert result.ok and not result.duplicate
    assert len(twilio_lines_for(standins, key)) == 1
    assert open_ledger(standins_settings).state(key) == ("sent", 2)


async def test_key_another_attempt_is_sending_is_not_sent_but_retried(
    standins: Standins, standins_settings: Settings
) -> None:
    key = unique_key("sms")
    # Another worker claimed the key a moment ago and is waiting on Twilio.
    assert open_ledger(standins_settings).begin(key, "sms") is None
    activities = {fn.__name__: fn for fn in notification_activities(standins_settings)}
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(activities["send_sms"], sms(key))
    assert info.value.type == "NotificationInFlight" and not info.value.non_retryable
    assert twilio_lines_for(standins, key) == []
    assert open_ledger(standins_settings).state(key) == ("sending", 1)


async def test_workers_sharing_a_postgres_ledger_send_a_key_once(
    standins: Standins, standins_settings: Settings, ledger_url: str, tmp_path: Path
) -> None:
    key = unique_key("sms")
    # Two workers on different hosts: separate data_dirs, one ledger URL.
    first = standins_settings.model_copy(
        update={"ledger_url": SecretStr(ledger_url), "data_dir": tmp_path / "host-a"}
    )
    second = first.model_copy(update={"data_dir": tmp_path / "host-b"})
    sent = await run(first, "send_sms", sms(key))
    again = await run(second, "send_sms", sms(key))
    assert len(twilio_lines_for(standins, key)) == 1
    assert again.duplicate and again.provider_id == sent.provider_id
    assert not (tmp_path / "host-a" / SQLITE_FILE).exists()


async def test_call_carries_twiml_with_reference_class_and_ack_digit(
    standins: Standins, standins_settings: Settings
) -> None:
    key = unique_key("voice")
    call = PlaceCallInput(
        to=RESPONDER,
        ticket_ref="prokuria/T-1",
        severity="critical",
        idempotency_key=key,
        ticket_workflow_id="ticket-prokuria-T-1",
        breach_id="breach-1",
    )
    result = await run(standins_settings, "place_call", call)
    [line] = twilio_lines_for(standins, key)
    twiml = ET.fromstring(line["form"]["Twiml"])
    gather = twiml.find("Gather")
    assert gather is not None and gather.get("numDigits") == "1"
    action = urlsplit(gather.get("action", ""))
    assert action.netloc == "hooks.example.test" and action.path == "/twilio/voice/gather"
    assert parse_qs(action.query)["key"] == [key]
    said = " ".join(say.text or "" for say in twiml.iter("Say"))
    assert "prokuria, T, 1" in said and "class critical" in said and "Press 1" in said
    # Each call has its own SID, as Twilio gives (the stand-in replaces Prism's one example).
    assert line["form"]["To"] == RESPONDER and result.provider_id == line["sid"]
    assert re.fullmatch(r"CA[0-9a-f]{32}", line["sid"])


async def test_email_goes_to_each_recipient_with_the_key(
    standins: Standins, standins_settings: Settings
) -> None:
    key = unique_key("email")
    mail = SendEmailInput(
        to=["oncall@example.com", "lead@example.com"],
        subject="prokuria/T-1 breached",
        body="Response target breached.",
        idempotency_key=key,
    )
    result = await run(standins_settings, "send_email", mail)
    [record] = records_for(standins, key)
    assert sorted(record.to) == ["lead@example.com", "oncall@example.com"]
    assert record.text == "prokuria/T-1 breached" and record.status == 202
    assert result.ok and result.provider_id


async def test_sendgrid_capture_sees_sender_and_body(
    standins: Standins, standins_settings: Settings
) -> None:
    key = unique_key("email")
    mail = SendEmailInput(to=["a@example.com"], subject="s", body="the body", idempotency_key=key)
    result = await run(standins_settings, "send_email", mail)
    lines = read_jsonl(standins.sendgrid.standin.outbox.path)
    [line] = [x for x in lines if x["custom_args"].get("idempotency_key") == key]
    assert line["from"] == standins_settings.email_from
    assert line["content"] == [{"type": "text/plain", "value": "the body"}]
    assert line["message_id"] == result.provider_id


async def test_a_romanian_responders_call_says_it_in_romanian(
    standins: Standins, standins_settings: Settings
) -> None:
    key = unique_key("voice")
    call = PlaceCallInput(
        to=RESPONDER,
        ticket_ref="prokuria/T-1",
        severity="critical",
        idempotency_key=key,
        language="ro",
        ticket_workflow_id="ticket-prokuria-T-1",
        breach_id="breach-1",
    )
    await run(standins_settings, "place_call", call)
    [line] = twilio_lines_for(standins, key)
    says = list(ET.fromstring(line["form"]["Twiml"]).iter("Say"))
    assert says and {(s.get("language"), s.get("voice")) for s in says} == {
        ("ro-RO", "Polly.Carmen")
    }
    assert "Apăsați 1 pentru confirmare" in (says[0].text or "")
