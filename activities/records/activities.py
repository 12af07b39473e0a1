"""The milestone activity: the ticket workflow writes its SLA record through it.

One activity for every milestone (opened, classified and reclassified, first response, paused,
resumed, warned, breached, paged, acknowledged, resolved, reopened, closed): its input is the
ticket's status at that moment and its policy snapshot, and it upserts the whole record on
natural keys. So a retried activity, a replayed workflow or a milestone written twice leaves
the same rows, and a retry carrying an older status never overwrites a newer one (`version`).

The snapshot travels once per run (patch `record-policy-once`): the run's first write carries it
with its key and the store keeps it; later writes carry only the key, and the activity reads
the snapshot back (cached per process). A store without that key (a new database, a write that
went elsewhere) fails the write at once, and the ticket's next write carries the snapshot again.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable

from pydantic import Field, model_validator
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.records.build import build_record
from activities.records.store import RecordStore
from policies.schema import Policy
from slawatch.models import Payload, TicketStatus

# The error type of a write whose policy key the store does not hold (not retried).
POLICY_MISSING = "PolicySnapshotMissing"
# Snapshots kept validated per process: a few per tenant (one per policy version and year span).
_CACHED_POLICIES = 64


class RecordMilestoneInput(Payload):
    # Which milestone caused the write: for logs only, the status says what happened.
    milestone: str = Field(min_length=1, max_length=64)
    status: TicketStatus
    # The snapshot itself (every write before `record-policy-once`, a run's first write after),
    policy: Policy | None = None
    # and its key (`build.snapshot_key`): alone, the store's copy is meant.
    policy_key: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _names_a_policy(self) -> RecordMilestoneInput:
        if self.policy is None and self.policy_key is None:
            raise ValueError("a record write needs its policy or the policy's key")
        return self


class RecordMilestoneResult(Payload):
    tenant: str
    ticket_id: str
    events: int
    breaches: int
    pages: int


def record_milestone(
    store: RecordStore, input: RecordMilestoneInput, policy: Policy | None = None
) -> RecordMilestoneResult:
    """Build the ticket's rows and upsert them (blocking; the activity runs it in a thread).

    `policy`: the snapshot the input's key names, read by the caller when the input has none."""
    keep: tuple[str, str] | None = None
    if input.policy is not None:
        policy = input.policy
        if input.policy_key is not None:
            keep = (input.policy_key, input.policy.model_dump_json())
    if policy is None:
        raise ApplicationError(
            f"policy_key: no policy snapshot {input.policy_key!r} in {store!r};"
            " the ticket's next write carries it",
            type=POLICY_MISSING,
            non_retryable=True,
        )
    record = build_record(input.status, policy)
    store.write(record, keep)
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
        self._policies: OrderedDict[str, Policy] = OrderedDict()

    @property
    def store(self) -> RecordStore:
        with self._lock:  # writes run in threads: open (and migrate) once
            if self._store is None:
                self._store = self._open()
            return self._store

    def _policy(self, key: str) -> Policy | None:
        """The snapshot stored under `key`, validated once per process."""
        with self._lock:
            if key in self._policies:
                self._policies.move_to_end(key)
                return self._policies[key]
        body = self.store.policy(key)
        if body is None:
            return None
        policy = Policy.model_validate_json(body)
        with self._lock:
            self._policies[key] = policy
            if len(self._policies) > _CACHED_POLICIES:
                self._policies.popitem(last=False)
        return policy

    def _write(self, input: RecordMilestoneInput) -> RecordMilestoneResult:
        named = None
        if input.policy is None and input.policy_key is not None:
            named = self._policy(input.policy_key)
        return record_milestone(self.store, input, named)

    @activity.defn(name="record_milestone")
    async def record_milestone(self, input: RecordMilestoneInput) -> RecordMilestoneResult:
        """Upsert the ticket's SLA record as of this milestone (idempotent)."""
        return await asyncio.to_thread(self._write, input)
