"""Whom a ladder step pages, resolved at the moment it pages (docs/oncall.md, "At page time").

A step naming a schedule asks the `resolve_roles` activity (activities/oncall.py: the tenant's
current policy file and the overrides in force) who is on call now; its answer is in history,
so replay is stable. A step naming only fixed lists needs no activity: the snapshot's lists
are the answer, and the page goes out without the extra round trip. When the activity cannot
answer in time (a broken policy file, the override store down) the step falls back to the
schedule in the ticket's snapshot, without overrides: a page to the schedule's person beats
no page.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.oncall import OnCallActivities, ResolveRolesInput
    from policies.oncall import OnCall, who
    from policies.schema import LadderStep, Policy
    from slawatch.models import Recipient
    from workflows.versions import patched

# Patch: schedule roles are resolved when the step pages, by the `resolve_roles` activity.
ONCALL_AT_PAGE_TIME = "oncall-at-page-time"
# A page must not wait long for the answer: after this the snapshot's schedule decides.
RESOLVE_WITHIN = timedelta(seconds=20)
RESOLVE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500), maximum_interval=timedelta(seconds=5)
)


def scheduled_roles(policy: Policy, step: LadderStep) -> list[str]:
    """The step's roles that are schedules (in the snapshot), in order."""
    return [r for r in step.roles if r in policy.schedules]


def describe(answer: OnCall) -> str:
    """One line for the ticket's history: "primary: mart (layer weekly, shift 3; ...)"."""
    people = ", ".join(answer.people) or "nobody"
    return f"{answer.role}: {people} ({answer.why})"


def recipients(
    policy: Policy,
    step: LadderStep,
    at: datetime | None = None,
    answers: dict[str, list[str]] | None = None,
    known: dict[str, Recipient] | None = None,
) -> list[Recipient]:
    """Whom a step pages, in order, each once: the emergency line, the roles' people, the
    step's people. `answers` gives roles resolved at page time (with `known`, how to reach
    people the snapshot may not have); any other schedule is read from the snapshot at `at`
    (the workflow's now by default)."""
    people: list[Recipient] = []
    if step.emergency_line:
        people.append(
            Recipient(
                id="emergency_line",
                name=f"{policy.name} emergency line",
                phone=policy.emergency_line,
                email=policy.support_email,
            )
        )
    answers, known = answers or {}, known or {}
    ids: list[str] = []
    for role in step.roles:
        if role in answers:
            ids += answers[role]
        elif role in policy.schedules:
            ids += who(policy, role, at or workflow.now()).people
        else:
            ids += policy.roles.get(role, [])
    for pid in dict.fromkeys(ids + list(step.people)):
        if pid in known:
            people.append(known[pid])
        elif pid in policy.responders:
            r = policy.responders[pid]
            people.append(
                Recipient(id=pid, name=r.name, phone=r.phone, email=r.email, language=r.language)
            )
    return people


async def resolve(
    tenant: str, policy: Policy, step: LadderStep, revision: int
) -> tuple[list[Recipient], list[str]]:
    """Whom the step pages now, and one line per schedule role saying who and why.

    Without a schedule in the step, or in a history recorded before the patch, the snapshot
    decides (no activity)."""
    now = workflow.now()
    roles = scheduled_roles(policy, step)
    if not roles or not patched(ONCALL_AT_PAGE_TIME, revision):
        return recipients(policy, step, now), []
    try:
        result = await workflow.execute_activity_method(
            OnCallActivities.resolve_roles,
            ResolveRolesInput(tenant=tenant, roles=roles, at=now),
            start_to_close_timeout=timedelta(seconds=10),
            schedule_to_close_timeout=RESOLVE_WITHIN,
            retry_policy=RESOLVE_RETRY,
            summary=f"who is on call: {', '.join(roles)}",
        )
    except ActivityError as err:
        # The snapshot's schedule, without overrides: a page to its person beats no page.
        cause = err.cause or err
        answers = [who(policy, role, now) for role in roles]
        notes = [f"{describe(a)}; from the ticket's snapshot: {cause}"[:300] for a in answers]
        return recipients(policy, step, now), notes
    found = {a.role: a.people for a in result.answers}
    notes = [describe(a) for a in result.answers]
    notes += [
        f"{role}: not in the current policy; from the ticket's snapshot" for role in result.missing
    ]
    return recipients(policy, step, now, found, result.people), notes
