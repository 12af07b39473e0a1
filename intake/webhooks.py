"""Twilio webhooks: inbound SMS acks, the call's TwiML, key presses, PIN, delivery statuses."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import structlog
from fastapi import APIRouter, Request, Response
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from twilio.twiml.messaging_response import MessagingResponse

from intake import acks, voice
from intake.errors import ApiError
from intake.policybook import PolicyBook
from intake.twilio_guard import TwilioConfig, check_pin, responder_by_phone, signed_params
from intake.webhook_store import WebhookStore
from policies.names import NAME, TICKET_ID
from slawatch.messages import (
    ACK_CODE,
    ACK_DIGIT,
    GATHER_PATH,
    STATUS_CALLBACK_PATH,
    parse_sms_ack,
    webhook_url,
)
from slawatch.models import (
    DeliveryStatusInput,
    TicketStatus,
    parse_ticket_workflow_id,
    ticket_ref,
)
from slawatch.twiml import build_call_twiml

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
    "machine",
}
# A ticket workflow id in a webhook URL: the current form, or the legacy one of older pages.
_LEGACY_WF = re.compile(f"ticket-{NAME}-{TICKET_ID}")
_BREACH = re.compile(r"[a-z]+-[0-9]{1,6}")
# An outage group id (activities/grouping.py), in a digest call's Gather URL.
_GROUP = re.compile(r"grp_[0-9a-f]{16}")
# How many waiting pages an SMS answer to a bare "1" lists.
_LISTED = 5


def _is_ticket_workflow(value: str) -> bool:
    return parse_ticket_workflow_id(value) is not None or bool(_LEGACY_WF.fullmatch(value))


def _twiml(body: str) -> Response:
    return Response(body, media_type="application/xml")


def _message(text: str | None) -> Response:
    response = MessagingResponse()
    if text:
        response.message(text)
    return _twiml(str(response.to_xml(xml_declaration=True)))


def _arg(request: Request, name: str, valid: Callable[[str], bool] | None = None) -> str:
    # Read only after the signature check: a forged request gets 403, never a 422 hint.
    value = request.query_params.get(name, "")
    if not value or (valid is not None and not valid(value)):
        raise ApiError(422, f"query parameter {name!r} is missing or malformed", field=name)
    return value


def _wf(request: Request) -> str:
    return _arg(request, "wf", _is_ticket_workflow)


def _breach(request: Request) -> str:
    return _arg(request, "breach", _BREACH.fullmatch)  # type: ignore[arg-type]


def _deps(request: Request) -> tuple[Client, PolicyBook, TwilioConfig]:
    client: Client = request.app.state.gateway.client
    return client, request.app.state.policies, request.app.state.twilio


def _store(request: Request) -> WebhookStore:
    store: WebhookStore = request.app.state.webhook_store
    return store


async def _verified(request: Request) -> dict[str, str]:
    """Signed by Twilio with our auth token, and for our account: else 403, nothing more."""
    params = await signed_params(request)
    config: TwilioConfig = request.app.state.twilio
    if params.get("AccountSid", "") != config.account_sid:
        log.warning("webhook_for_another_account")
        raise ApiError(403, "invalid X-Twilio-Signature", code="bad_signature")
    return params


async def _once(
    request: Request,
    step: str,
    sid: str,
    handle: Callable[[], Awaitable[Response]],
    replayed: Response,
) -> Response:
    """Handle a MessageSid/CallSid step once: a signed request sent again gets `replayed`.

    Twilio signs the URL and the body, not the time: without this, a captured request could be
    replayed later to acknowledge a page sent after it. A failure on our side (Temporal down)
    forgets the SID so that Twilio's own retry is handled.
    """
    store, key = _store(request), f"{step}:{sid}"
    # Twilio always sends the SID; a request without one is no Twilio request to act on.
    if not sid or not await asyncio.to_thread(store.first_sighting, key):
        log.warning("webhook_replayed", step=step)
        return replayed
    try:
        return await handle()
    except Exception:
        await asyncio.to_thread(store.forget, key)
        raise


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
    await _verified(request)
    wf, breach, key = _wf(request), _breach(request), _arg(request, "key")
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
    params = await _verified(request)
    received_at = datetime.now(UTC)
    wf, breach, key = _wf(request), _breach(request), _arg(request, "key")
    client, _, config = _deps(request)
    try:
        phone, known = await _callee(request, params, wf)
    except _Hangup as bye:
        return _twiml(voice.say_goodbye(bye.text))
    if params.get("Digits", "") != ACK_DIGIT:
        status = await acks.status_of(client, wf)
        ref = ticket_ref(known.tenant, status.ticket_id if status else wf)
        again = config.public_url(request)
        severity = status.severity if status else "unknown"
        return _twiml(build_call_twiml(ref, severity, again, known.responder.language))

    group = None
    if "group" in request.query_params:
        group = _arg(request, "group", _GROUP.fullmatch)  # type: ignore[arg-type]

    async def ack() -> Response:
        giver = acks.who(known.responder)
        if group is not None:
            # A digest call: 1 acknowledges every ticket of its outage group.
            done = await _ack_group(client, known, group, phone, received_at)
        else:
            done = await acks.acknowledge(
                client, wf, breach, giver, "voice", phone=phone, received_at=received_at
            )
        if done is None:
            return _twiml(voice.say_goodbye("There was nothing left to acknowledge. Goodbye."))
        pin_url = None
        if known.responder.pin_hash:
            pin_url = webhook_url(config.public_base_url, PIN_PATH, wf=wf, breach=breach, key=key)
        return _twiml(voice.acknowledged(pin_url))

    already = _twiml(voice.say_goodbye("This call was already answered. Goodbye."))
    return await _once(request, "gather", params.get("CallSid", ""), ack, already)


async def _ack_group(
    client: Client, known: acks.Known, group: str, phone: str, received_at: datetime
) -> TicketStatus | None:
    """Acknowledge every waiting page of outage `group` to `phone`; the last status, or None."""
    pages = await acks.pages_waiting(client, [known.tenant], phone, received_at)
    done = None
    for page in acks.group_pages(pages, group):
        status = await acks.acknowledge(
            client,
            page.workflow_id,
            page.breach_id,
            acks.who(known.responder),
            "voice",
            phone=phone,
            received_at=received_at,
            group=group,
        )
        done = status or done
    return done


@router.post(PIN_PATH)
async def voice_pin(request: Request) -> Response:
    """Details are read out only after the responder's PIN matches; wrong PINs lock it out."""
    params = await _verified(request)
    wf = _wf(request)
    client, _, _ = _deps(request)
    try:
        _, known = await _callee(request, params, wf)
    except _Hangup as bye:
        return _twiml(voice.say_goodbye(bye.text))
    store = _store(request)
    who = f"{known.tenant}:{known.responder.id}"

    async def details() -> Response:
        if await asyncio.to_thread(store.pin_locked, who):
            log.warning("voice_pin_locked", workflow_id=wf, responder=known.responder.id)
            return _twiml(voice.say_goodbye("PIN entry is locked for now. Goodbye."))
        # PBKDF2 takes tens of milliseconds: off the event loop, or every webhook waits.
        digits = params.get("Digits", "")
        if not await asyncio.to_thread(check_pin, known.responder.pin_hash, digits):
            await asyncio.to_thread(store.pin_failed, who)
            log.warning("voice_pin_mismatch", workflow_id=wf, responder=known.responder.id)
            return _twiml(voice.say_goodbye("That PIN is not correct. Goodbye."))
        await asyncio.to_thread(store.pin_succeeded, who)
        status = await acks.status_of(client, wf)
        if status is None:
            return _twiml(voice.say_goodbye("This ticket is no longer open. Goodbye."))
        return _twiml(voice.details(status))

    # One PIN entry per call: a replayed right-PIN request reads nothing out.
    already = _twiml(voice.say_goodbye("This call already entered its PIN. Goodbye."))
    return await _once(request, "pin", params.get("CallSid", ""), details, already)


@router.post(SMS_PATH)
async def sms_inbound(request: Request) -> Response:
    """An SMS reply: the page's code, "1", or "ACK <ref>", from a number that was paged."""
    params = await _verified(request)
    received_at = datetime.now(UTC)

    async def reply() -> Response:
        return _message(await _sms_reply(request, params, received_at))

    return await _once(request, "sms", params.get("MessageSid", ""), reply, _message(None))


async def _sms_reply(request: Request, params: dict[str, str], received_at: datetime) -> str | None:
    client, book, _ = _deps(request)
    phone, text = params.get("From", ""), params.get("Body", "").strip()
    known = acks.known_numbers(book, phone)
    if not known:
        # No reply at all: an unknown sender learns nothing about us.
        log.warning("sms_from_unknown_number")
        return None
    pages = await acks.pages_waiting(client, [k.tenant for k in known], phone, received_at)
    code: str | None = None
    group = acks.digest_group(pages, text) if ACK_CODE.fullmatch(text) else None
    if group is not None:
        # A digest's code: every ticket of its outage group, the first page's included.
        chosen = acks.group_pages(pages, group)
    elif text == ACK_DIGIT:
        chosen = pages
    elif ACK_CODE.fullmatch(text):
        code = text
        chosen = [p for p in pages if p.code == code]
        if not chosen:
            return f"slawatch: no page with code {code} is waiting for you."
    elif (ref := parse_sms_ack(text)) is not None:
        chosen = [p for p in pages if p.ref == ref]
        if not chosen:
            return f"slawatch: no page for {ref} is waiting for you."
    else:
        return "slawatch: reply with the code in the page (or 1) to acknowledge."
    if not chosen:
        return "slawatch: nothing is waiting for your acknowledgement."
    # A bare "1" (or a code two pages happen to share) that could mean two breaches stops
    # neither: the answer lists them. "ACK <ref>" stops every page of that ticket to this number.
    if len(chosen) > 1 and code is None and text == ACK_DIGIT:
        # An SMS stays short: the first few, and how many more (each page has its own code).
        listed = chosen[:_LISTED]
        choices = "; ".join(f"{p.code} for {p.ref} {p.breach_id}" for p in listed)
        more = f" (and {len(chosen) - len(listed)} more: see each page)" if chosen[_LISTED:] else ""
        return f"slawatch: {len(chosen)} pages wait for you. Reply {choices}{more}."
    if len(chosen) > 1 and code is not None:
        choices = " or ".join(f"ACK {p.ref}" for p in chosen)
        return f"slawatch: code {code} is on {len(chosen)} pages. Reply {choices}."
    done: list[TicketStatus] = []
    for page in chosen:
        responder = next(k.responder for k in known if k.tenant == page.tenant)
        status = await acks.acknowledge(
            client,
            page.workflow_id,
            page.breach_id,
            acks.who(responder),
            "sms",
            phone=phone,
            received_at=received_at,
            code=code,
            group=group,
        )
        if status is not None:
            done.append(status)
    if not done:
        return "slawatch: nothing to acknowledge on that ticket."
    refs = ", ".join(dict.fromkeys(ticket_ref(d.tenant, d.ticket_id) for d in done))
    return f"slawatch: acknowledged {refs}. Thank you."


@router.post(STATUS_CALLBACK_PATH, status_code=204)
async def delivery_status(request: Request) -> Response:
    """A message or call outcome: failures move the escalation on without waiting."""
    params = await _verified(request)
    wf, key = _wf(request), _arg(request, "key")
    status = (params.get("MessageStatus") or params.get("CallStatus") or "").lower()
    # Answering-machine detection: a call "completed" by voicemail or a fax was not answered.
    if status == "completed" and params.get("AnsweredBy", "").startswith(("machine", "fax")):
        status = "machine"
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
