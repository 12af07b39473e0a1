"""Who was paged for which breach: the facts an acknowledgement from a phone is checked against.

Pure functions over a ticket's state (workflows import this module; so does the intake API,
which asks the same questions of a ticket's status). A phone number alone is no credential: an
acknowledgement from a phone stops only breaches that were paged to that number before the
reply arrived, and a one-time code narrows it to the page that carried the code.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from policies.schema import Channel
from slawatch.models import SentNotification

PHONE_CHANNELS = frozenset({Channel.SMS, Channel.VOICE})
# How far the API host's clock may run behind the Temporal server's before a reply that came
# right after its page would look older than the page.
CLOCK_SKEW = timedelta(seconds=2)


def phone_pages(
    sent: Iterable[SentNotification],
    phone: str,
    received_at: datetime | None = None,
    code: str | None = None,
    group: str | None = None,
) -> list[SentNotification]:
    """Pages that reached the vendor for `phone`, sent before `received_at`, with `code`, in
    outage `group` (a digest's code covers every page of its group, the first one included)."""
    latest = received_at + CLOCK_SKEW if received_at is not None else None
    return [
        n
        for n in sent
        if n.ok
        and n.channel in PHONE_CHANNELS
        and n.to == phone
        and (latest is None or n.at <= latest)
        and (code is None or n.code == code)
        and (group is None or n.group == group)
    ]


def paged_numbers(sent: Iterable[SentNotification], breach_ids: set[str]) -> list[str]:
    """The numbers paged for these breaches, sorted: the ticket's SlaPagedTo search attribute."""
    return sorted(
        {n.to for n in sent if n.ok and n.channel in PHONE_CHANNELS and n.breach_id in breach_ids}
    )
