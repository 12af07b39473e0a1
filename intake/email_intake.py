"""Mail to a tenant's support address opens a ticket (POST /v1/helpdesk/email/{tenant}).

SendGrid Inbound Parse posts each mail as multipart/form-data (`headers`, `from`, `to`,
`subject`, `text`, `envelope`, ...; twilio.com/docs/sendgrid/for-developers/parsing-email/
setting-up-the-inbound-parse-webhook). With a Parse security policy SendGrid signs the body
with ECDSA (twilio.com/docs/sendgrid/for-developers/parsing-email/securing-your-parse-webhooks):
the signature over timestamp + raw body, in the headers its signed webhooks use, checked with
the tenant's public key from SLAWATCH_EMAIL_PARSE_KEYS (never the policy).

A thread is one ticket: its id comes from the thread's first Message-ID (References, else
In-Reply-To, else the mail's own), so a reply joins the ticket its thread opened. A sender
outside the tenant's allowed domains is logged (by domain) and not ticketed.
"""

from __future__ import annotations

import base64
import binascii
import email.parser
import email.policy
import email.utils
import hashlib
import json
import re
import time
from datetime import UTC, datetime
from email.message import Message
from typing import Annotated

import structlog
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key
from fastapi import APIRouter, Header, Path, Request

from intake.errors import ApiError
from intake.helpdesk import (
    PREFIX,
    AdapterResult,
    TicketSession,
    once,
    refuse,
    secret_for,
    ticket_id_of,
)
from intake.tickets import ERRORS, OPENED_AT_PAST
from policies.helpdesk import EmailIntake
from slawatch.models import TENANT_PATTERN

log = structlog.get_logger("slawatch.intake.email")
router = APIRouter(prefix=f"{PREFIX}/email", tags=["help desks"])

# The headers of SendGrid's signed webhooks (sendgrid-python's EventWebhookHeader).
SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
MAX_AGE_SECONDS = 15 * 60  # a replay inside it is caught by the mail's Message-ID


def _verify(request: Request, tenant: str, body: bytes) -> None:
    key = secret_for(request, "email", tenant)
    given, stamp = request.headers.get(SIGNATURE, ""), request.headers.get(TIMESTAMP, "")
    problem = ""
    if key is None:
        problem = "no SLAWATCH_EMAIL_PARSE_KEYS entry for the tenant"
    elif not stamp.isdigit() or abs(time.time() - int(stamp)) > MAX_AGE_SECONDS:
        problem = "timestamp missing or outside the allowed age"
    else:
        try:
            public = load_der_public_key(base64.b64decode(key))
            if not isinstance(public, ec.EllipticCurvePublicKey):
                raise ValueError("not an elliptic-curve key")
            public.verify(base64.b64decode(given), stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError, binascii.Error):
            problem = "signature does not verify"
    if problem:
        refuse(log, "email", tenant, problem, SIGNATURE)


def _form(request: Request, body: bytes) -> dict[str, str]:
    """The text fields of a multipart/form-data body (attachments are not read)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise ApiError(415, "expected multipart/form-data, as SendGrid Inbound Parse posts")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, str] = {}
    for part in parsed.iter_parts() if parsed.is_multipart() else []:
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str) and part.get_filename() is None:
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                fields[name] = payload.decode(part.get_content_charset() or "utf-8", "replace")
    return fields


def _field(fields: dict[str, str], name: str) -> str:
    value = fields.get(name, "").strip()
    if not value:
        raise ApiError(422, f"form field {name!r} is missing", field=name)
    return value


def _thread_root(headers: Message) -> tuple[str, str, bool]:
    """(the mail's Message-ID, its thread's first Message-ID, whether it is a reply)."""
    own = str(headers.get("Message-ID", "")).strip()
    if not own:
        raise ApiError(422, "headers: the mail has no Message-ID", field="headers")
    references = str(headers.get("References", "")).split()
    in_reply_to = str(headers.get("In-Reply-To", "")).split()
    earlier = references or in_reply_to
    return own, (earlier[0] if earlier else own), bool(earlier)


_RFC5322_DATE = re.compile(
    r"(?:[A-Z][a-z]{2}, )?\d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}(?::\d{2})? [+-]\d{4}"
)


def received_at(headers: Message) -> datetime | None:
    """When the mail reached SendGrid: the date of the topmost Received header (the one its MX
    added), else the Date header (the sender's clock); None when neither reads as an instant."""
    received = headers.get_all("Received") or []
    # RFC 5322 puts the date after ";"; SendGrid's own line has none, so the last date in it.
    dates = _RFC5322_DATE.findall(str(received[0])) if received else []
    stamps = [dates[-1]] if dates else []
    stamps.append(str(headers.get("Date", "")))
    for stamp in stamps:
        try:
            at = email.utils.parsedate_to_datetime(stamp.strip())
        except (TypeError, ValueError, IndexError):
            continue
        if at.tzinfo is not None and at > datetime.now(UTC) - OPENED_AT_PAST:
            return at
    return None


def _allowed(config: EmailIntake, sender: str) -> bool:
    domain = sender.rpartition("@")[2].casefold()
    return any(
        domain == d.casefold() or domain.endswith("." + d.casefold())
        for d in config.allowed_domains
    )


def _class(config: EmailIntake, subject: str) -> str | None:
    folded = subject.casefold()
    return next((r.class_ for r in config.rules if r.subject_contains.casefold() in folded), None)


_FIELDS = ["headers", "from", "to", "subject", "text", "envelope"]
_FORM = {
    "requestBody": {
        "required": True,
        "description": "The mail as SendGrid Inbound Parse posts it (parsed mode).",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["headers", "envelope"],
                    "properties": {name: {"type": "string"} for name in _FIELDS},
                }
            }
        },
    }
}


@router.post(
    "/{tenant}",
    responses={415: ERRORS[413], **ERRORS},
    summary="Receive a mail (SendGrid Inbound Parse)",
    openapi_extra=_FORM,
)
async def email_webhook(
    request: Request,
    tenant: Annotated[str, Path(pattern=TENANT_PATTERN)],
    _signature: Annotated[str | None, Header(alias=SIGNATURE)] = None,
    _timestamp: Annotated[str | None, Header(alias=TIMESTAMP)] = None,
) -> AdapterResult:
    """A mail to the support address opens a ticket; a reply in its thread joins it.

    Signed by SendGrid's Inbound Parse security policy (ECDSA, the tenant's public key).
    """
    body = await request.body()
    _verify(request, tenant, body)
    fields = _form(request, body)
    config = request.app.state.policies.get(tenant).helpdesk.email
    if config is None:
        raise ApiError(404, f"tenant {tenant!r} has no helpdesk.email in its policy")
    headers = email.parser.HeaderParser().parsestr(_field(fields, "headers"))
    own, root, reply = _thread_root(headers)
    try:
        envelope = json.loads(fields.get("envelope", "{}"))
    except ValueError:
        raise ApiError(422, "envelope: not JSON", field="envelope") from None
    address = (config.address or request.app.state.policies.get(tenant).support_email).casefold()
    recipients = (
        [str(r).casefold() for r in envelope.get("to", [])] if isinstance(envelope, dict) else []
    )
    if address not in recipients:
        return AdapterResult(ignored="not addressed to the support address")
    sender = email.utils.parseaddr(str(envelope.get("from") or fields.get("from", "")))[1]
    if not _allowed(config, sender):
        # The domain only: the address is customer data, and logs are read by many.
        log.warning("email_sender_not_allowed", tenant=tenant, domain=sender.rpartition("@")[2])
        return AdapterResult(ignored="sender's domain is not allowed for this tenant")
    digest = hashlib.sha256(root.strip("<>").casefold().encode()).hexdigest()[:20]
    ticket_id = ticket_id_of(config.ticket_prefix, digest, "headers")
    subject = fields.get("subject", "")

    async def handle() -> AdapterResult:
        session = TicketSession(request, tenant, ticket_id, "email")
        # The ticket opens when the mail arrived, not when SendGrid's post reached us.
        await session.open_with(_class(config, subject), subject, received_at(headers))
        return session.result("a reply in the ticket's thread" if reply else "already open")

    return await once(request, f"email:{tenant}:{own}", handle)
