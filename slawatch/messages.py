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


# The page texts in each language a responder may have (policies/languages.py; English when
# none). Codes, "ACK <ref>" and the key to press are the same in every language: the webhooks
# parse them, not the words around them. Romanian is written with its comma-below letters (ș,
# ț) and Estonian with õ: such an SMS goes as UCS-2 (70 characters a segment), which every
# phone in those countries shows; the ASCII look-alikes read as misspellings.
_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "page": "slawatch: ticket {ref} ({severity}) {what}.",
        "breached": "{kind} target BREACHED",
        "used": "{percent}% of {kind} target used",
        "reply_code": "Reply {code} to acknowledge.",
        "reply_ack": "Reply ACK {ref} to acknowledge.",
        "response": "response",
        "resolution": "resolution",
        # The outage digest (activities/digest.py): the group's code and "ACK <ticket>" reply.
        "digest": "slawatch: {count} more tickets breached: {names}{more}. Reply {code} to"
        " acknowledge all {total} (with {leader}), or ACK <ticket> for one.",
        "digest_line": "{ref} ({severity} {kind})",
        "digest_more": " and {count} more",
        "digest_response": "response",
        "digest_resolution": "resolution",
    },
    "et": {
        "page": "slawatch: pilet {ref} ({severity}): {what}.",
        "breached": "{kind} tähtaeg on ÜLETATUD",
        "used": "{kind} tähtajast on kasutatud {percent}%",
        "reply_code": "Vasta {code} kinnitamiseks.",
        # The reference never ends the sentence: a reply copied with the full stop would not
        # name the ticket.
        "reply_ack": "Vasta ACK {ref} kinnitamiseks.",
        "response": "reageerimisaja",
        "resolution": "lahendusaja",
        # Worded so that one ticket or twenty read right ("ka need piletid (N)"), and the code
        # is followed by a word, not a comma a copied reply would carry.
        "digest": "slawatch: tähtaja on ületanud ka need piletid ({count}): {names}{more}."
        " Vasta {code} kõigi {total} kinnitamiseks (koos piletiga {leader}) või ACK <pilet>"
        " ühe kinnitamiseks.",
        "digest_line": "{ref} ({severity}, {kind})",
        "digest_more": " ja veel {count}",
        "digest_response": "reageerimisaeg",
        "digest_resolution": "lahendusaeg",
    },
    "ro": {
        "page": "slawatch: tichetul {ref} ({severity}): {what}.",
        "breached": "termenul de {kind} a fost DEPĂȘIT",
        "used": "s-a consumat {percent}% din termenul de {kind}",
        "reply_code": "Răspundeți cu {code} pentru confirmare.",
        "reply_ack": "Răspundeți cu ACK {ref} pentru confirmare.",
        "response": "răspuns",
        "resolution": "rezolvare",
        # "și aceste tichete (N)": right for one ticket and for twenty ("20 de tichete").
        "digest": "slawatch: au depășit termenul și aceste tichete ({count}): {names}{more}."
        " Răspundeți cu {code} pentru a le confirma pe toate {total} (cu {leader}) sau cu"
        " ACK <tichet> pentru unul singur.",
        "digest_line": "{ref} ({severity}, {kind})",
        "digest_more": " și încă {count}",
        "digest_response": "răspuns",
        "digest_resolution": "rezolvare",
    },
}
LANGUAGES = tuple(_TEXTS)


def texts_for(language: str | None) -> dict[str, str]:
    """The texts of `language` (English when None); ValueError for one we do not have."""
    if language is None:
        return _TEXTS["en"]
    if language not in _TEXTS:
        raise ValueError(f"language: unknown language {language!r} (use {', '.join(_TEXTS)})")
    return _TEXTS[language]


def sms_language(body: str) -> str | None:
    """The language `build_sms_body` wrote `body` in (None for English or a text it did not
    write): the send activity keeps it for the outage digest that may follow the page."""
    for language, t in _TEXTS.items():
        if language != "en" and body.startswith(t["page"].split("{ref}")[0]):
            return language
    return None


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
    language: str | None = None,
) -> str:
    """SMS text for a breach (or a warning at `percent` of a target), with the reply hint.

    With a one-time `code` the hint is "Reply <code> to acknowledge <ref>": the code proves the
    page was received, which a caller ID alone does not. `language` (en, et, ro) chooses the
    words; the code and the "ACK <ref>" reply are the same in every language.
    """
    t = texts_for(language)
    check_field("ticket_ref", ticket_ref, REF)
    check_field("severity", severity, CLASS)
    check_field("kind", kind, _KIND)
    if code is not None:
        check_field("code", code, ACK_CODE)
    target = t.get(kind, kind)
    if percent is None:
        what = t["breached"].format(kind=target)
    elif 0 < percent < 100:
        what = t["used"].format(kind=target, percent=percent)
    else:
        raise ValueError(f"percent: {percent} must be between 1 and 99")
    page = t["page"].format(ref=ticket_ref, severity=severity, what=what)
    if code is not None:
        return f"{page} {t['reply_code'].format(code=code)}"
    return f"{page} {t['reply_ack'].format(ref=ticket_ref)}"


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
