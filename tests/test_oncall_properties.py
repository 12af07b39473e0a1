"""`who` and the iCalendar feed agree on every hour of four weeks, for generated schedules.

The feed is built as the API builds it (shifts -> icalendar), parsed back with the icalendar
library, and read the way a calendar app reads it: the event that holds an instant.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta
from typing import Any

import icalendar
from hypothesis import example, given, settings
from hypothesis import strategies as st

from intake.oncall_feed import calendar_feed
from policies.loader import load_policy
from policies.oncall import Override, shifts, who
from policies.schema import Policy, Schedule
from tests.profiles import examples

PROKURIA = load_policy("prokuria")
PEOPLE = ["ana", "bogdan", "carmen"]
# DST on both hemispheres, a half-hour DST (Lord Howe) and none (Kolkata).
ZONES = ["Europe/Tallinn", "Europe/Bucharest", "America/New_York", "Australia/Lord_Howe"]
ZONES += ["Asia/Kolkata"]
ROTATIONS = ["daily", "weekly", "2 days", "2 weeks", "1 hour", "5 hours", "8 hours", "12 hours"]
WEEKS = 4
PROPS = settings(max_examples=examples(15), deadline=None)

minutes = st.integers(0, 24 * 60 - 1).map(lambda m: time(m // 60, m % 60))


@st.composite
def restrictions(draw: st.DrawFn) -> dict[str, Any]:
    starts = draw(minutes)
    ends = draw(minutes.filter(lambda t: t != starts))
    days = draw(st.lists(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
                         min_size=1, max_size=7, unique=True))  # fmt: skip
    return {"days": days, "starts": starts, "ends": ends}


@st.composite
def layers(draw: st.DrawFn, n: int) -> dict[str, Any]:
    return {
        "name": f"layer{n}",
        "participants": draw(st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=3)),
        "rotation": draw(st.sampled_from(ROTATIONS)),
        "handoff": draw(minutes),
        "timezone": draw(st.sampled_from(ZONES)),
        "start": draw(st.dates(datetime(2025, 10, 1).date(), datetime(2027, 3, 1).date())),
        "restrictions": draw(st.lists(restrictions(), max_size=2)),
    }


@st.composite
def cases(draw: st.DrawFn) -> tuple[Policy, datetime, list[Override]]:
    count = draw(st.integers(1, 3))
    schedule = Schedule.model_validate({"layers": [draw(layers(n)) for n in range(count)]})
    roles = {k: v for k, v in PROKURIA.roles.items() if k != "primary"}
    policy = PROKURIA.model_copy(update={"roles": roles, "schedules": {"primary": schedule}})
    start = draw(
        st.datetimes(datetime(2026, 1, 1), datetime(2027, 1, 1), timezones=st.just(UTC))
    ).replace(microsecond=0)
    overrides = []
    for i in range(draw(st.integers(0, 3))):
        begin = start + timedelta(minutes=draw(st.integers(-600, WEEKS * 7 * 24 * 60)))
        overrides.append(
            Override(
                id=f"ovr_{i:012x}",
                tenant="prokuria",
                role="primary",
                person=draw(st.sampled_from(PEOPLE)),
                replaces=draw(st.sampled_from([None, *PEOPLE])),
                starts_at=begin,
                ends_at=begin + timedelta(minutes=draw(st.integers(1, 5 * 24 * 60))),
                created_at=start - timedelta(days=draw(st.integers(1, 30))),
            )
        )
    return policy, start, overrides


def _at_dst(zone: str, spring: datetime) -> tuple[Policy, datetime, list[Override]]:
    """A weekly and an hourly layer whose handoffs fall into the hour DST skips."""
    schedule = Schedule.model_validate(
        {
            "layers": [
                {"name": "weekly", "participants": PEOPLE, "rotation": "weekly",
                 "handoff": "09:00", "timezone": zone, "start": "2026-01-05"},
                {"name": "nights", "participants": ["carmen", "ana"], "rotation": "1 hour",
                 "handoff": "03:30", "timezone": zone, "start": "2026-01-05",
                 "restrictions": [{"starts": "02:30", "ends": "04:30"}]},
            ]
        }
    )  # fmt: skip
    roles = {k: v for k, v in PROKURIA.roles.items() if k != "primary"}
    policy = PROKURIA.model_copy(update={"roles": roles, "schedules": {"primary": schedule}})
    return policy, spring, []


def _starting_inside() -> tuple[Policy, datetime, list[Override]]:
    """A layer whose first handoff falls inside the sample (found by this test)."""
    schedule = Schedule.model_validate(
        {"layers": [{"name": "layer0", "participants": ["ana", "bogdan"], "rotation": "daily",
                     "handoff": "00:00", "timezone": "Europe/Tallinn", "start": "2026-01-02"}]}
    )  # fmt: skip
    roles = {k: v for k, v in PROKURIA.roles.items() if k != "primary"}
    policy = PROKURIA.model_copy(update={"roles": roles, "schedules": {"primary": schedule}})
    return policy, datetime(2026, 1, 1, tzinfo=UTC), []


@PROPS
@given(cases())
@example(_at_dst("Europe/Tallinn", datetime(2026, 3, 15, tzinfo=UTC)))
@example(_at_dst("Europe/Tallinn", datetime(2026, 10, 11, 7, 30, tzinfo=UTC)))
@example(_starting_inside())
def test_who_and_the_feed_agree_on_every_hour(
    case: tuple[Policy, datetime, list[Override]],
) -> None:
    policy, start, overrides = case
    end = start + timedelta(weeks=WEEKS)
    listed = shifts(policy, "primary", start, end, overrides)
    feed = icalendar.Calendar.from_ical(calendar_feed("prokuria", "primary", listed, start))
    events = [
        (e.decoded("DTSTART"), e.decoded("DTEND"), str(e["SUMMARY"])) for e in feed.walk("VEVENT")
    ]
    assert all(a < b for a, b, _ in events)
    assert all(prev[1] <= nxt[0] for prev, nxt in itertools.pairwise(events))
    for hour in range(WEEKS * 7 * 24):
        at = start + timedelta(hours=hour)
        people = who(policy, "primary", at, overrides).people
        holding = [summary for a, b, summary in events if a <= at < b]
        if people:
            assert holding == [f"primary: {', '.join(people)}"], at
        else:
            assert holding == [], at
