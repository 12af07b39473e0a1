"""Outbound activities: signed SLA webhooks, Zendesk / Jira write-back, customer notices.

One HTTP request (or one email) per attempt. Temporal retries with capped backoff until the
ticket's plan gives up (workflows/outbound.py); an answer that no retry can change (a ticket
the help desk no longer has, a template with an unknown placeholder) is non-retryable.
Secrets and API tokens come from the settings (the environment) and never enter a payload.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.notices import render_notice
from slawatch.models import SendEmailInput, SendResult, ticket_ref
from slawatch.outbound import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    DeliveryInput,
    DeliveryResult,
    secret_name,
    sign,
)

# Seconds per request; the activity's start_to_close_timeout (30 s) exceeds it.
REQUEST_TIMEOUT = 10.0
USER_AGENT = "slawatch-webhooks/1"
# Answers a retry cannot change: the receiver or help desk says the request itself is wrong.
PERMANENT = {400, 404, 410, 422}
SendEmail = Callable[[SendEmailInput], Awaitable[SendResult]]


def _log() -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger("slawatch.outbound")  # type: ignore[no-any-return]


def webhook_body(input: DeliveryInput) -> bytes:
    """The JSON a receiver gets; compact and key-sorted, so retries send the same bytes."""
    event = input.event
    payload = {
        "id": event.id,
        "type": event.type,
        "created_at": event.created_at.isoformat(),
        "tenant": input.tenant,
        "ticket_id": input.ticket_id,
        "ticket_ref": ticket_ref(input.tenant, input.ticket_id),
        "data": event.data,
    }
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def writeback_text(input: DeliveryInput) -> str:
    """The private comment: the event, and the SLA's state and due times (UTC)."""
    event, data = input.event, input.event.data
    what = event.type.removeprefix("sla.").replace("_", " ")
    target = data.get("target")
    head = f"slawatch: SLA {what}" + (f" ({target} target)" if target else "")
    if "percent" in data:
        head += f", {data['percent']}% used"
    lines = [head + "."]
    sla = data.get("sla") or {}
    if sla:
        lines.append(f"Class {sla.get('class')}, SLA state {sla.get('state')}.")
        for kind in ("response", "resolution"):
            t = sla.get(kind) or {}
            if t.get("state") in (None, "none"):
                continue
            due = f", due {t['due']}" if t.get("due") else ""
            lines.append(f"{kind.capitalize()}: {t['state']}{due}.")
    lines.append(f"Event {event.id}.")
    return "\n".join(lines)


def _adf(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document Format doc: one paragraph per line."""
    return {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": line}]}
            for line in text.splitlines()
            if line
        ],
    }


class OutboundActivities:
    """deliver_webhook, write_back and send_customer_notice over the settings' secrets."""

    def __init__(
        self,
        webhook_secrets: dict[str, str],
        zendesk_tokens: dict[str, str],
        jira_tokens: dict[str, str],
        send_email: SendEmail | None = None,
        policy_dir: Path | None = None,
    ) -> None:
        self._secrets = webhook_secrets
        self._zendesk = zendesk_tokens
        self._jira = jira_tokens
        self._send_email = send_email
        self._policy_dir = policy_dir

    async def _request(self, what: str, method: str, url: str, **kwargs: Any) -> DeliveryResult:
        logger = _log().bind(destination=what)
        try:
            async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT) as client:
                response = await client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            logger.warning("outbound.deliver", outcome="retry", reason=type(exc).__name__)
            raise ApplicationError(
                f"{what}: {type(exc).__name__}", type="OutboundUnavailable"
            ) from None
        status = response.status_code
        if 200 <= status < 300:
            logger.info("outbound.deliver", outcome="delivered", status=status)
            return DeliveryResult(status=status)
        permanent = status in PERMANENT
        logger.warning("outbound.deliver", outcome="refused", status=status, permanent=permanent)
        raise ApplicationError(
            f"{what} answered HTTP {status}",
            {"status": status},
            type="OutboundRefused",
            non_retryable=permanent,
        )

    @activity.defn(name="deliver_webhook")
    async def deliver_webhook(self, input: DeliveryInput) -> DeliveryResult:
        """POST one event, signed with the webhook's secret, to the tenant's URL."""
        dest = input.destination
        name = secret_name(input.tenant, dest.name.removeprefix("webhook:"))
        secret = self._secrets.get(name)
        if not secret or dest.url is None:
            # Retryable: the operator sets the secret and restarts the worker; never unsigned.
            raise ApplicationError(
                f"no secret for {name} in SLAWATCH_WEBHOOK_SECRETS", type="OutboundNotConfigured"
            )
        body = webhook_body(input)
        # The time of this attempt: a receiver refuses deliveries older than its tolerance.
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(secret, timestamp, body),
            EVENT_ID_HEADER: input.event.id,
            EVENT_TYPE_HEADER: input.event.type,
        }
        return await self._request(dest.name, "POST", dest.url, content=body, headers=headers)

    @activity.defn(name="write_back")
    async def write_back(self, input: DeliveryInput) -> DeliveryResult:
        """A private comment with the SLA's state on the Zendesk ticket or Jira issue."""
        dest = input.destination
        tokens = self._zendesk if dest.kind == "zendesk" else self._jira
        setting = f"SLAWATCH_{dest.kind.upper()}_API_TOKENS"
        email, _, token = tokens.get(input.tenant, "").partition(":")
        if not email or not token or dest.url is None or dest.remote_id is None:
            raise ApplicationError(
                f"no {dest.kind} API token for {input.tenant} in {setting}",
                type="OutboundNotConfigured",
            )
        text = writeback_text(input)
        base = dest.url.rstrip("/")
        if dest.kind == "zendesk":
            # Zendesk: a comment is added by updating the ticket; public false = internal note.
            url = f"{base}/api/v2/tickets/{dest.remote_id}.json"
            body: dict[str, Any] = {"ticket": {"comment": {"body": text, "public": False}}}
            auth = (f"{email}/token", token)
            return await self._request("zendesk", "PUT", url, json=body, auth=auth)
        # Jira Service Management: an internal comment (not shown on the customer portal).
        url = f"{base}/rest/api/3/issue/{dest.remote_id}/comment"
        body = {
            "body": _adf(text),
            "properties": [{"key": "sd.public.comment", "value": {"internal": True}}],
        }
        return await self._request("jira", "POST", url, json=body, auth=(email, token))

    @activity.defn(name="send_customer_notice")
    async def send_customer_notice(self, input: DeliveryInput) -> DeliveryResult:
        """The customer's receipt or reclassification notice, from the tenant's templates."""
        customer = input.destination.customer
        if customer is None or self._send_email is None:
            raise ApplicationError("no customer or no mailer", type="OutboundNotConfigured")
        try:
            subject, body = render_notice(self._policy_dir, input)
        except ValueError as exc:
            raise ApplicationError(str(exc), type="NoticeTemplate", non_retryable=True) from None
        result = await self._send_email(
            SendEmailInput(
                to=[customer.email],
                subject=subject,
                body=body,
                idempotency_key=f"{input.event.id}/customer",
            )
        )
        return DeliveryResult(status=202, detail=result.provider_id or "")

    def all(self) -> list[Callable[..., Awaitable[DeliveryResult]]]:
        return [self.deliver_webhook, self.write_back, self.send_customer_notice]
