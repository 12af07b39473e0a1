"""Twilio webhooks: inbound SMS acks, the call's TwiML, key presses, PIN, delivery statuses."""

from __future__ import annotations

import re

import structlog
from fastapi import APIRouter, Request, Response
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from twilio.twiml.messaging_response import MessagingResponse

from activities.messages import (
    ACK_DIGIT,
    GATHER_PATH,
    STATUS_CALLBACK_PATH,
    build_call_twiml,
    parse_sms_ack,
    webhook_url,
)
from intake import acks, voice
from intake.errors import ApiError
from intake.policybook import PolicyBook
from intake.twilio_guard import TwilioConfig, check_pin, responder_by_phone, signed_params
from slawatch.models import DeliveryStatusInput, ticket_ref

log = structlog.get_logger("slawatch.intake.webhooks")
router = APIRouter(tags=["twilio"], include_in_schema=False)

# The other webhook paths sit beside the ones the notification activities put into URLs.
TWILIO_PREFIX = GATHER_PATH.removesuffix("/voice/gather")
SMS_PATH = f"{TWILIO_PREFIX}/sms"
VOICE_PATH = f"{TWILIO_PREFIX}/voice"
PIN_PATH = f"{TWILIO_PREFIX}/voice/pin"
# Outcomes worth a signal; queued/sent/ringing/in-progress would only grow the history.
FINAL_STATUSES = {
    "delivered",
    "undelivered",
    "failed",
    "no-answer",
    "busy",
    "canceled",
    "completed",
}
_WF = re.compile(r"^ticket-[a-z][a-z0-9_-]{0,62}-[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def _twiml(body: str) -> Response:
    return Response(body, media_type="application/xml")


def _message(text: str | None) -> Response:
    response = MessagingResponse()
    if text:
        response.message(text)
    return _twiml(str(response.to_xml(xml_declaration=True)))


def _arg(request: Request, name: str, pattern: re.Pattern[str] | None = None) -> str:
    # Read only after the signature check: a forged request gets 403, never a 422 hint.
    value = request.query_params.get(name, "")
    if not value or (pattern is not None and not pattern.match(value)):
        raise ApiError(422, f"query parameter {name!r} is missing or malformed", field=name)
    return value


def _deps(request: Request) -> tuple[Client, PolicyBook, TwilioConfig]:
    client: Client = request.app.state.gateway.client
    return client, request.app.state.policies, request.app.state.twilio


async def _callee(request: Request, params: dict[str, str], wf: str) -> tuple[str, acks.Known]:
    """The ticket's status and the known responder on this call, or a TwiML goodbye."""
    client, book, _ = _deps(request)
    # Our calls are outbound: the responder is the number called. Inbound: the caller.
    outbound = params.get("Direction", "outbound-api").startswith("outbound")
    phone = params.get("To" if outbound else "From", "")
    status = await acks.status_of(client, wf)
    responder = responder_by_phone(book.get(status.tenant), phone) if status else None
    if status is None or responder is None:
        log.warning("voice_from_unknown_number", workflow_id=wf, known_ticket=status is not None)
        raise _Hangup("This number is not registered for this ticket. Goodbye.")
    return phone, acks.Known(status.tenant, responder)


class _Hangup(Exception):
    def __init__(self, text: str) -> None:
        self.text = text


@router.post(VOICE_PATH)
async def voice_twiml(request: Request) -> Response:
    """The call's opening TwiML: ticket reference and class, press 1 to acknowledge."""
    await signed_params(request)
    wf, breach, key = _arg(request, "wf", _WF), _arg(request, "breach"), _arg(request, "key")
    client, _, config = _deps(request)
    status = await acks.status_of(client, wf)
    if status is None:
        return _twiml(voice.say_goodbye("This ticket is no longer open. Goodbye."))
    gather = webhook_url(config.public_base_url, GATHER_PATH, wf=wf, breach=breach, key=key)
    ref = ticket_ref(status.tenant, status.ticket_id)
    return _twiml(build_call_twiml(ref, status.severity, gather))


@router.post(GATHER_PATH)
async def voice_gather(request: Request) -> Response:
    """The key pressed on the call: 1 acknowledges the breach the call was about."""
    params = await signed_params(request)
    wf, breach, key = _arg(request, "wf", _WF), _arg(request, "breach"), _arg(request, "key")
    client, _, config = _deps(request)
    try:
        phone, known = await _callee(request, params, wf)
    except _Hangup as bye:
        return _twiml(voice.say_goodbye(bye.text))
    if params.get("Digits", "") != ACK_DIGIT:
        status = await acks.status_of(client, wf)
        ref = ticket_ref(known.tenant, status.ticket_id if status else wf)
        again = config.public_url(request)
        return _twiml(build_call_twiml(ref, status.severity if status else "unknown", again))
    giver = acks.who(known.responder, phone)
    done = await acks.acknowledge(client, wf, breach, giver, "voice")
    if done is None:
        return _twiml(voice.say_goodbye("There was nothing left to acknowledge. Goodbye."))
    pin_url = None
    if known.responder.pin_hash:
        pin_url = webhook_url(config.public_base_url, PIN_PATH, wf=wf, breach=breach, key=key)
    return _twiml(voice.acknowledged(pin_url))


@router.post(PIN_PATH)
async def voice_pin(request: Request) -> Response:
    """Details are read out only after the responder's PIN matches."""
    params = await signed_params(request)
    wf = _arg(request, "wf", _WF)
    client, _, _ = _deps(request)
    try:
        _, known = await _callee(request, params, wf)
    except _Hangup as bye:
        return _twiml(voice.say_goodbye(bye.text))
    if not check_pin(known.responder.pin_hash, params.get("Digits", "")):
        log.warning("voice_pin_mismatch", workflow_id=wf, responder=known.responder.id)
        return _twiml(voice.say_goodbye("That PIN is not correct. Goodbye."))
    status = await acks.status_of(client, wf)
    if status is None:
        return _twiml(voice.say_goodbye("This ticket is no longer open. Goodbye."))
    return _twiml(voice.details(status))


@router.post(SMS_PATH)
async def sms_inbound(request: Request) -> Response:
    """An SMS reply: "ACK <ref>" or "1" from a known responder's number acknowledges."""
    params = await signed_params(request)
    client, book, _ = _deps(request)
    phone, text = params.get("From", ""), params.get("Body", "").strip()
    known = acks.known_numbers(book, phone)
    if not known:
        # No reply at all: an unknown sender learns nothing about us.
        log.warning("sms_from_unknown_number")
        return _message(None)
    if text == ACK_DIGIT:
        target = await acks.latest_page(client, [k.tenant for k in known], phone)
        if target is None:
            return _message("slawatch: nothing is waiting for your acknowledgement.")
        tenant, wf, breach_id = target
    elif (ref := parse_sms_ack(text)) is not None:
        tenant, _, ticket_id = ref.partition("/")
        if tenant not in {k.tenant for k in known} or not _WF.match(f"ticket-{tenant}-{ticket_id}"):
            return _message(f"slawatch: no ticket {ref} that you may acknowledge.")
        wf, breach_id = f"ticket-{tenant}-{ticket_id}", None
    else:
        return _message("slawatch: reply ACK <ticket ref> (or 1) to acknowledge.")
    responder = next(k.responder for k in known if k.tenant == tenant)
    done = await acks.acknowledge(client, wf, breach_id, acks.who(responder, phone), "sms")
    if done is None:
        return _message("slawatch: nothing to acknowledge on that ticket.")
    return _message(f"slawatch: acknowledged {ticket_ref(done.tenant, done.ticket_id)}. Thank you.")


@router.post(STATUS_CALLBACK_PATH, status_code=204)
async def delivery_status(request: Request) -> Response:
    """A message or call outcome: failures move the escalation on without waiting."""
    params = await signed_params(request)
    wf, key = _arg(request, "wf", _WF), _arg(request, "key")
    status = (params.get("MessageStatus") or params.get("CallStatus") or "").lower()
    if status in FINAL_STATUSES:
        client, _, _ = _deps(request)
        handle = client.get_workflow_handle(wf)
        try:
            await handle.signal(
                "delivery_status", DeliveryStatusInput(idempotency_key=key, status=status)
            )
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            log.info("status_for_finished_ticket", workflow_id=wf, status=status)
    return Response(status_code=204)
