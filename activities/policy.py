"""Reading a tenant's policy for a new ticket: the one place a workflow's policy comes from."""

from __future__ import annotations

from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from policies.loader import PolicyError, load_policy_file, parse_policy, policy_path, snapshot
from policies.schema import Policy
from slawatch.models import PolicySnapshotInput


class PolicyFiles:
    """Policies read from a directory (built-in seeds when None), parsed once per file text."""

    def __init__(self, policy_dir: Path | None) -> None:
        self.policy_dir = policy_dir
        # Parsed policies keyed by the file's exact text: parsing YAML was ~9 ms of every new
        # ticket's ~30 ms worker time, and comparing the text (not mtime) sees every edit.
        self._parsed: dict[Path, tuple[str, Policy]] = {}

    def load(self, tenant: str) -> Policy:
        """The tenant's current policy; raises PolicyError naming the problem."""
        path = policy_path(tenant, self.policy_dir)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return load_policy_file(path)  # raises the PolicyError that names the problem
        cached = self._parsed.get(path)
        if cached is None or cached[0] != text:
            cached = (text, parse_policy(text, str(path)))
            self._parsed[path] = cached
        return cached[1]


class PolicyActivities:
    """Loads policies from the configured directory (built-in seeds when None)."""

    def __init__(self, policy_dir: Path | None) -> None:
        self.policy_dir = policy_dir
        self._files = PolicyFiles(policy_dir)

    def _load(self, tenant: str) -> Policy:
        return self._files.load(tenant)

    @activity.defn(name="snapshot_policy")
    async def snapshot_policy(self, input: PolicySnapshotInput) -> Policy:
        """The tenant's policy with holidays resolved, to be recorded in the ticket's history."""
        try:
            policy = self._load(input.tenant)
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
