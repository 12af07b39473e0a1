"""Live SLA record writes from the ticket workflow, beside its clock (docs/reports.md).

After every evaluation of the clock the ticket hands its state here; when anything the record
shows changed (a timeline entry, a page, an outcome, an acknowledgement) one `record_milestone`
activity upserts the whole record. The activity is started, never awaited by the clock: with the
store down it retries with backoff while breaches and pages go on. One write at a time: a change
during a write is written when that write ends, as one newer picture. The run awaits its last
write before it completes. A continue-as-new does not wait (in an outage that would hold the
clock): the next run starts with nothing written and writes its carried state first. Each write
carries the whole status, and the store's upserts on natural keys with a version guard make a
retried, replayed or late write change nothing. The policy snapshot goes in a run's first write
only, with its key; later writes name it by the key (patch `record-policy-once`), and a write
that fails sends it again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.records.activities import RecordActivities, RecordMilestoneInput
    from activities.records.build import snapshot_key
    from slawatch.models import TicketState, TicketStatus
    from workflows.versions import patched

# Patch: tickets write their SLA record at each milestone (before: only the backfill wrote it).
SLA_RECORDS = "sla-records"
# Patch: while a breach's first pages are on their way the write waits for them, so the breach
# and its pages are one write (before: the breach's write, then the pages' write, each an
# activity and a workflow task on the path every page takes).
RECORD_WITH_FIRST_PAGES = "record-with-first-pages"
# Patch: a run's first write carries the policy snapshot and its key, the later ones only the
# key (before: every write carried the ~4 KB snapshot, most of a quiet ticket's history).
RECORD_POLICY_ONCE = "record-policy-once"
# Patch: a new ticket's opening write (its record as intake opened it, nothing since) is a
# local activity in the ticket's first task, not an activity and a second task. Safe because
# everything it writes comes from what the server committed when it accepted the ticket (the
# input and that instant, patch `opened-at-acceptance` in workflows/ticket.py): a first task
# that dies after the write and before its commit is retried, and writes the same rows again.
# One try; a failed or slow one is written again as an activity, retried until it lands.
OPENING_WRITE_LOCAL = "opening-write-local"
# A write is one short transaction; a worker killed mid-write is retried after this.
WRITE_TIMEOUT = timedelta(seconds=10)
# The opening write's one try: well inside the first task's heartbeat (80 % of the 10 s task
# timeout), so the task's commands are never held past it.
OPENING_WRITE_TIMEOUT = timedelta(seconds=5)
OPENING_WRITE_RETRY = RetryPolicy(maximum_attempts=1)
# A store outage: retry soon, then every 5 minutes, never giving up (a lost write is a lost
# milestone; the run's last write holds its completion until the store is back).
WRITE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
)
_WARNING = "warning-"


def fingerprint(s: TicketState) -> tuple[int, ...]:
    """Changes whenever the record would: what `activities/records/build.py` rows show."""
    return (
        len(s.history),
        len(s.sent),
        sum(1 for x in s.sent if x.outcome is not None),
        len(s.acknowledgements),
        sum(b.level for b in s.breaches),
        sum(1 for b in s.breaches if b.outcome != "escalating"),
    )


def _for_record(status: TicketStatus) -> TicketStatus:
    """The status without the customer's words (subject, reference): the record has no place
    for them, and they stay out of every activity's input (docs/helpdesk.md)."""
    return status.model_copy(update={"subject": None, "customer_ref": None})


class RecordSink:
    """The ticket's record writer: at most one write in flight, the newest picture next."""

    def __init__(
        self,
        state: Callable[[], TicketState],
        status: Callable[[], TicketStatus],
        wake: Callable[[], None],
        revision: int,
        opening: bool = False,
    ) -> None:
        """`opening`: this run opened the ticket from its input (not a continued run), at the
        instant the server accepted it; its first write may then be local
        (`OPENING_WRITE_LOCAL`)."""
        self._state, self._status, self._wake = state, status, wake
        self.revision = revision
        # The opening's fingerprint while the run's first write may still be local.
        self._opening = fingerprint(state()) if opening else None
        # What the write in flight (or the last one) carries; None: nothing written this run,
        # so a continued run writes its carried state first.
        self.written: tuple[int, ...] | None = None
        self._seen = (0, 0)  # timeline entries and sends already named in a write
        self.writing: workflow.ActivityHandle[Any] | None = None
        # The snapshot's key (a run's policy never changes), once computed; whether a write of
        # this run stored it (the write in flight carrying it counts: one write at a time, and
        # a failed one clears it).
        self._key: str | None = None
        self._policy_sent = False

    def changed(self, paging: bool = False) -> None:
        """After an evaluation: start a write if the record changed and none is in flight.

        `paging`: a breach's first pages are on their way; the write goes when they return
        (at most the send's ten-minute limit, or a grouping window, later)."""
        s = self._state()
        mark = fingerprint(s)
        if mark == self.written or (self.writing is not None and not self.writing.done()):
            return
        if not patched(SLA_RECORDS, self.revision):
            return
        if paging and patched(RECORD_WITH_FIRST_PAGES, self.revision):
            return
        self.written = mark
        milestone = self._milestone(s)
        local = mark == self._opening and patched(OPENING_WRITE_LOCAL, self.revision)
        self._opening = None  # only a run's first write, and only once
        write, summary = self._input(milestone, s), f"record {milestone}"
        if local:
            self.writing = workflow.start_local_activity_method(
                RecordActivities.record_milestone,
                write,
                schedule_to_close_timeout=OPENING_WRITE_TIMEOUT,
                retry_policy=OPENING_WRITE_RETRY,
                summary=summary,
            )
        else:
            self.writing = workflow.start_activity_method(
                RecordActivities.record_milestone,
                write,
                start_to_close_timeout=WRITE_TIMEOUT,
                retry_policy=WRITE_RETRY,
                summary=summary,
            )
        self.writing.add_done_callback(self._done)

    def _input(self, milestone: str, s: TicketState) -> RecordMilestoneInput:
        status = _for_record(self._status())
        if not patched(RECORD_POLICY_ONCE, self.revision):
            return RecordMilestoneInput(milestone=milestone, status=status, policy=s.policy)
        if self._key is None:
            self._key = snapshot_key(s.policy)
        if self._policy_sent:
            return RecordMilestoneInput(milestone=milestone, status=status, policy_key=self._key)
        self._policy_sent = True
        return RecordMilestoneInput(
            milestone=milestone, status=status, policy=s.policy, policy_key=self._key
        )

    def _milestone(self, s: TicketState) -> str:
        """What happened since the last write, for the activity's logs and summary."""
        seen_history, seen_sent = self._seen
        names = [e.event for e in s.history[seen_history:]]
        sent = s.sent[seen_sent:]
        if any(not x.breach_id.startswith(_WARNING) for x in sent):
            names.append("paged")
        if any(x.breach_id.startswith(_WARNING) for x in sent):
            names.append("warned")
        self._seen = (len(s.history), len(s.sent))
        return ",".join(dict.fromkeys(names))[:64] or "updated"

    def _done(self, handle: workflow.ActivityHandle[Any]) -> None:
        if handle.cancelled():
            return
        if handle.exception() is not None:
            workflow.logger.warning("SLA record write failed: %s", handle.exception())
            self.written = None  # the next change writes everything again,
            self._policy_sent = False  # with the snapshot, which the store may lack
        if fingerprint(self._state()) != self.written:
            self._wake()  # the clock loop evaluates and writes the newer picture

    async def flush(self) -> None:
        """Before the run completes: wait until the store holds its last picture."""
        while True:
            self.changed()
            if self.writing is None or self.writing.done():
                return
            try:
                await self.writing
            except ActivityError:
                return  # logged by `_done`; the backfill can still rebuild the record
