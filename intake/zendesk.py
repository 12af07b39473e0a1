"""Zendesk ticket event webhooks -> ticket events (POST /v1/helpdesk/zendesk/{tenant}).

Zendesk signs each request: X-Zendesk-Webhook-Signature = base64(HMAC-SHA256(signing secret,
X-Zendesk-Webhook-Signature-Timestamp + raw body)) (developer.zendesk.com, "Verifying webhook
authenticity"). The secret is the tenant's entry in SLAWATCH_ZENDESK_SECRETS, never the policy.
Payloads are the event-subscribed ticket events (developer.zendesk.com/api-reference/webhooks/
event-types/ticket-events): `type`, `id`, `time`, `detail` (the ticket), `event` (the change).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Header, Path, Request
from pydantic import AwareDatetime, BeforeValidator

from intake.errors import ApiError
from intake.helpdesk import (
    PREFIX,
    AdapterResult,
    Loose,
    TicketSession,
    first_response_due,
    json_body,
    lookup,
    once,
    parse,
    refuse,
    secret_for,
    since_opening,
    ticket_id_of,
)
from intake.schemas import FirstResponseEvent
from intake.tickets import ERRORS
from policies.helpdesk import ZendeskIntake
from slawatch.models import TENANT_PATTERN

log = structlog.get_logger("slawatch.intake.zendesk")
router = APIRouter(prefix=f"{PREFIX}/zendesk", tags=["help desks"])

SIGNATURE = "X-Zendesk-Webhook-Signature"
TIMESTAMP = "X-Zendesk-Webhook-Signature-Timestamp"
# How old a signed request may be. A replay within it is caught by the event id (the webhook
# store keeps ids for two days), so this only bounds how long a captured request is worth trying.
MAX_AGE = timedelta(minutes=15)
EVENT = "zen:event-type:ticket."

# Zendesk sends ids as strings in these payloads, as numbers elsewhere: take both.
Id = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)]


class ZendeskTicket(Loose):
    id: Id
    priority: str | None = None
    status: str | None = None
    subject: str | None = None
    created_at: AwareDatetime | None = None


class ZendeskWebhook(Loose):
    type: str
    id: str
    time: AwareDatetime
    detail: ZendeskTicket
    event: dict[str, Any] = {}


def _verify(request: Request, tenant: str, body: bytes) -> None:
    """The tenant's secret signed this body at a recent time: else 401, nothing more."""
    secret = secret_for(request, "zendesk", tenant)
    given = request.headers.get(SIGNATURE, "")
    stamp = request.headers.get(TIMESTAMP, "")
    problem = ""
    if secret is None:
        problem = "no SLAWATCH_ZENDESK_SECRETS entry for the tenant"
    elif not given or not stamp:
        problem = "signature headers missing"
    else:
        digest = hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()
        if not hmac.compare_digest(base64.b64encode(digest), given.encode()):
            problem = "signature does not match"
        elif not _recent(stamp):
            problem = "timestamp outside the allowed age"
    if problem:
        refuse(log, "zendesk", tenant, problem, SIGNATURE)


def _recent(stamp: str) -> bool:
    try:
        at = datetime.fromisoformat(stamp)
    except ValueError:
        return False
    if at.tzinfo is None:
        return False
    return abs(datetime.now(UTC) - at) <= MAX_AGE


def _mapping(value: object) -> dict[str, Any]:
    # `event` is free-form JSON: a comment that is no object is no comment, never a 500.
    return value if isinstance(value, dict) else {}


def _class(config: ZendeskIntake, priority: str | None) -> str | None:
    return lookup(config.priorities, priority)


_STRING = {"type": "string"}
_BODY = json_body(
    ["type", "id", "time", "detail"],
    {
        "type": {"type": "string", "example": "zen:event-type:ticket.status_changed"},
        "id": _STRING,
        "time": {"type": "string", "format": "date-time"},
        "detail": {
            "type": "object",
            "required": ["id"],
            "properties": {"id": _STRING, "priority": _STRING, "status": _STRING},
        },
        "event": {"type": "object"},
    },
    "Zendesk",
)


@router.post(
    "/{tenant}",
    responses=ERRORS,
    summary="Receive a Zendesk ticket event webhook",
    openapi_extra=_BODY,
)
async def zendesk_webhook(
    request: Request,
    tenant: Annotated[str, Path(pattern=TENANT_PATTERN)],
    _signature: Annotated[str | None, Header(alias=SIGNATURE)] = None,
    _timestamp: Annotated[str | None, Header(alias=TIMESTAMP)] = None,
) -> AdapterResult:
    """Created, priority changed, status changed, comment added: the ticket's native events.

    Signed with the tenant's Zendesk signing secret (`X-Zendesk-Webhook-Signature`); a delivery
    Zendesk sends again (same event id) is answered as done and changes nothing.
    """
    body = await request.body()
    _verify(request, tenant, body)
    hook: ZendeskWebhook = parse(ZendeskWebhook, body)
    if not hook.type.startswith(EVENT):
        return AdapterResult(ignored=f"not a ticket event: {hook.type}")
    return await once(
        request, f"zendesk:{tenant}:{hook.id}", lambda: _handle(request, tenant, hook)
    )


async def _handle(request: Request, tenant: str, hook: ZendeskWebhook) -> AdapterResult:
    book = request.app.state.policies
    config = book.get(tenant).helpdesk.zendesk
    if config is None:
        raise ApiError(404, f"tenant {tenant!r} has no helpdesk.zendesk in its policy")
    ticket = hook.detail
    ticket_id = ticket_id_of(config.ticket_prefix, ticket.id, "detail.id")
    session = TicketSession(request, tenant, ticket_id, "zendesk")
    severity = _class(config, ticket.priority)
    status = await session.open_with(severity, ticket.subject, ticket.created_at or hook.time)
    kind = hook.type.removeprefix(EVENT)
    current = hook.event.get("current")
    # Every event counts at Zendesk's own instant for it (`time`), not when it reached us.
    if kind == "created":
        await session.move_to(lookup(config.statuses, ticket.status or "new"), hook.time)
    elif kind == "priority_changed":
        severity = _class(config, str(current) if current else None)
        reason = f"Zendesk priority {hook.event.get('previous')} -> {current}"
        await session.reclassify(severity, reason, hook.time)
    elif kind == "status_changed":
        await session.move_to(lookup(config.statuses, str(current)), hook.time)
    elif kind == "comment_added":
        comment = _mapping(hook.event.get("comment"))
        author = _mapping(comment.get("author"))
        public_agent = comment.get("is_public") is True and author.get("is_staff") is True
        if first_response_due(config.first_response, public_agent, status.response.state):
            by = str(author.get("name") or f"zendesk user {author.get('id')}")[:200]
            at = since_opening(status, hook.time)
            await session.send(FirstResponseEvent(type="first_response", at=at, by=by))
    return session.result(f"{kind}: nothing to change")
