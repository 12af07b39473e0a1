"""Reading a tenant's policy for a new ticket: the one place a workflow's policy comes from."""

from __future__ import annotations

from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from policies.loader import PolicyError, load_policy, snapshot
from policies.schema import Policy
from slawatch.models import PolicySnapshotInput


class PolicyActivities:
    """Loads policies from the configured directory (built-in seeds when None)."""

    def __init__(self, policy_dir: Path | None) -> None:
        self.policy_dir = policy_dir

    @activity.defn(name="snapshot_policy")
    async def snapshot_policy(self, input: PolicySnapshotInput) -> Policy:
        """The tenant's policy with holidays resolved, to be recorded in the ticket's history."""
        try:
            policy = load_policy(input.tenant, self.policy_dir)
        except PolicyError as exc:
            # A broken or missing policy file will not fix itself by retrying quickly, but an
            # operator may fix it: retry slowly (Temporal's policy), and say exactly what is wrong.
            raise ApplicationError(str(exc), type="PolicyError") from None
        if policy.tenant != input.tenant:
            raise ApplicationError(
                f"policy file for {input.tenant!r} declares tenant {policy.tenant!r}",
                type="PolicyError",
                non_retryable=True,
            )
        return snapshot(policy, input.opened_at)
