"""The milestone activity: the ticket workflow writes its SLA record through it.

One activity for every milestone (opened, classified and reclassified, first response, paused,
resumed, warned, breached, paged, acknowledged, resolved, reopened, closed): its input is the
ticket's status at that moment and its policy snapshot, and it upserts the whole record on
natural keys. So a retried activity, a replayed workflow or a milestone written twice leaves
the same rows, and a retry carrying an older status never overwrites a newer one (`version`).
"""

from __future__ import annotations

import asyncio

from pydantic import Field
from temporalio import activity

from activities.records.build import build_record
from activities.records.store import RecordStore
from policies.schema import Policy
from slawatch.models import Payload, TicketStatus


class RecordMilestoneInput(Payload):
    # Which milestone caused the write: for logs only, the status says what happened.
    milestone: str = Field(min_length=1, max_length=64)
    status: TicketStatus
    policy: Policy


class RecordMilestoneResult(Payload):
    tenant: str
    ticket_id: str
    events: int
    breaches: int
    pages: int


def record_milestone(store: RecordStore, input: RecordMilestoneInput) -> RecordMilestoneResult:
    """Build the ticket's rows and upsert them (blocking; the activity runs it in a thread)."""
    record = build_record(input.status, input.policy)
    store.write(record)
    return RecordMilestoneResult(
        tenant=record.ticket.tenant,
        ticket_id=record.ticket.ticket_id,
        events=len(record.events),
        breaches=len(record.breaches),
        pages=len(record.pages),
    )


class RecordActivities:
    """Activities over one record store (opened by the worker from settings)."""

    def __init__(self, store: RecordStore) -> None:
        self.store = store

    @activity.defn(name="record_milestone")
    async def record_milestone(self, input: RecordMilestoneInput) -> RecordMilestoneResult:
        """Upsert the ticket's SLA record as of this milestone (idempotent)."""
        return await asyncio.to_thread(record_milestone, self.store, input)
