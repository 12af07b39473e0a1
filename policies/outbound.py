"""What a tenant's tickets tell the world: the policy's `outbound:` section (docs/helpdesk.md).

Signed SLA webhooks to the tenant's own URLs, an optional write-back into Zendesk or Jira, and
notices to the customer. Only where and what live here: the webhook secrets and the help
desks' API credentials come from the environment (SLAWATCH_WEBHOOK_SECRETS,
SLAWATCH_ZENDESK_API_TOKENS, SLAWATCH_JIRA_API_TOKENS), never from a policy file.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from policies.calendar import Name, Strict

EventType = Literal["sla.at_risk", "sla.breached", "sla.acknowledged", "sla.met", "sla.withdrawn"]
ALL_EVENTS: list[EventType] = [
    "sla.at_risk",
    "sla.breached",
    "sla.acknowledged",
    "sla.met",
    "sla.withdrawn",
]
_URL = r"^https?://[^\s/?#]+(/[^\s#]*)?$"
_LANGUAGE = re.compile(r"[a-z]{2,3}")


def _unique(events: list[EventType]) -> list[EventType]:
    if len(set(events)) != len(events):
        raise ValueError("an event is listed twice")
    return events


class Webhook(Strict):
    """One receiver: its secret is SLAWATCH_WEBHOOK_SECRETS' entry `<tenant>.<name>`."""

    name: Name
    url: str = Field(pattern=_URL)
    events: list[EventType] = Field(default_factory=lambda: list(ALL_EVENTS), min_length=1)

    _events = field_validator("events")(_unique)


class ZendeskWriteback(Strict):
    """A private comment on the Zendesk ticket (PUT /api/v2/tickets/{id}) for each event."""

    # https://<subdomain>.zendesk.com
    url: str = Field(pattern=_URL)
    events: list[EventType] = Field(default_factory=lambda: list(ALL_EVENTS), min_length=1)

    _events = field_validator("events")(_unique)


class JiraWriteback(Strict):
    """An internal comment on the Jira issue (POST /rest/api/3/issue/{key}/comment)."""

    # https://<site>.atlassian.net
    url: str = Field(pattern=_URL)
    events: list[EventType] = Field(default_factory=lambda: list(ALL_EVENTS), min_length=1)

    _events = field_validator("events")(_unique)


class Writeback(Strict):
    zendesk: ZendeskWriteback | None = None
    jira: JiraWriteback | None = None


class Notices(Strict):
    """Emails to the customer: a receipt at opening, a notice when the class changes.

    The texts are templates in the policy directory, `<tenant>/notices/<kind>.<language>.txt`.
    """

    receipt: bool = True
    reclassified: bool = True
    # The languages the tenant has templates for; a customer in another gets the default.
    languages: list[str] = Field(default_factory=lambda: ["en"], min_length=1)
    default_language: str = "en"

    @field_validator("languages")
    @classmethod
    def _codes(cls, value: list[str]) -> list[str]:
        for code in value:
            if not _LANGUAGE.fullmatch(code):
                raise ValueError(f"{code!r} is not a two- or three-letter language code")
        return value


class Outbound(Strict):
    """The tenant's outbound section. Nothing here costs a ticket anything when left empty."""

    webhooks: list[Webhook] = Field(default_factory=list)
    writeback: Writeback = Field(default_factory=Writeback)
    notices: Notices | None = None
    # Deliveries retry with exponential backoff (from 1 s, doubling) capped at this, for up to
    # `give_up_after_hours` (Stripe's webhooks: three days); tests lower the cap.
    max_backoff_seconds: int = Field(default=300, ge=1, le=3600)
    give_up_after_hours: int = Field(default=72, ge=1, le=24 * 30)

    @field_validator("webhooks")
    @classmethod
    def _names(cls, value: list[Webhook]) -> list[Webhook]:
        names = [w.name for w in value]
        if len(set(names)) != len(names):
            raise ValueError("a webhook name is listed twice")
        return value

    def problems(self) -> list[str]:
        errors = []
        if self.notices and self.notices.default_language not in self.notices.languages:
            errors.append(
                f"outbound.notices.default_language: {self.notices.default_language!r} is not"
                " in languages"
            )
        return errors
