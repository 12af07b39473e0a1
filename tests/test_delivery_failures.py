"""Issue 11: a page refused for one recipient moves on; one refused for the account retries.

The real twilio and sendgrid clients against the stand-ins playing each vendor fault, through
the real activities: the ApplicationError type, retryability, details and the metric.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs
from temporalio.exceptions import ApplicationError
from temporalio.runtime import Runtime
from temporalio.testing import ActivityEnvironment

from activities.clients import SendGridMailer, sendgrid_client
from activities.ledger import open_ledger
from activities.notify import notification_activities
from activities.vendor_errors import THROTTLE_ACCOUNT_FROM_ATTEMPT, Scope, classify
from activities.vendors import Email, VendorError
from slawatch import telemetry
from slawatch.models import PlaceCallInput, SendEmailInput, SendSmsInput
from slawatch.settings import Settings
from slawatch.tools.standins.faults import FaultPlan
from slawatch.tools.standins.stack import Standins
from tests import standins_fixtures
from tests.metrics_probe import Samples, free_port, matching, scrape
from tests.standins_fixtures import SENDGRID_KEY, TWILIO_TOKEN, twilio_lines_for, unique_key

standins = standins_fixtures.standins
standins_settings = standins_fixtures.standins_settings

ROMANIA = "+40721555101"
ESTONIA = "+3725019559"
FAILURES = f"{telemetry.DELIVERY_FAILURES}_total"


@pytest.fixture(scope="module")
def metrics() -> Iterator[tuple[Runtime, str]]:
    address = f"127.0.0.1:{free_port()}"
    yield telemetry.runtime_for(Settings(metrics_bind_address=address)), address


def sms(to: str = ROMANIA, key: str | None = None) -> SendSmsInput:
    return SendSmsInput(
        to=to,
        body="slawatch: ticket prokuria/T-1 (critical)",
        idempotency_key=key or unique_key("sms"),
        ticket_workflow_id="ticket-prokuria-T-1",
        breach_id="breach-1",
    )


def call(to: str = ROMANIA) -> PlaceCallInput:
    return PlaceCallInput(
        to=to,
        ticket_ref="prokuria/T-1",
        severity="critical",
        idempotency_key=unique_key("voice"),
        ticket_workflow_id="ticket-prokuria-T-1",
        breach_id="breach-1",
    )


def email() -> SendEmailInput:
    return SendEmailInput(
        to=["oncall@example.com"], subject="s", body="b", idempotency_key=unique_key("email")
    )


def environment(metrics: tuple[Runtime, str], attempt: int = 1) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.metric_meter = metrics[0].metric_meter
    env.info = dataclasses.replace(env.info, attempt=attempt)
    return env


async def fail(
    settings: Settings, name: str, arg: Any, env: ActivityEnvironment
) -> ApplicationError:
    activities = {fn.__name__: fn for fn in notification_activities(settings)}
    with pytest.raises(ApplicationError) as info:
        await env.run(activities[name], arg)
    return info.value


def failures(samples: Samples, vendor: str, channel: str, scope: str) -> float:
    return sum(matching(samples, FAILURES, vendor=vendor, channel=channel, scope=scope))


# -- Twilio ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "channel"), [("send_sms", "sms"), ("place_call", "voice")])
async def test_expired_twilio_token_fails_the_account_and_retries_send_later(
    standins: Standins,
    standins_settings: Settings,
    metrics: tuple[Runtime, str],
    name: str,
    channel: str,
) -> None:
    arg = sms() if name == "send_sms" else call()
    before = scrape(metrics[1])
    standins.twilio.standin.faults = FaultPlan.parse("unauthorized=1")
    error = await fail(standins_settings, name, arg, environment(metrics))
    assert error.type == "DeliveryAccountFailure" and not error.non_retryable
    assert error.details[0] == {
        "vendor": "twilio",
        "channel": channel,
        "status": 401,
        "code": 20003,
        "reason": "authentication",
        "scope": "account",
    }
    after = scrape(metrics[1])
    assert failures(after, "twilio", channel, "account") == (
        failures(before, "twilio", channel, "account") + 1
    )
    assert failures(after, "twilio", channel, "recipient") == (
        failures(before, "twilio", channel, "recipient")
    )
    # Nothing was delivered, so the ledger leaves the key open: the retry really sends.
    ledger = open_ledger(standins_settings)
    assert ledger.state(arg.idempotency_key) == ("sending", 1)
    standins.twilio.standin.faults = FaultPlan()
    activities = {fn.__name__: fn for fn in notification_activities(standins_settings)}
    result = await environment(metrics, attempt=2).run(activities[name], arg)
    assert result.ok and not result.duplicate
    assert ledger.state(arg.idempotency_key) == ("sent", 2)


async def test_geo_permission_fails_one_country_and_the_others_are_still_paged(
    standins: Standins, standins_settings: Settings, metrics: tuple[Runtime, str]
) -> None:
    standins.twilio.standin.faults = FaultPlan.parse("geo_blocked=+40")
    blocked = sms(ROMANIA)
    error = await fail(standins_settings, "send_sms", blocked, environment(metrics))
    assert error.type == "DeliveryAccountFailure" and not error.non_retryable
    details = error.details[0]
    assert (details["status"], details["code"], details["reason"]) == (400, 21408, "geo_permission")
    # The workflow learns which country to stop trying (and to tell the operator about).
    assert (details["country"], details["prefix"]) == ("RO", "+40")
    assert ROMANIA not in repr(details)
    [line] = twilio_lines_for(standins, blocked.idempotency_key)
    assert (line["status"], line["fault"]) == (400, "geo_blocked")

    voice = await fail(standins_settings, "place_call", call(ROMANIA), environment(metrics))
    assert voice.type == "DeliveryAccountFailure"
    assert (voice.details[0]["code"], voice.details[0]["country"]) == (21215, "RO")

    activities = {fn.__name__: fn for fn in notification_activities(standins_settings)}
    elsewhere = await environment(metrics).run(activities["send_sms"], sms(ESTONIA))
    assert elsewhere.ok and elsewhere.provider_id


async def test_bad_recipient_is_rejected_for_good_and_counted_as_recipient(
    standins: Standins, standins_settings: Settings, metrics: tuple[Runtime, str]
) -> None:
    before = scrape(metrics[1])
    error = await fail(standins_settings, "send_sms", sms("+15005550001"), environment(metrics))
    assert error.type == "NotificationRejected" and error.non_retryable
    assert (error.details[0]["reason"], error.details[0]["scope"]) == (
        "invalid_number",
        "recipient",
    )
    after = scrape(metrics[1])
    assert failures(after, "twilio", "sms", "recipient") == (
        failures(before, "twilio", "sms", "recipient") + 1
    )
    assert failures(after, "twilio", "sms", "account") == failures(
        before, "twilio", "sms", "account"
    )


async def test_throttling_turns_into_an_account_failure_once_it_outlasts_the_backoff(
    standins: Standins, standins_settings: Settings, metrics: tuple[Runtime, str]
) -> None:
    standins.twilio.standin.faults = FaultPlan.parse("throttle=1")
    before = scrape(metrics[1])
    first = await fail(standins_settings, "send_sms", sms(), environment(metrics, attempt=1))
    assert first.type == "NotificationUnavailable" and not first.non_retryable
    assert first.details[0]["scope"] == "transient"
    # A blip is not a delivery failure: nothing counted.
    middle = scrape(metrics[1])
    assert failures(middle, "twilio", "sms", "account") == failures(
        before, "twilio", "sms", "account"
    )
    late = environment(metrics, attempt=THROTTLE_ACCOUNT_FROM_ATTEMPT)
    persistent = await fail(standins_settings, "send_sms", sms(), late)
    assert persistent.type == "DeliveryAccountFailure" and not persistent.non_retryable
    assert (persistent.details[0]["code"], persistent.details[0]["reason"]) == (
        20429,
        "rate_limited",
    )
    after = scrape(metrics[1])
    assert failures(after, "twilio", "sms", "account") == (
        failures(middle, "twilio", "sms", "account") + 1
    )


async def test_account_failure_logs_and_error_carry_no_secret_or_body(
    standins: Standins, standins_settings: Settings, metrics: tuple[Runtime, str]
) -> None:
    standins.twilio.standin.faults = FaultPlan.parse("unauthorized=1")
    with capture_logs() as logs:
        error = await fail(standins_settings, "send_sms", sms(), environment(metrics))
    [event] = [e for e in logs if e["event"] == "notify.send"]
    assert (event["outcome"], event["log_level"]) == ("account_failure", "error")
    text = repr(logs) + repr(error.details) + str(error)
    assert TWILIO_TOKEN not in text and "prokuria/T-1 (critical)" not in text


# -- SendGrid -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan", "reason"), [("unauthorized=1", "authentication"), ("quota_exceeded=1", "quota")]
)
async def test_sendgrid_refusing_the_account_is_a_retryable_account_failure(
    standins: Standins,
    standins_settings: Settings,
    metrics: tuple[Runtime, str],
    plan: str,
    reason: str,
) -> None:
    before = scrape(metrics[1])
    standins.sendgrid.standin.faults = FaultPlan.parse(plan)
    error = await fail(standins_settings, "send_email", email(), environment(metrics))
    assert error.type == "DeliveryAccountFailure" and not error.non_retryable
    assert error.details[0] == {
        "vendor": "sendgrid",
        "channel": "email",
        "status": 401,
        "code": None,
        "reason": reason,
        "scope": "account",
    }
    assert SENDGRID_KEY not in repr(error.details) + str(error)
    after = scrape(metrics[1])
    assert failures(after, "sendgrid", "email", "account") == (
        failures(before, "sendgrid", "email", "account") + 1
    )


def test_sendgrid_invalid_recipient_from_the_real_client_is_per_recipient(
    standins: Standins, standins_settings: Settings
) -> None:
    # The activity checks addresses itself, so ask the adapter what SendGrid said directly.
    mailer = SendGridMailer(sendgrid_client(standins_settings), standins_settings.email_from)
    with pytest.raises(VendorError) as info:
        mailer.send_email(Email(("oncall@example",), "s", "b", unique_key("email")))
    assert info.value.fields == ("personalizations.0.to.0.email",)
    found = classify(info.value, "email", attempt=1)
    assert (found.scope, found.reason) == (Scope.RECIPIENT, "invalid_address")
    sender = SendGridMailer(sendgrid_client(standins_settings), "slawatch@localhost")
    with pytest.raises(VendorError) as info:
        sender.send_email(Email(("oncall@example.com",), "s", "b", unique_key("email")))
    found = classify(info.value, "email", attempt=1)
    assert (found.scope, found.reason) == (Scope.ACCOUNT, "from_address")
