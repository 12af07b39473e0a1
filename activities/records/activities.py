"""The milestone activity: the ticket workflow writes its SLA record through it.

One activity for every milestone (opened, classified and reclassified, first response, paused,
resumed, warned, breached, paged, acknowledged, resolved, reopened, closed): its input is the
ticket's status at that moment and its policy snapshot, and it upserts the whole record on
natural keys. So a retried activity, a replayed workflow or a milestone written twice leaves
the same rows, and a retry carrying an older status never overwrites a newer one (`version`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

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
    """Activities over one record store (opened by the worker from settings).

    Given a factory, the store is opened at the first write and again after a write that
    failed to open it: a worker started while the database is down still runs tickets, and
    their writes retry until it is back (docs/reports.md, "Live writes").
    """

    def __init__(self, store: RecordStore | Callable[[], RecordStore]) -> None:
        self._store: RecordStore | None = None
        if isinstance(store, RecordStore):
            self._store = store
        else:
            self._open = store
        self._lock = threading.Lock()

    @property
    def store(self) -> RecordStore:
        with self._lock:  # writes run in threads: open (and migrate) once
            if self._store is None:
                self._store = self._open()
            return self._store

    def _write(self, input: RecordMilestoneInput) -> RecordMilestoneResult:
        return record_milestone(self.store, input)

    @activity.defn(name="record_milestone")
    async def record_milestone(self, input: RecordMilestoneInput) -> RecordMilestoneResult:
        """Upsert the ticket's SLA record as of this milestone (idempotent)."""
        return await asyncio.to_thread(self._write, input)
