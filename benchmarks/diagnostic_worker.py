"""`slawatch worker` with one piece taken out, to measure what that piece costs per ticket.

Run: `python -m benchmarks.diagnostic_worker VARIANT` with the environment `slawatch worker`
reads; `benchmarks/intake.py --diagnose` starts it. Never a way to run slawatch: each variant
breaks a promise the product keeps.

- `unsandboxed`: ticket workflows run without the Temporal sandbox (no per-run module copy,
  no restricted proxies). Its CPU per ticket against the real worker's is what the sandbox
  costs an opening.
- `no-record-write`: the SLA record activity returns at once without touching the store. Its
  CPU per ticket against the real worker's is what the store write itself costs; the activity
  around it is still there (for a new ticket's opening, the local activity in its first task).
"""

from __future__ import annotations

import sys

from temporalio.worker import UnsandboxedWorkflowRunner

from activities.records.activities import (
    RecordActivities,
    RecordMilestoneInput,
    RecordMilestoneResult,
)
from slawatch.settings import Settings
from workers import processes, worker

VARIANTS = ("unsandboxed", "no-record-write")


def _no_write(self: RecordActivities, input: RecordMilestoneInput) -> RecordMilestoneResult:
    status = input.status
    return RecordMilestoneResult(
        tenant=status.tenant, ticket_id=status.ticket_id, events=0, breaches=0, pages=0
    )


def main(variant: str) -> None:
    if variant == "unsandboxed":
        # workers.worker looks the runner up when it builds the ticket worker.
        worker.workflow_runner = UnsandboxedWorkflowRunner  # type: ignore[assignment]
    elif variant == "no-record-write":
        RecordActivities._write = _no_write  # type: ignore[method-assign]
    else:
        raise SystemExit(f"variant: {variant!r} is not one of {', '.join(VARIANTS)}")
    processes.run_in_this_process(Settings())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
