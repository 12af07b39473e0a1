"""Failure paths of the notification activities: what is retryable, what is rejected for good."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.ledger import open_ledger
from activities.notify import notification_activities
from slawatch.models import SendEmailInput, SendSmsInput
from slawatch.settings import Settings
from slawatch.tools.standins.faults import FaultPlan
from slawatch.tools.standins.stack import Standins
from slawatch.tools.standins.tools import free_port
from tests import standins_fixtures
from tests.standins_fixtures import twilio_lines_for, unique_key

# Registered here until tests/conftest.py imports them (one Prism is shared either way).
standins = standins_fixtures.standins
standins_settings = standins_fixtures.standins_settings


def sms(key: str, to: str = "+40721555101") -> SendSmsInput:
    return SendSmsInput(
        to=to,
        body="slawatch: ticket prokuria/T-1 (critical)",
        idempotency_key=key,
        ticket_workflow_id="ticket-prokuria-T-1",
        breach_id="breach-1",
    )


def email(key: str) -> SendEmailInput:
    return SendEmailInput(to=["a@example.com"], subject="s", body="b", idempotency_key=key)


async def failure(settings: Settings, name: str, arg: Any) -> ApplicationError:
    activities = {fn.__name__: fn for fn in notification_activities(settings)}
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(activities[name], arg)
    return info.value


async def test_invalid_number_at_twilio_is_rejected_for_good(
    standins: Standins, standins_settings: Settings
) -> None:
    key = unique_key()
    error = await failure(standins_settings, "send_sms", sms(key, "+15005550001"))
    assert error.non_retryable and error.type == "NotificationRejected"
    assert error.details[0] == {
        "vendor": "twilio",
        "channel": "sms",
        "status": 400,
        "code": 21211,
        "reason": "invalid_number",
        "scope": "recipient",
    }
    assert [line["status"] for line in twilio_lines_for(standins, key)] == [400]
    ledger = open_ledger(standins_settings)
    assert ledger.state(key) == ("rejected", 1)


async def test_malformed_number_is_rejected_before_twilio_naming_the_field(
    standins: Standins, standins_settings: Settings
) -> None:
    key = unique_key()
    error = await failure(standins_settings, "send_sms", sms(key, "0721 555 101"))
    assert error.non_retryable and error.message.startswith("to: '0721 555 101'")
    assert twilio_lines_for(standins, key) == []


async def test_wrong_twilio_token_is_a_retryable_account_failure(
    standins: Standins, standins_settings: Settings
) -> None:
    # Every page would get the same 401: moving on to the next recipient would page nobody.
    settings = standins_settings.model_copy(update={"twilio_auth_token": SecretStr("wrong")})
    error = await failure(settings, "send_sms", sms(unique_key()))
    assert not error.non_retryable and error.type == "DeliveryAccountFailure"
    assert (error.details[0]["status"], error.details[0]["code"]) == (401, 20003)


@pytest.mark.parametrize(("plan", "status"), [("error=1", 500), ("throttle=1", 429)])
async def test_twilio_5xx_and_429_are_retryable_and_the_retry_sends(
    standins: Standins, standins_settings: Settings, plan: str, status: int
) -> None:
    key = unique_key()
    standins.twilio.standin.faults = FaultPlan.parse(plan)
    error = await failure(standins_settings, "send_sms", sms(key))
    assert not error.non_retryable and error.type == "NotificationUnavailable"
    # One request per attempt: the SDK did not retry behind Temporal's back.
    assert [line["status"] for line in twilio_lines_for(standins, key)] == [status]
    standins.twilio.standin.faults = FaultPlan()
    activities = {fn.__name__: fn for fn in notification_activities(standins_settings)}
    result = await ActivityEnvironment().run(activities["send_sms"], sms(key))
    assert result.ok and not result.duplicate
    assert [line["status"] for line in twilio_lines_for(standins, key)] == [status, 201]


async def test_sendgrid_5xx_and_bad_key_are_retryable_and_only_the_key_is_the_account(
    standins: Standins, standins_settings: Settings
) -> None:
    standins.sendgrid.standin.faults = FaultPlan(error=1.0)
    error = await failure(standins_settings, "send_email", email(unique_key()))
    assert not error.non_retryable and error.details[0]["status"] == 500
    assert error.type == "NotificationUnavailable"
    standins.sendgrid.standin.faults = FaultPlan()
    settings = standins_settings.model_copy(update={"sendgrid_api_key": SecretStr("SG.wrong")})
    error = await failure(settings, "send_email", email(unique_key()))
    assert not error.non_retryable and error.details[0]["status"] == 401
    assert error.type == "DeliveryAccountFailure"


async def test_unreachable_vendor_is_retryable(standins_settings: Settings) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    settings = standins_settings.model_copy(
        update={"twilio_base_url": closed, "sendgrid_base_url": closed}
    )
    for name, arg in (("send_sms", sms(unique_key())), ("send_email", email(unique_key()))):
        error = await failure(settings, name, arg)
        assert not error.non_retryable and error.type == "NotificationUnavailable"


async def test_logs_name_the_send_but_never_the_body_or_secrets(
    standins_settings: Settings,
) -> None:
    key = unique_key()
    activities = {fn.__name__: fn for fn in notification_activities(standins_settings)}
    with capture_logs() as logs:
        await ActivityEnvironment().run(activities["send_sms"], sms(key))
    [event] = [e for e in logs if e["event"] == "notify.send"]
    assert (event["key"], event["channel"], event["outcome"]) == (key, "sms", "sent")
    assert event["provider_id"].startswith("SM")
    text = repr(logs)
    assert "prokuria/T-1 (critical)" not in text and "test-auth-token" not in text
