"""The TwiML a breach call opens with: ticket reference and class, press 1 to acknowledge.

Built with Twilio's own `VoiceResponse` (as `intake/voice.py` builds the rest of the call), so
attribute names and escaping are Twilio's. Kept apart from `slawatch/messages.py`, which the
workflows import and which therefore uses only the standard library.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from twilio.twiml.voice_response import VoiceResponse

from slawatch.messages import ACK_DIGIT, CLASS, REF, check_field, spoken

# What the call says in each language (policies/languages.py), and Twilio's `<Say>` language
# and voice for it. English keeps Twilio's default voice (en-US), as before languages came.
# Romanian: Amazon Polly's Romanian voice; Estonian: Polly has none, Google's standard one.
_SPOKEN: dict[str, tuple[str, str, dict[str, str]]] = {
    "en": (
        "This is slawatch. Ticket {ref}, class {severity}, has breached its service level. "
        "Press {digit} to acknowledge.",
        "No acknowledgement received. Goodbye.",
        {},
    ),
    "et": (
        "Siin slawatch. Pilet {ref}, klass {severity}, on teenustaseme tähtaja ületanud. "
        "Kinnitamiseks vajutage {digit}.",
        "Kinnitust ei saadud. Head aega.",
        {"language": "et-EE", "voice": "Google.et-EE-Standard-A"},
    ),
    "ro": (
        "Aici slawatch. Tichetul {ref}, clasa {severity}, a depășit nivelul de serviciu. "
        "Apăsați {digit} pentru confirmare.",
        "Nu s-a primit nicio confirmare. La revedere.",
        {"language": "ro-RO", "voice": "Polly.Carmen"},
    ),
}
LANGUAGES = tuple(_SPOKEN)

# The outage digest's call (activities/digest.py): the whole text, one folded ticket, and the
# tail when more were folded than it reads. Same voice and key as the language's page.
_SPOKEN_DIGEST: dict[str, tuple[str, str, str]] = {
    "en": (
        "This is slawatch. {count} more tickets have breached their service level: "
        "{names}{more}. Press {digit} to acknowledge all {total}, with ticket {leader}.",
        "ticket {ref}, class {severity}",
        "; and {count} more",
    ),
    "et": (
        "Siin slawatch. Teenustaseme tähtaja on ületanud ka need piletid, kokku {count}: "
        "{names}{more}. Kõigi {total} kinnitamiseks koos piletiga {leader} vajutage {digit}.",
        "pilet {ref}, klass {severity}",
        "; ja veel {count}",
    ),
    "ro": (
        "Aici slawatch. Au depășit nivelul de serviciu și aceste tichete, în total {count}: "
        "{names}{more}. Apăsați {digit} pentru a le confirma pe toate {total}, împreună cu "
        "tichetul {leader}.",
        "tichetul {ref}, clasa {severity}",
        "; și încă {count}",
    ),
}


def digest_voice(language: str | None) -> tuple[tuple[str, str, str], str, dict[str, str]]:
    """The digest call's texts in `language` (English when None), its goodbye, and the
    `<Say>` language and voice; ValueError for a language we do not have."""
    if language is not None and language not in _SPOKEN:
        raise ValueError(f"language: unknown language {language!r} (use {', '.join(_SPOKEN)})")
    _, goodbye, how = _SPOKEN[language or "en"]
    return _SPOKEN_DIGEST[language or "en"], goodbye, how


def build_call_twiml(
    ticket_ref: str, severity: str, gather_url: str, language: str | None = None
) -> str:
    """TwiML that reads the ticket reference and class twice and asks for 1 to acknowledge,
    in `language` (en, et, ro; English when None). The key is 1 in every language."""
    if language is not None and language not in _SPOKEN:
        raise ValueError(f"language: unknown language {language!r} (use {', '.join(_SPOKEN)})")
    said, goodbye, how = _SPOKEN[language or "en"]
    check_field("ticket_ref", ticket_ref, REF)
    check_field("severity", severity, CLASS)
    parts = urlsplit(gather_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"gather_url: {gather_url!r} is not an absolute http(s) URL")
    text = said.format(ref=spoken(ticket_ref), severity=severity, digit=ACK_DIGIT)
    return gather_twice(text, goodbye, gather_url, how)


def gather_twice(text: str, goodbye: str, gather_url: str, how: dict[str, str]) -> str:
    """A call's TwiML: `text` said twice inside a one-digit Gather posting to `gather_url`, then
    `goodbye`; `how` is the <Say> language and voice. Pages and digests both speak this way."""
    response = VoiceResponse()
    gather = response.gather(num_digits=1, action=gather_url, method="POST", timeout=8)
    # Said twice inside Gather: the responder may pick up mid-sentence.
    for _ in range(2):
        gather.say(text, **how)
    response.say(goodbye, **how)
    return str(response.to_xml(xml_declaration=True))
