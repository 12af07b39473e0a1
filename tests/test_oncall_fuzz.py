"""Hypothesis against schedules in policy files: a policy whose schedule resolves, or one-line
problems naming the field; never a traceback, in the loader or in the resolver."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from policies.oncall import shifts, who
from policies.schema import Policy
from tests.policy_fuzz import JUNK, SEED, check_outcome, paths_of, set_at
from tests.profiles import examples

SCHEDULED: dict[str, Any] = copy.deepcopy(SEED)
del SCHEDULED["roles"]["primary"]
SCHEDULED["schedules"] = {
    "primary": {
        "layers": [
            {
                "name": "days",
                "participants": ["ana", "bogdan"],
                "rotation": "weekly",
                "handoff": "09:00",
                "timezone": "Europe/Bucharest",
                "start": "2026-01-05",
                "restrictions": [{"days": ["mon", "fri"], "starts": "07:00", "ends": "18:00"}],
            },
            {
                "name": "nights",
                "participants": ["carmen"],
                "rotation": "12 hours",
                "handoff": "19:00",
                "timezone": "Europe/Tallinn",
                "start": "2026-01-05",
            },
        ]
    }
}
PATHS = [p for p in paths_of(SCHEDULED) if p[0] == "schedules"]
TEXT_JUNK = st.sampled_from(
    [
        *("0 hours", "-1 days", "99999999999 weeks", "25:00", "24:00", "Mars/Olympus", ""),
        *("mon", "?", "0001-01-01", "9999-12-31"),
    ]
)
mutated = st.one_of(
    st.sampled_from(PATHS).map(lambda p: set_at(SCHEDULED, p, None, delete=True)),
    st.tuples(st.sampled_from(PATHS), st.one_of(JUNK, TEXT_JUNK)).map(
        lambda pv: set_at(SCHEDULED, *pv)
    ),
)


@settings(max_examples=examples(80), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated)
@example(set_at(SCHEDULED, ("schedules", "primary", "layers", 1, "rotation"), "99999999999 weeks"))
@example(set_at(SCHEDULED, ("schedules", "primary", "layers", 1, "start"), "0001-01-01"))
def test_a_mutated_schedule_resolves_or_is_an_error_naming_its_field(doc: dict[str, Any]) -> None:
    outcome = check_outcome(yaml.safe_dump(doc))
    if isinstance(outcome, Policy):
        at = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # the night Europe changes to summer time
        for role in outcome.role_names():
            who(outcome, role, at)
            shifts(outcome, role, at, at + timedelta(days=2))
        return
    for problem in outcome.problems:
        assert problem.field.startswith(("schedules", "ladders", "warnings")), str(problem)
