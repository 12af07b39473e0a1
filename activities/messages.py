"""Pure builders for SMS text, call TwiML and webhook URLs: ticket reference and class only.

Workflows call these, so they are deterministic and import only the standard library. They
never take customer data: a page may be read by anyone near the phone (docs/design.md).
"""

from __future__ import annotations

import re
from urllib.parse import urlencode, urlsplit
from xml.etree import ElementTree as ET

# A reference must survive being typed back in "ACK <ref>" and read aloud: no spaces.
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,159}$")
_CLASS = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_KIND = re.compile(r"^[a-z][a-z_]{0,31}$")
_ACK = re.compile(r"^\s*ACK\s+(\S+)\s*$", re.IGNORECASE)
# A page's one-time acknowledgement code: four digits, never the bare ACK_DIGIT.
ACK_CODE = re.compile(r"^[1-9][0-9]{3}$")

# Paths on settings.public_base_url where Twilio reaches the intake webhooks.
STATUS_CALLBACK_PATH = "/twilio/status"
GATHER_PATH = "/twilio/voice/gather"
ACK_DIGIT = "1"


def _check(field: str, value: str, pattern: re.Pattern[str]) -> str:
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
    _check("ticket_ref", ticket_ref, _REF)
    _check("severity", severity, _CLASS)
    _check("kind", kind, _KIND)
    if code is not None:
        _check("code", code, ACK_CODE)
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
    return match.group(1) if match and _REF.match(match.group(1)) else None


def _spoken(ticket_ref: str) -> str:
    # Text-to-speech reads "T-1042" as a subtraction; spell separators as pauses instead.
    return re.sub(r"[._:/-]+", ", ", ticket_ref)


def build_call_twiml(ticket_ref: str, severity: str, gather_url: str) -> str:
    """TwiML that reads the ticket reference and class twice and asks for 1 to acknowledge."""
    _check("ticket_ref", ticket_ref, _REF)
    _check("severity", severity, _CLASS)
    parts = urlsplit(gather_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"gather_url: {gather_url!r} is not an absolute http(s) URL")
    text = (
        f"This is slawatch. Ticket {_spoken(ticket_ref)}, class {severity}, "
        f"has breached its service level. Press {ACK_DIGIT} to acknowledge."
    )
    response = ET.Element("Response")
    gather = ET.SubElement(
        response,
        "Gather",
        {"numDigits": "1", "action": gather_url, "method": "POST", "timeout": "8"},
    )
    # Said twice inside Gather: the responder may pick up mid-sentence.
    for _ in range(2):
        ET.SubElement(gather, "Say").text = text
    ET.SubElement(response, "Say").text = "No acknowledgement received. Goodbye."
    return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(response, encoding="unicode")


def webhook_url(base_url: str, path: str, **params: str) -> str:
    """An absolute webhook URL on the public base with the given query parameters."""
    return f"{base_url.rstrip('/')}{path}?{urlencode(sorted(params.items()))}"
