"""Resolving on-call roles to people at the moment a step pages: the current policy's schedules
plus the overrides in force, as one activity whose result lands in the ticket's history.

Called by the escalation (workflows/oncall.py) for every step that names a schedule, under
the patch `oncall-at-page-time`. It reads the tenant's policy file as it is now (an edited
schedule reaches a running ticket's next step), parsed once per file text (the file is read
on every call, parsed only when it changed), and the override store.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from pydantic import AwareDatetime, BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.overrides import OverrideStore
from activities.policy import PolicyFiles
from policies.loader import PolicyError
from policies.oncall import OnCall, Override, who
from slawatch.models import Recipient


class ResolveRolesInput(BaseModel):
    tenant: str
    roles: list[str]
    at: AwareDatetime


class ResolveRolesResult(BaseModel):
    answers: list[OnCall]
    # Roles the current policy no longer has: the caller falls back to its snapshot for them.
    missing: list[str] = Field(default_factory=list)
    # How to reach each person the answers name, from the current policy (a schedule edit may
    # put on call someone the ticket's snapshot does not know).
    people: dict[str, Recipient] = Field(default_factory=dict)


class NoOverrides:
    """An override store that holds none (a worker wired without one, e.g. in a test)."""

    def overlapping(self, *args: object, **kwargs: object) -> list[Override]:
        return []


class OnCallActivities:
    """Reads the tenant's current policy file and the override store."""

    def __init__(self, policy_dir: Path | None, store: OverrideStore | NoOverrides) -> None:
        self.files = PolicyFiles(policy_dir)
        self.store = store

    def _resolve(self, input: ResolveRolesInput) -> ResolveRolesResult:
        try:
            policy = self.files.load(input.tenant)
        except PolicyError as exc:
            # An operator may fix the file; meanwhile the workflow falls back to its snapshot.
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
        people = {}
        for answer in answers:
            for pid in answer.people:
                r = policy.responders.get(pid)
                if r is None:  # an override naming someone the policy has since dropped
                    continue
                people[pid] = Recipient(
                    id=pid, name=r.name, phone=r.phone, email=r.email, language=r.language
                )
        return ResolveRolesResult(answers=answers, missing=missing, people=people)

    @activity.defn(name="resolve_roles")
    async def resolve_roles(self, input: ResolveRolesInput) -> ResolveRolesResult:
        """Who is on call for each role at `at`, and why (layer or override)."""
        return await asyncio.to_thread(self._resolve, input)
