"""How a tenant's help desk maps onto ticket events: the policy's `helpdesk:` section.

Only the mapping lives here (which priority is which class, which status pauses, resolves or
closes, which comment is the first response). The help desks' secrets never do: they come from
the environment (SLAWATCH_ZENDESK_SECRETS, SLAWATCH_JIRA_SECRETS; docs/helpdesk.md).
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Literal

from pydantic import Field

from policies.calendar import Name, Strict
from policies.contacts import EmailAddress

# A prefix put before the help desk's own ticket id ("ZD-" + "35436"): keeps its tickets apart
# from others of the tenant. It must keep the result a valid ticket id.
PREFIX_PATTERN = r"^([A-Za-z0-9][A-Za-z0-9._:-]{0,30})?$"
_PLAIN = re.compile(r"[\w-]+")


class Phase(StrEnum):
    """What a help-desk status means for the SLA clock; the event follows from the ticket's phase
    (pending after open pauses, open after pending resumes, open after solved reopens)."""

    OPEN = "open"
    PAUSE = "pause"
    RESOLVE = "resolve"
    CLOSE = "close"


class FirstResponse(StrEnum):
    """Which comment meets the response target."""

    PUBLIC_AGENT_COMMENT = "public_agent_comment"  # public, written by an agent (not the customer)
    NONE = "none"  # the integrator sends first_response events itself


ZendeskPriority = Literal["urgent", "high", "normal", "low"]
ZendeskStatus = Literal["new", "open", "pending", "hold", "solved", "closed"]


def _zendesk_statuses() -> dict[ZendeskStatus, Phase]:
    return {
        "new": Phase.OPEN,
        "open": Phase.OPEN,
        "pending": Phase.PAUSE,
        "hold": Phase.PAUSE,
        "solved": Phase.RESOLVE,
        "closed": Phase.CLOSE,
    }


class ZendeskIntake(Strict):
    """Zendesk ticket event webhooks (zen:event-type:ticket.*)."""

    ticket_prefix: str = Field(default="ZD-", pattern=PREFIX_PATTERN)
    # Zendesk priority -> class; a ticket without a mapped priority gets the default class.
    priorities: dict[ZendeskPriority, Name] = Field(default_factory=dict)
    statuses: dict[ZendeskStatus, Phase] = Field(default_factory=_zendesk_statuses)
    first_response: FirstResponse = FirstResponse.PUBLIC_AGENT_COMMENT


JiraCategory = Literal["new", "indeterminate", "done"]


def _jira_categories() -> dict[JiraCategory, Phase]:
    return {"new": Phase.OPEN, "indeterminate": Phase.OPEN, "done": Phase.RESOLVE}


class JiraIntake(Strict):
    """Jira Service Management issue webhooks (jira:issue_created, jira:issue_updated)."""

    ticket_prefix: str = Field(default="", pattern=PREFIX_PATTERN)
    # Jira priority name ("Highest", "High", ...) -> class.
    priorities: dict[str, Name] = Field(default_factory=dict)
    # By status category key; a status named in `statuses` ("Waiting for customer") wins.
    status_categories: dict[JiraCategory, Phase] = Field(default_factory=_jira_categories)
    statuses: dict[str, Phase] = Field(default_factory=dict)
    first_response: FirstResponse = FirstResponse.PUBLIC_AGENT_COMMENT


class EmailRule(Strict):
    """A mail whose subject contains `subject_contains` (any case) opens in `class`."""

    subject_contains: str = Field(min_length=1)
    class_: Name = Field(alias="class")


class EmailIntake(Strict):
    """Mail to the support address, through SendGrid Inbound Parse."""

    # The address customers write to; by default the policy's support_email.
    address: EmailAddress | None = None
    # Only senders of these domains (and their subdomains) open tickets; others are logged.
    allowed_domains: list[str] = Field(min_length=1)
    # First match wins; no match: the policy's default class.
    rules: list[EmailRule] = Field(default_factory=list)
    ticket_prefix: str = Field(default="MAIL-", pattern=PREFIX_PATTERN)


class Helpdesk(Strict):
    """The help desks a tenant connects; each endpoint refuses a tenant without its section."""

    zendesk: ZendeskIntake | None = None
    jira: JiraIntake | None = None
    email: EmailIntake | None = None

    def problems(self, classes: set[str]) -> list[str]:
        """Cross-references the policy checks: every mapped class must exist."""
        errors = []
        for desk, section in (("zendesk", self.zendesk), ("jira", self.jira)):
            if section is None:
                continue
            for priority, cls in section.priorities.items():
                if cls not in classes:
                    known = ", ".join(sorted(classes))
                    # A Jira priority may hold spaces: quoted, the problem stays one line.
                    key = priority if _PLAIN.fullmatch(priority) else json.dumps(priority)
                    where = f"helpdesk.{desk}.priorities.{key}"
                    errors.append(f"{where}: unknown class {cls!r} (known: {known})")
        for i, rule in enumerate(self.email.rules if self.email else []):
            if rule.class_ not in classes:
                known = ", ".join(sorted(classes))
                where = f"helpdesk.email.rules[{i}].class"
                errors.append(f"{where}: unknown class {rule.class_!r} (known: {known})")
        return errors
