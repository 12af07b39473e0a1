"""Jira Service Management issue webhooks -> ticket events (POST /v1/helpdesk/jira/{tenant}).

A Jira admin webhook saved with a secret signs the raw body: X-Hub-Signature =
"sha256=" + hex(HMAC-SHA256(secret, body)) (developer.atlassian.com/cloud/jira/platform/
webhooks, "Secure admin webhooks"). The secret is the tenant's entry in SLAWATCH_JIRA_SECRETS,
never the policy. Each delivery carries X-Atlassian-Webhook-Identifier, the same on Jira's
retries: a delivery seen before is answered as done.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Annotated

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
from policies.helpdesk import JiraIntake, Phase
from slawatch.models import TENANT_PATTERN, TicketStatus

log = structlog.get_logger("slawatch.intake.jira")
router = APIRouter(prefix=f"{PREFIX}/jira", tags=["help desks"])

SIGNATURE = "X-Hub-Signature"
DELIVERY = "X-Atlassian-Webhook-Identifier"


def _jira_time(value: object) -> object:
    # Jira writes "2024-05-20T14:20:00.000+0000": Python wants the offset as +00:00.
    if isinstance(value, str) and len(value) > 5 and value[-5] in "+-" and value[-4:].isdigit():
        return f"{value[:-2]}:{value[-2:]}"
    return value


JiraTime = Annotated[AwareDatetime, BeforeValidator(_jira_time)]


class _Named(Loose):
    name: str | None = None


class _Category(Loose):
    key: str | None = None


class _Status(_Named):
    statusCategory: _Category | None = None


class _User(Loose):
    accountId: str | None = None
    displayName: str | None = None


class _Fields(Loose):
    summary: str | None = None
    created: JiraTime | None = None
    priority: _Named | None = None
    status: _Status | None = None
    reporter: _User | None = None


class _Issue(Loose):
    key: str
    fields: _Fields


class _Change(Loose):
    field: str
    fromString: str | None = None
    toString: str | None = None


class _Changelog(Loose):
    items: list[_Change] = []


class _Comment(Loose):
    author: _User | None = None
    created: JiraTime | None = None
    # Jira Service Management: True for a reply the customer sees, False for an internal note.
    jsdPublic: bool | None = None


class JiraWebhook(Loose):
    webhookEvent: str
    timestamp: int | None = None
    issue: _Issue
    changelog: _Changelog | None = None
    comment: _Comment | None = None


def _verify(request: Request, tenant: str, body: bytes) -> None:
    secret = secret_for(request, "jira", tenant)
    given = request.headers.get(SIGNATURE, "")
    problem = ""
    if secret is None:
        problem = "no SLAWATCH_JIRA_SECRETS entry for the tenant"
    else:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), given.encode()):
            problem = "signature missing or does not match"
    if problem:
        refuse(log, "jira", tenant, problem, SIGNATURE)


def _when(hook: JiraWebhook) -> datetime:
    """Jira's instant for the event (`timestamp`, ms since the epoch); now without one."""
    if hook.timestamp is None:
        return datetime.now(UTC)
    try:
        return datetime.fromtimestamp(hook.timestamp / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise ApiError(422, "timestamp: not an instant", field="timestamp") from None


def _phase(config: JiraIntake, status: _Status | None, name: str | None = None) -> Phase | None:
    """A status by its name first ("Waiting for customer"), else by its category."""
    named = lookup(config.statuses, name or (status.name if status else None))
    if named is not None:
        return named
    category = status.statusCategory.key if status and status.statusCategory else None
    return lookup(config.status_categories, category)


_BODY = json_body(
    ["webhookEvent", "issue"],
    {
        "webhookEvent": {"type": "string", "example": "jira:issue_updated"},
        "timestamp": {"type": "integer"},
        "issue": {
            "type": "object",
            "required": ["key", "fields"],
            "properties": {"key": {"type": "string"}, "fields": {"type": "object"}},
        },
        "changelog": {"type": "object"},
        "comment": {"type": "object"},
    },
    "Jira",
)


@router.post(
    "/{tenant}",
    responses=ERRORS,
    summary="Receive a Jira Service Management webhook",
    openapi_extra=_BODY,
)
async def jira_webhook(
    request: Request,
    tenant: Annotated[str, Path(pattern=TENANT_PATTERN)],
    _signature: Annotated[str | None, Header(alias=SIGNATURE)] = None,
    _delivery: Annotated[str | None, Header(alias=DELIVERY)] = None,
) -> AdapterResult:
    """jira:issue_created / jira:issue_updated (priority, status, comment): native events.

    Signed with the tenant's webhook secret (`X-Hub-Signature: sha256=...`).
    """
    body = await request.body()
    _verify(request, tenant, body)
    hook: JiraWebhook = parse(JiraWebhook, body)
    if hook.webhookEvent not in {"jira:issue_created", "jira:issue_updated", "comment_created"}:
        return AdapterResult(ignored=f"not an issue event: {hook.webhookEvent}")
    delivery = request.headers.get(DELIVERY)
    key = f"jira:{tenant}:{delivery}" if delivery else None
    return await once(request, key, lambda: _handle(request, tenant, hook))


async def _handle(request: Request, tenant: str, hook: JiraWebhook) -> AdapterResult:
    config = request.app.state.policies.get(tenant).helpdesk.jira
    if config is None:
        raise ApiError(404, f"tenant {tenant!r} has no helpdesk.jira in its policy")
    fields = hook.issue.fields
    ticket_id = ticket_id_of(config.ticket_prefix, hook.issue.key, "issue.key")
    session = TicketSession(request, tenant, ticket_id, "jira")
    priority = fields.priority.name if fields.priority else None
    severity = lookup(config.priorities, priority)
    status = await session.open_with(severity, fields.summary, fields.created or datetime.now(UTC))
    # The changes count at Jira's instant for the event (`timestamp`, ms), not its arrival.
    at = _when(hook)
    if hook.webhookEvent == "jira:issue_created":
        await session.move_to(_phase(config, fields.status), at)
    for change in hook.changelog.items if hook.changelog else []:
        if change.field == "priority":
            severity = lookup(config.priorities, change.toString)
            reason = f"Jira priority {change.fromString} -> {change.toString}"
            await session.reclassify(severity, reason, at)
        elif change.field == "status":
            await session.move_to(_phase(config, fields.status, change.toString), at)
    if hook.comment is not None:
        await _comment(session, config, hook.comment, fields.reporter, status)
    return session.result(f"{hook.webhookEvent}: nothing to change")


async def _comment(
    session: TicketSession,
    config: JiraIntake,
    comment: _Comment,
    reporter: _User | None,
    status: TicketStatus,
) -> None:
    """A public reply by someone other than the reporter (an agent) is the first response."""
    author = comment.author or _User()
    by_customer = reporter is not None and author.accountId == reporter.accountId
    public_agent = comment.jsdPublic is True and not by_customer
    if first_response_due(config.first_response, public_agent, status.response.state):
        # In UTC, as the API's own times are: Jira writes the author's offset.
        at = since_opening(status, comment.created or datetime.now(UTC))
        by = (author.displayName or f"jira user {author.accountId}")[:200]
        await session.send(FirstResponseEvent(type="first_response", at=at, by=by))
