"""The TwiML a breach call opens with: ticket reference and class, press 1 to acknowledge.

Built with Twilio's own `VoiceResponse` (as `intake/voice.py` builds the rest of the call), so
attribute names and escaping are Twilio's. Kept apart from `slawatch/messages.py`, which the
workflows import and which therefore uses only the standard library.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from twilio.twiml.voice_response import VoiceResponse

from slawatch.messages import ACK_DIGIT, CLASS, REF, check_field, spoken


def build_call_twiml(ticket_ref: str, severity: str, gather_url: str) -> str:
    """TwiML that reads the ticket reference and class twice and asks for 1 to acknowledge."""
    check_field("ticket_ref", ticket_ref, REF)
    check_field("severity", severity, CLASS)
    parts = urlsplit(gather_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"gather_url: {gather_url!r} is not an absolute http(s) URL")
    text = (
        f"This is slawatch. Ticket {spoken(ticket_ref)}, class {severity}, "
        f"has breached its service level. Press {ACK_DIGIT} to acknowledge."
    )
    response = VoiceResponse()
    gather = response.gather(num_digits=1, action=gather_url, method="POST", timeout=8)
    # Said twice inside Gather: the responder may pick up mid-sentence.
    for _ in range(2):
        gather.say(text)
    response.say("No acknowledgement received. Goodbye.")
    return str(response.to_xml(xml_declaration=True))
