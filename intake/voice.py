"""TwiML for the call after the first key press: acknowledged, PIN prompt, details after the PIN."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from slawatch.models import TargetStatus, TicketStatus


def xml(response: VoiceResponse) -> str:
    return str(response.to_xml(xml_declaration=True))


def say_goodbye(text: str) -> str:
    response = VoiceResponse()
    response.say(text)
    response.hangup()
    return xml(response)


def acknowledged(pin_url: str | None) -> str:
    """Thanks, then (only for people with a PIN) the offer to hear details after the PIN."""
    response = VoiceResponse()
    response.say("Acknowledged. Thank you; the escalation has stopped.")
    if pin_url is not None:
        gather = response.gather(
            # Up to 32 digits: a PIN as long as its owner likes, ended by the hash key.
            action=pin_url,
            method="POST",
            finish_on_key="#",
            num_digits=32,
            timeout=8,
        )
        gather.say("To hear the ticket's details, enter your PIN followed by the hash key.")
    response.say("Goodbye.")
    response.hangup()
    return xml(response)


def _target(label: str, target: TargetStatus) -> str:
    if target.state.value == "none":
        return f"No {label} target."
    text = f"{label.capitalize()} target {target.state.value.replace('_', ' ')}"
    if target.due is not None:
        text += f", due {target.due:%H:%M} UTC on {target.due:%A %d %B}"
    return text + "."


def details(status: TicketStatus) -> str:
    """The status read out once the PIN matched: targets, escalation level, who acknowledged."""
    lines = [
        f"Ticket {status.ticket_id} for {status.tenant}, class {status.severity}, "
        f"state {status.sla_state.replace('_', ' ')}.",
        _target("response", status.response),
        _target("resolution", status.resolution),
        f"Escalation level {status.escalation_level}.",
    ]
    if status.acknowledgements:
        last = status.acknowledgements[-1]
        lines.append(f"Last acknowledged by {last.responder.split(' ')[0]} by {last.channel}.")
    response = VoiceResponse()
    for line in lines:
        response.say(line)
    response.say("Goodbye.")
    response.hangup()
    return xml(response)
