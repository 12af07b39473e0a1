"""The one spelling of an email address and of a phone number (E.164), for policy files, the
notification activities and the tools."""

from __future__ import annotations

import re
from typing import Annotated

import phonenumbers
from pydantic import Field

# Deliberately loose: SendGrid does the real check; this catches blanks and obvious typos.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
EMAIL = re.compile(EMAIL_PATTERN)
EmailAddress = Annotated[str, Field(pattern=EMAIL_PATTERN)]


def e164(value: str) -> str:
    """Parse a phone number written for people and return it as E.164, or raise ValueError."""
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        # The library prefixes its messages with an error code: "(1) The string supplied ...".
        reason = re.sub(r"^\(\d+\)\s*", "", str(exc)).rstrip(".")
        reason = reason[:1].lower() + reason[1:]
        raise ValueError(f"invalid phone number {value!r}: {reason}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"invalid phone number {value!r}: not a valid number in its country")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
