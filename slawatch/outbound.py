"""Outbound payloads: a ticket's outbound plan, its queued events, and the webhook signature.

Foundation (pydantic and the standard library): the workflow, the activities, intake and the
tests' receivers share these. The plan is built by intake when a ticket opens, from the
policy's `outbound:` section; a tenant without one gets no plan and its tickets pay nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from policies.schema import Policy

# The headers of a webhook delivery (docs/helpdesk.md, "Verifying a delivery").
SIGNATURE_HEADER = "Slawatch-Signature"
TIMESTAMP_HEADER = "Slawatch-Timestamp"
EVENT_ID_HEADER = "Slawatch-Event-Id"
EVENT_TYPE_HEADER = "Slawatch-Event-Type"
# A receiver should refuse a delivery whose timestamp is further than this from its clock.
REPLAY_TOLERANCE_SECONDS = 300
_JIRA_KEY = re.compile(r"[A-Z][A-Z0-9_]+-[1-9][0-9]*")
_ZENDESK_ID = re.compile(r"[1-9][0-9]{0,18}")


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Customer(_Payload):
    """Who a ticket's customer notices go to, and how they read times and text."""

    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    # An IANA zone (Europe/Tallinn); times in notices are shown on its wall clock.
    zone: str | None = Field(default=None, max_length=64)
    # A two- or three-letter language code (et, ro, en); the tenant's default when absent.
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}$")

    @field_validator("zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name: Europe/Tallinn)"
            ) from None
        return value


DestinationKind = Literal["webhook", "zendesk", "jira", "customer"]


class Destination(_Payload):
    """Where one stream of a ticket's events goes; each is delivered in order on its own."""

    name: str  # "webhook:ops", "zendesk", "jira", "customer"
    kind: DestinationKind
    url: str | None = None
    events: list[str] = Field(default_factory=list)
    # The help desk's own id of the ticket (Zendesk "35436", Jira "SUP-501").
    remote_id: str | None = None
    customer: Customer | None = None
    default_language: str = "en"
    languages: list[str] = Field(default_factory=list)


class OutboundPlan(_Payload):
    """What a ticket sends and where, fixed when it opens (like its policy snapshot)."""

    destinations: list[Destination] = Field(min_length=1)
    max_backoff_seconds: int = 300
    give_up_after_hours: int = 72


class OutboundEvent(_Payload):
    """One event for one destination. `id` is stable across retries and replays: receivers
    dedupe on it."""

    id: str
    type: str
    created_at: datetime
    data: dict[str, Any] = Field(default_factory=dict)


class OutboundState(_Payload):
    """Carried in the ticket's state across continue-as-new: what was already queued, and
    what is not yet delivered (the head of each list may be on its way)."""

    seen: list[str] = Field(default_factory=list)
    pending: dict[str, list[OutboundEvent]] = Field(default_factory=dict)
    noticed_class: str | None = None


class DeliveryInput(_Payload):
    tenant: str
    ticket_id: str
    destination: Destination
    event: OutboundEvent


class DeliveryResult(_Payload):
    status: int
    detail: str = ""


def event_id(workflow_id: str, key: str) -> str:
    """The event's idempotency id: the same for every retry, replay and continued run."""
    return "evt_" + hashlib.sha256(f"{workflow_id}|{key}".encode()).hexdigest()[:32]


def secret_name(tenant: str, webhook: str) -> str:
    """The key of a webhook's secret in SLAWATCH_WEBHOOK_SECRETS."""
    return f"{tenant}.{webhook}"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value: `v1=` + hex HMAC-SHA256 of `timestamp.body`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, now: float) -> bool:
    """What a receiver does (docs/helpdesk.md has the same in a snippet to copy)."""
    try:
        age = abs(now - int(timestamp))
    except ValueError:
        return False
    if age > REPLAY_TOLERANCE_SECONDS:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, s.strip()) for s in signature.split(","))


def remote_id(desk: str, policy: Policy, ticket_id: str) -> str | None:
    """The help desk's id of a ticket that came through its adapter, else None."""
    section = policy.helpdesk.zendesk if desk == "zendesk" else policy.helpdesk.jira
    if section is None or not ticket_id.startswith(section.ticket_prefix):
        return None
    rest = ticket_id.removeprefix(section.ticket_prefix)
    pattern = _ZENDESK_ID if desk == "zendesk" else _JIRA_KEY
    return rest if pattern.fullmatch(rest) else None


def outbound_plan(
    policy: Policy, ticket_id: str, customer: Customer | None, language: str | None = None
) -> OutboundPlan | None:
    """The ticket's plan from the policy's `outbound:` section; None when nothing goes out."""
    section = policy.outbound
    destinations = [
        Destination(name=f"webhook:{w.name}", kind="webhook", url=w.url, events=list(w.events))
        for w in section.webhooks
    ]
    # A ticket writes back to the one help desk it came from: Zendesk's prefix is checked
    # first, since a Jira key pattern with an empty prefix would also match "ZD-35436".
    for desk, wb in (("zendesk", section.writeback.zendesk), ("jira", section.writeback.jira)):
        found = remote_id(desk, policy, ticket_id)
        if found is None:
            continue
        if wb is not None:
            destinations.append(
                Destination(
                    name=desk, kind=desk, url=wb.url, events=list(wb.events), remote_id=found
                )
            )
        break
    notices = section.notices
    if notices is not None and customer is not None:
        if customer.language is None and language:
            # The ticket's own language field (intake's `language`) when the customer has none.
            code = language.split("-")[0].lower()
            customer = customer.model_copy(update={"language": code})
        if customer.zone is None:
            # Times in the default class's zone when the customer's own is not known.
            zone = policy.calendar_for(policy.default_class).timezone
            customer = customer.model_copy(update={"zone": zone})
        kinds = [
            k
            for k, on in (("receipt", notices.receipt), ("reclassified", notices.reclassified))
            if on
        ]
        if kinds:
            destinations.append(
                Destination(
                    name="customer",
                    kind="customer",
                    events=[f"notice.{k}" for k in kinds],
                    customer=customer,
                    default_language=notices.default_language,
                    languages=list(notices.languages),
                )
            )
    if not destinations:
        return None
    return OutboundPlan(
        destinations=destinations,
        max_backoff_seconds=section.max_backoff_seconds,
        give_up_after_hours=section.give_up_after_hours,
    )
