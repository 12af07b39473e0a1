"""Pure builders for SMS text and webhook URLs: ticket reference and class only.

Workflows call these, so they are deterministic and import only the standard library and the
name rule (`policies/names.py`, itself standard library only). They never take customer data:
a page may be read by anyone near the phone (docs/design.md).
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from policies.names import NAME_PATTERN

# A reference must survive being typed back in "ACK <ref>" and read aloud: no spaces.
REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,159}$")
CLASS = re.compile(NAME_PATTERN)
_KIND = re.compile(r"^[a-z][a-z_]{0,31}$")
_ACK = re.compile(r"^\s*ACK\s+(\S+)\s*$", re.IGNORECASE)
# A page's one-time acknowledgement code: four digits, never the bare ACK_DIGIT.
ACK_CODE = re.compile(r"^[1-9][0-9]{3}$")

# Paths on settings.public_base_url where Twilio reaches the intake webhooks.
STATUS_CALLBACK_PATH = "/twilio/status"
GATHER_PATH = "/twilio/voice/gather"
ACK_DIGIT = "1"


def check_field(field: str, value: str, pattern: re.Pattern[str]) -> str:
    """`value`, or ValueError naming the field when it does not match `pattern`."""
    if not pattern.match(value):
        raise ValueError(f"{field}: {value!r} does not match {pattern.pattern}")
    return value


def build_sms_body(
    ticket_ref: str,
    severity: str,
    kind: str,
    *,
    percent: int | None = None,
    code: str | None = None,
) -> str:
    """SMS text for a breach (or a warning at `percent` of a target), with the reply hint.

    With a one-time `code` the hint is "Reply <code> to acknowledge <ref>": the code proves the
    page was received, which a caller ID alone does not.
    """
    check_field("ticket_ref", ticket_ref, REF)
    check_field("severity", severity, CLASS)
    check_field("kind", kind, _KIND)
    if code is not None:
        check_field("code", code, ACK_CODE)
    if percent is None:
        what = f"{kind} target BREACHED"
    elif 0 < percent < 100:
        what = f"{percent}% of {kind} target used"
    else:
        raise ValueError(f"percent: {percent} must be between 1 and 99")
    if code is not None:
        return f"slawatch: ticket {ticket_ref} ({severity}) {what}. Reply {code} to acknowledge."
    return (
        f"slawatch: ticket {ticket_ref} ({severity}) {what}. Reply ACK {ticket_ref} to acknowledge."
    )


def parse_sms_ack(text: str) -> str | None:
    """The ticket reference of an "ACK <ref>" reply, or None when the text is not one."""
    match = _ACK.match(text)
    return match.group(1) if match and REF.match(match.group(1)) else None


def spoken(ticket_ref: str) -> str:
    """The reference as text-to-speech should read it (the call's TwiML, slawatch/twiml.py)."""
    # Text-to-speech reads "T-1042" as a subtraction; spell separators as pauses instead.
    return re.sub(r"[._:/-]+", ", ", ticket_ref)


def webhook_url(base_url: str, path: str, **params: str) -> str:
    """An absolute webhook URL on the public base with the given query parameters."""
    return f"{base_url.rstrip('/')}{path}?{urlencode(sorted(params.items()))}"
