"""Compact policy snapshots: what a ticket, or one breach's ladder, needs and nothing more.

A snapshot goes into workflow history (the ticket's input, each escalation's input), so its
size is paid in every history, every cached workflow and every replay. Both are still `Policy`
objects, so workflow code reads them exactly as it read the full policy.
"""

from __future__ import annotations

from datetime import datetime

from policies.clock import holidays_of
from policies.schema import Calendar, Policy, Warnings

# Public holidays are resolved for the opening year and this many after it. A target reaches
# at most a few weeks (Prokuria's longest: 7 working days); the span leaves room for long
# waits on the customer and the 30-day auto-close. Past it the clock counts weekends only, as
# it did past the ten years the first snapshots carried (docs/design.md, "State at start").
HOLIDAY_YEARS_AHEAD = 1
# Who hears by email when Twilio refuses our account (workflows/escalation.py FALLBACK_ROLE).
FALLBACK_ROLE = "duty_manager"


def _calendar_for_span(cal: Calendar, first: int, last: int) -> Calendar:
    update: dict[str, object] = {
        "closed_dates": [d for d in cal.closed_dates if first <= d.year <= last]
    }
    if cal.holiday_country:
        resolved = cal.resolved_holidays
        update["resolved_holidays"] = {
            y: list(resolved[y]) if resolved and y in resolved else holidays_of(cal, y)
            for y in range(first, last + 1)
        }
    return cal.model_copy(update=update)


def ticket_snapshot(
    policy: Policy, opened_at: datetime, years_ahead: int = HOLIDAY_YEARS_AHEAD
) -> Policy:
    """The policy as a ticket opened at `opened_at` runs it: every class (it may be
    reclassified), the calendars they use with holidays of the span its targets can reach, the
    ladders, roles and responders."""
    first, last = opened_at.year, opened_at.year + years_ahead
    used = {c.calendar for c in policy.classes.values()}
    calendars = {
        name: _calendar_for_span(cal, first, last)
        for name, cal in policy.calendars.items()
        if name in used
    }
    return policy.model_copy(update={"calendars": calendars})


def ladder_snapshot(policy: Policy, severity: str) -> Policy:
    """What one breach's escalation needs: its class, that class's calendar (support hours)
    and ladder, and only the roles and people the ladder (and the fallback email) can page."""
    cls = policy.classes[severity]
    ladder = policy.ladders[cls.ladder]
    roles = {r for step in ladder.steps for r in step.roles}
    if FALLBACK_ROLE in policy.role_names():
        roles.add(FALLBACK_ROLE)
    # A schedule stays a schedule: the escalation resolves it when it pages (the current
    # policy's, by an activity) and falls back to this copy only when that cannot answer.
    people = (
        {p for r in roles for p in policy.roles.get(r, [])}
        | {p for r in roles if r in policy.schedules for p in policy.schedules[r].participants()}
        | {p for step in ladder.steps for p in step.people}
    )
    return policy.model_copy(
        update={
            "default_class": severity,
            "categories": [],
            "category_classes": {},
            "classes": {severity: cls},
            "calendars": {cls.calendar: policy.calendars[cls.calendar]},
            "ladders": {cls.ladder: ladder},
            "warnings": Warnings(),
            "roles": {r: m for r, m in policy.roles.items() if r in roles},
            "schedules": {r: m for r, m in policy.schedules.items() if r in roles},
            "responders": {p: x for p, x in policy.responders.items() if p in people},
        }
    )
