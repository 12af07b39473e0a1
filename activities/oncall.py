"""Resolving on-call roles to people at the moment a step pages: the current policy's schedules
plus the overrides in force, as one activity whose result lands in the ticket's history.

Ready for the escalation (issue 12, "resolved when the page is sent"); not yet called by it.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from pydantic import AwareDatetime, BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.overrides import OverrideStore
from policies.loader import PolicyError, load_policy
from policies.oncall import OnCall, who


class ResolveRolesInput(BaseModel):
    tenant: str
    roles: list[str]
    at: AwareDatetime


class ResolveRolesResult(BaseModel):
    answers: list[OnCall]
    # Roles the current policy no longer has: the caller falls back to its snapshot for them.
    missing: list[str] = Field(default_factory=list)


class OnCallActivities:
    """Reads the tenant's current policy file and the override store."""

    def __init__(self, policy_dir: Path | None, store: OverrideStore) -> None:
        self.policy_dir = policy_dir
        self.store = store

    def _resolve(self, input: ResolveRolesInput) -> ResolveRolesResult:
        try:
            policy = load_policy(input.tenant, self.policy_dir)
        except PolicyError as exc:
            # An operator may fix the file: Temporal retries (the ticket's snapshot is pinned).
            raise ApplicationError(str(exc), type="PolicyError") from None
        known = set(policy.role_names())
        answers = []
        for role in dict.fromkeys(input.roles):
            if role in known:
                found = self.store.overlapping(
                    input.tenant, role, input.at, input.at + timedelta(seconds=1)
                )
                answers.append(who(policy, role, input.at, found))
        missing = [r for r in dict.fromkeys(input.roles) if r not in known]
        return ResolveRolesResult(answers=answers, missing=missing)

    @activity.defn(name="resolve_roles")
    async def resolve_roles(self, input: ResolveRolesInput) -> ResolveRolesResult:
        """Who is on call for each role at `at`, and why (layer or override)."""
        return await asyncio.to_thread(self._resolve, input)
