"""A workflow for tests/test_sandbox.py: what the sandbox lets workflow code see, with the
workflow module's code compiled once (workers/sandbox.py, CodeCache)."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio import workflow
from temporalio.worker.workflow_sandbox import RestrictedWorkflowAccessError

# A fresh module namespace per run has this empty at every run's start.
RUNS: list[str] = []


@workflow.defn
class SandboxProbe:
    @workflow.run
    async def run(self) -> dict[str, object]:
        RUNS.append(workflow.info().workflow_id)
        try:
            datetime.now(UTC)
            clock = "allowed"
        except RestrictedWorkflowAccessError:
            clock = "restricted"
        return {"clock": clock, "runs": len(RUNS), "code": id(SandboxProbe.run.__code__)}
