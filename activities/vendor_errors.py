"""Which vendor errors concern one recipient and which the whole account: the one table.

A page refused because the number is bad moves the ladder on. A page refused because our Twilio
or SendGrid account is broken (expired token, suspended account, geo permission, sender number,
quota) would be refused for every recipient: moving on would burn a critical ladder in seconds
and page nobody, so those are retryable and reported as `DeliveryAccountFailure`.

Codes are Twilio's REST API error codes (twilio.com/docs/api/errors/<code>). SendGrid's v3 API
has no codes, only the HTTP status and `errors[].field/message`, so it is classified on those.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import phonenumbers

from activities.vendors import VendorError


class Scope(StrEnum):
    RECIPIENT = "recipient"  # this number or address is bad: record it, move the ladder on
    ACCOUNT = "account"  # every send of this vendor and channel fails (or to this country)
    TRANSIENT = "transient"  # the vendor or the network hiccupped: retry


@dataclass(frozen=True)
class Rule:
    """How one vendor answer is read; `reason` is a stable word for logs, details, timelines."""

    scope: Scope
    reason: str
    # Geo permissions are per destination country: other recipients must still be paged.
    per_country: bool = False


def _recipient(reason: str) -> Rule:
    return Rule(Scope.RECIPIENT, reason)


def _account(reason: str, *, per_country: bool = False) -> Rule:
    return Rule(Scope.ACCOUNT, reason, per_country)


TWILIO_CODES: dict[int, Rule] = {
    # -- one recipient --
    21211: _recipient("invalid_number"),  # Invalid 'To' Phone Number
    21217: _recipient("invalid_number"),  # (voice) phone number does not appear to be valid
    13224: _recipient("invalid_number"),  # Dial: Twilio does not support calling this number
    21214: _recipient("unreachable"),  # (voice) 'To' phone number cannot be reached
    21612: _recipient("unreachable"),  # 'To' phone number is not currently reachable via SMS
    21614: _recipient("not_mobile"),  # 'To' number is not a valid mobile number (landline)
    21635: _recipient("not_mobile"),  # 'To' number cannot be a landline
    21610: _recipient("unsubscribed"),  # the recipient replied STOP to our sender
    # -- the whole account --
    20003: _account("authentication"),  # Permission Denied: wrong/deleted token, suspended
    20005: _account("account_inactive"),  # Account not active (out of funds, trial)
    10001: _account("account_inactive"),  # Account is not active (suspended)
    20403: _account("forbidden"),  # 403 Forbidden: account suspended or closed
    21608: _account("trial_account"),  # trial account: only verified 'To' numbers
    21606: _account("from_number"),  # 'From' is not a message-capable Twilio number
    21659: _account("from_number"),  # 'From' is not a Twilio number / short code country
    21660: _account("from_number"),  # 'From' number belongs to another account
    21661: _account("from_number"),  # 'From' number is not SMS-capable
    21210: _account("from_number"),  # (voice) 'From' is not a verified caller ID
    # -- the whole account, for one destination country --
    21408: _account("geo_permission", per_country=True),  # Messaging Geo Permissions
    21215: _account("geo_permission", per_country=True),  # Voice Dialing Geo Permissions
}

# A throttle that outlasts a few backoffs is a quota, not a hiccup: from this attempt on, a
# 429 counts against the account. Earlier attempts retry quietly (a burst of a whole ladder
# step can hit Twilio's concurrency limit for a second without anything being wrong).
THROTTLE_ACCOUNT_FROM_ATTEMPT = 3
# SendGrid answers 401 "Maximum credits exceeded" when the plan's sending quota is used up.
_SENDGRID_QUOTA = "credits"
# SendGrid reports a bad recipient on personalizations.N.to.M.email (cc, bcc alike).
_SENDGRID_RECIPIENT_FIELD = "personalizations."


@dataclass(frozen=True)
class Classification:
    """One failed send, read: its scope, why, and what the workflow may be told."""

    scope: Scope
    reason: str
    details: dict[str, object]


def _by_status(status: int) -> Rule:
    if status == 401:
        return _account("authentication")
    if status == 403:
        return _account("forbidden")
    if status == 429:
        return Rule(Scope.TRANSIENT, "rate_limited")
    if status >= 500 or status == 408:
        return Rule(Scope.TRANSIENT, "vendor_unavailable")
    # Any other 4xx: the request for this recipient was refused (today's behaviour).
    return _recipient("rejected")


def _sendgrid_rule(error: VendorError, status: int) -> Rule:
    if status == 401 and _SENDGRID_QUOTA in error.message.lower():
        return _account("quota")
    if status == 400 and error.fields:
        if all(f.startswith(_SENDGRID_RECIPIENT_FIELD) for f in error.fields):
            return _recipient("invalid_address")
        if any(f.startswith("from") for f in error.fields):
            return _account("from_address")
    return _by_status(status)


def _rule(error: VendorError) -> Rule:
    if error.status is None:  # no answer at all: refused connection, timeout, DNS
        return Rule(Scope.TRANSIENT, "vendor_unreachable")
    if error.vendor == "twilio" and error.code in TWILIO_CODES:
        return TWILIO_CODES[error.code]
    if error.vendor == "sendgrid":
        return _sendgrid_rule(error, error.status)
    return _by_status(error.status)


def destination(number: str) -> dict[str, str]:
    """The country (ISO 3166 code) and calling prefix of an E.164 number, for geo errors."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return {}
    country = phonenumbers.region_code_for_number(parsed)
    found = {"prefix": f"+{parsed.country_code}"}
    return found | ({"country": country} if country else {})


def classify(error: VendorError, channel: str, attempt: int, to: str = "") -> Classification:
    """Read one vendor error for a send on `channel` (attempt numbers start at 1)."""
    rule = _rule(error)
    if rule.reason == "rate_limited" and attempt >= THROTTLE_ACCOUNT_FROM_ATTEMPT:
        rule = _account("rate_limited")
    # Never the message body, the recipient or a credential: details land in workflow history.
    details: dict[str, object] = {
        "vendor": error.vendor,
        "channel": channel,
        "status": error.status,
        "code": error.code,
        "reason": rule.reason,
        "scope": rule.scope.value,
    }
    if rule.per_country and to:
        details |= destination(to)
    return Classification(rule.scope, rule.reason, details)
