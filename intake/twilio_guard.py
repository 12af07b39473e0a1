"""Twilio webhook guards: X-Twilio-Signature, known responders' numbers, responder PINs."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import parse_qsl

from fastapi import Request
from pydantic import SecretStr
from twilio.request_validator import RequestValidator

from intake.errors import ApiError
from policies.schema import Policy
from slawatch.settings import Settings

EMERGENCY_LINE = "emergency_line"


@dataclass(frozen=True)
class TwilioConfig:
    """What the webhooks need from settings; the auth token stays a SecretStr."""

    auth_token: SecretStr
    public_base_url: str
    # Webhooks for any other account are refused, however they are signed.
    account_sid: str

    @classmethod
    def from_settings(cls, settings: Settings) -> TwilioConfig:
        return cls(
            settings.twilio_auth_token,
            settings.public_base_url.rstrip("/"),
            settings.twilio_account_sid,
        )

    def public_url(self, request: Request) -> str:
        """The URL Twilio signed: the public base, our path, and the query exactly as sent."""
        query = request.url.query
        return f"{self.public_base_url}{request.url.path}" + (f"?{query}" if query else "")


async def signed_params(request: Request) -> dict[str, str]:
    """The webhook's form fields, or 403 when X-Twilio-Signature does not match them."""
    config: TwilioConfig = request.app.state.twilio
    try:
        text = (await request.body()).decode("utf-8")
        params = dict(parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text)))
    except (UnicodeDecodeError, ValueError):
        params = None
    signature = request.headers.get("x-twilio-signature", "")
    token = config.auth_token.get_secret_value()
    if (
        # With an empty token anyone can compute a valid signature: refuse in every mode.
        not token
        or params is None
        or not signature
        or not RequestValidator(token).validate(config.public_url(request), params, signature)
    ):
        # Same answer for every failure: a forger learns nothing about which part was wrong.
        raise ApiError(403, "invalid X-Twilio-Signature", code="bad_signature")
    return params


@dataclass(frozen=True)
class Responder:
    """A known person (or the tenant's emergency line) identified by phone number."""

    id: str
    name: str
    pin_hash: str | None
    # The language the call speaks to them again after a wrong key (None: English).
    language: str | None = None


def responder_by_phone(policy: Policy, phone: str) -> Responder | None:
    for rid, person in policy.responders.items():
        if person.phone == phone:
            return Responder(rid, person.name, person.pin_hash, person.language)
    if policy.emergency_line == phone:
        # The emergency line is a shared phone: it may acknowledge but has no PIN for details.
        return Responder(EMERGENCY_LINE, f"{policy.tenant} emergency line", None)
    return None


def check_pin(pin_hash: str | None, pin: str) -> bool:
    """Check a PIN against "pbkdf2_sha256$iterations$salt_hex$hash_hex" in constant time."""
    if not pin_hash or not pin.isdigit():
        return False
    try:
        scheme, iterations, salt_hex, hash_hex = pin_hash.split("$")
        salt, expected = bytes.fromhex(salt_hex), bytes.fromhex(hash_hex)
        rounds = int(iterations)
    except ValueError:
        return False
    if scheme != "pbkdf2_sha256":
        return False
    actual = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, rounds)
    return hmac.compare_digest(actual, expected)
