"""The classification table alone: each documented vendor answer lands in the right scope."""

from __future__ import annotations

import pytest

from activities.vendor_errors import (
    THROTTLE_ACCOUNT_FROM_ATTEMPT,
    TWILIO_CODES,
    Scope,
    classify,
    destination,
)
from activities.vendors import VendorError


def twilio(status: int | None, code: int | None = None) -> VendorError:
    return VendorError("twilio", "SMS refused: x", status=status, code=code)


def sendgrid(status: int, message: str = "x", fields: tuple[str, ...] = ()) -> VendorError:
    return VendorError("sendgrid", f"email refused: {message}", status=status, fields=fields)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (21211, "invalid_number"),
        (13224, "invalid_number"),
        (21612, "unreachable"),
        (21614, "not_mobile"),
        (21610, "unsubscribed"),
    ],
)
def test_twilio_recipient_codes_move_the_ladder_on(code: int, reason: str) -> None:
    found = classify(twilio(400, code), "sms", attempt=1, to="+40721555101")
    assert (found.scope, found.reason) == (Scope.RECIPIENT, reason)
    assert "country" not in found.details


@pytest.mark.parametrize(
    ("status", "code", "reason"),
    [
        (401, 20003, "authentication"),
        (403, 20403, "forbidden"),
        (401, 10001, "account_inactive"),
        (400, 21606, "from_number"),
        (400, 21659, "from_number"),
        (400, 21210, "from_number"),
    ],
)
def test_twilio_account_codes_never_burn_the_ladder(status: int, code: int, reason: str) -> None:
    found = classify(twilio(status, code), "sms", attempt=1)
    assert (found.scope, found.reason) == (Scope.ACCOUNT, reason)
    assert found.details["code"] == code and found.details["scope"] == "account"


def test_geo_permission_names_the_country_and_prefix_only_for_geo() -> None:
    geo = classify(twilio(400, 21408), "sms", attempt=1, to="+3725019559")
    assert (geo.scope, geo.reason) == (Scope.ACCOUNT, "geo_permission")
    assert (geo.details["country"], geo.details["prefix"]) == ("EE", "+372")
    assert TWILIO_CODES[21215].per_country  # the voice twin of 21408
    auth = classify(twilio(401, 20003), "sms", attempt=1, to="+3725019559")
    assert "country" not in auth.details


def test_unknown_codes_fall_back_on_the_status() -> None:
    assert classify(twilio(400, 29999), "sms", 1).scope is Scope.RECIPIENT
    assert classify(twilio(401, 29999), "sms", 1).scope is Scope.ACCOUNT
    assert classify(twilio(403), "voice", 1).reason == "forbidden"
    assert classify(twilio(503, 20500), "sms", 1).scope is Scope.TRANSIENT
    assert classify(twilio(None), "sms", 1).reason == "vendor_unreachable"


def test_throttle_is_transient_until_it_outlasts_the_first_retries() -> None:
    for attempt in range(1, THROTTLE_ACCOUNT_FROM_ATTEMPT):
        assert classify(twilio(429, 20429), "sms", attempt).scope is Scope.TRANSIENT
    late = classify(twilio(429, 20429), "sms", THROTTLE_ACCOUNT_FROM_ATTEMPT)
    assert (late.scope, late.reason) == (Scope.ACCOUNT, "rate_limited")
    assert classify(sendgrid(429), "email", THROTTLE_ACCOUNT_FROM_ATTEMPT).scope is Scope.ACCOUNT


def test_sendgrid_reads_status_message_and_fields() -> None:
    assert classify(sendgrid(401, "Maximum credits exceeded"), "email", 1).reason == "quota"
    assert classify(sendgrid(401, "authorization required"), "email", 1).reason == (
        "authentication"
    )
    assert classify(sendgrid(403, "Forbidden"), "email", 1).scope is Scope.ACCOUNT
    bad_to = sendgrid(400, fields=("personalizations.0.to.0.email",))
    assert classify(bad_to, "email", 1).reason == "invalid_address"
    mixed = sendgrid(400, fields=("personalizations.0.to.0.email", "from.email"))
    assert classify(mixed, "email", 1).reason == "from_address"
    assert classify(sendgrid(400, fields=("content",)), "email", 1).scope is Scope.RECIPIENT
    assert classify(sendgrid(502), "email", 1).scope is Scope.TRANSIENT


def test_destination_of_unparseable_numbers_is_empty() -> None:
    assert destination("+40721555101") == {"prefix": "+40", "country": "RO"}
    assert destination("not a number") == {}
