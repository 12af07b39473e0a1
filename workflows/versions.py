"""Patched changes a run takes without asking, so without a marker in its history.

In a run that is not replaying, each patch id's first `workflow.patched` call writes a marker
event. Since Temporal server 1.20 it also upserts the `TemporalChangeVersion` search attribute,
which is one more event and a visibility write. A ticket's breach met four patch ids and its
escalation two, so they made twelve of the ~60 events the server wrote for a breach, and most
of its visibility writes (docs/benchmarks.md, "The breach path").

So a run says in its input which patches its code already had: `revision`. Intake sets
`TicketWorkflowInput.revision` on every new ticket, and a ticket sets
`EscalationInput.revision` on every escalation it starts. For the patch ids of that revision
the run takes the patched branch at once. That is the answer `workflow.patched` gives in any run
that is not replaying a history recorded before the patch. Replay reads the revision from the
input in the history, so the choice is deterministic without a marker. Inputs recorded before
this module existed have revision 0 and ask `workflow.patched` as before, which is what their
histories hold (tests/test_replay.py).

A new patch goes into `workflow.patched` alone first (`patched(id, revision)` with the id in
no revision). It joins a new revision, with `REVISION` raised, in the same commit that records
new replay histories (`python -m tests.record_histories`). Removing a patch is unchanged
(docs/design.md, "Patches in live logic").
"""

from __future__ import annotations

from temporalio import workflow

# The revision this code starts runs at: it has every patch id of revisions 1..REVISION.
REVISION = 4
# The patch ids each revision added (their constants live beside the code they guard).
ADDED: dict[int, frozenset[str]] = {
    1: frozenset(
        {
            "warning-emails-beside-clock",
            "email-beside-pages",
            "paged-to-search-attribute",
            "delivery-assurance",
            "delivery-search-attribute",
            "first-page-from-ticket",
            "sla-records",
            "sla-breached-search-attribute",
            "oncall-at-page-time",
            "outage-grouping",
            "outbound-webhooks",
            "event-times",
            "quiet-first-step",
            "record-with-first-pages",
            "events-before-continue-as-new",
        }
    ),
    2: frozenset({"ladder-after-first-window"}),
    3: frozenset({"record-policy-once"}),
    4: frozenset({"opened-at-acceptance", "opening-write-local"}),
}


# Each revision's patch ids with every earlier one's: `patched` runs on every evaluation.
_TAKEN = {r: frozenset().union(*(ADDED[i] for i in range(1, r + 1))) for r in range(REVISION + 1)}


def taken(revision: int) -> frozenset[str]:
    """Every patch id a run started at `revision` has without asking."""
    if revision > REVISION:
        # Only newer code starts such a run; this code cannot know what that revision means.
        raise ValueError(f"revision {revision} is newer than this worker's {REVISION}")
    return _TAKEN[revision]


def patched(patch_id: str, revision: int) -> bool:
    """`workflow.patched(patch_id)`, answered without a marker for a run that has it."""
    return patch_id in taken(revision) or workflow.patched(patch_id)
