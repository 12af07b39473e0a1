"""Properties of the business-time clock, on the seed calendars and on generated ones."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from policies.clock import BusinessClock, business_time_between, deadline
from policies.loader import load_policy
from policies.schema import Calendar, Weekday
from tests.profiles import examples

PROKURIA = load_policy("prokuria")
CARGOTASK = load_policy("cargotask")
SEED_CALENDARS = [
    PROKURIA.calendars["working_hours"],
    CARGOTASK.calendars["office_hours"],
    PROKURIA.calendars["always"],
]
# Zones with DST on both hemispheres, a half-hour DST (Lord Howe) and none (Kolkata).
ZONES = [
    "Europe/Berlin",
    "Europe/Tallinn",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
]

# Hypothesis's own per-example deadline is off: the machine is shared, and timing is not what
# these properties are about.
PROPS = settings(max_examples=examples(150), deadline=None)


@st.composite
def working_calendars(draw: st.DrawFn) -> Calendar:
    """Random working-hours calendars, opening and closing at any second, some around DST."""
    days = draw(st.lists(st.sampled_from(list(Weekday)), min_size=1, max_size=7, unique=True))
    opens = draw(st.times(max_value=time(23, 59, 58)).map(lambda t: t.replace(microsecond=0)))
    seconds_left = 86399 - (opens.hour * 3600 + opens.minute * 60 + opens.second)
    length = draw(st.integers(min_value=1, max_value=seconds_left))
    end = datetime.combine(date(2000, 1, 1), opens) + timedelta(seconds=length)
    closed = draw(st.lists(st.dates(date(2025, 12, 1), date(2027, 6, 30)), max_size=20))
    return Calendar(
        timezone=draw(st.sampled_from(ZONES)),
        working_days=days,
        opens=opens,
        closes=end.time(),
        holiday_country=draw(st.sampled_from([None, "RO", "EE", "US"])),
        closed_dates=closed,
    )


Case = tuple[Calendar, timedelta, timedelta]
calendars = st.one_of(st.sampled_from(SEED_CALENDARS), working_calendars())
instants = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
)


def targets(cal: Calendar) -> st.SearchStrategy[timedelta]:
    """Up to 15 of the calendar's working days, to the microsecond (a 1-second day is short)."""
    longest = cal.working_day_length * 15
    return st.timedeltas(min_value=timedelta(microseconds=1), max_value=longest)


@st.composite
def with_targets(draw: st.DrawFn, cals: st.SearchStrategy[Calendar] = calendars) -> Case:
    cal = draw(cals)
    return cal, draw(targets(cal)), draw(targets(cal))


@PROPS
@given(with_targets(), instants)
def test_business_time_to_the_deadline_equals_the_target(case: Case, start: datetime) -> None:
    cal, target, _ = case
    due = deadline(cal, start, target)
    assert business_time_between(cal, start, due) == target


@PROPS
@given(with_targets(), instants)
def test_the_deadline_is_the_earliest_such_instant(case: Case, start: datetime) -> None:
    cal, target, _ = case
    due = deadline(cal, start, target)
    assert business_time_between(cal, start, due - timedelta(microseconds=1)) < target
    # Business time was running just before the deadline.
    assert BusinessClock(cal).is_open(due - timedelta(microseconds=1))


@PROPS
@given(with_targets(), instants, instants)
def test_monotonic_in_start(case: Case, a: datetime, b: datetime) -> None:
    cal, target, _ = case
    early, late = sorted((a, b))
    assert deadline(cal, early, target) <= deadline(cal, late, target)


@PROPS
@given(with_targets(), instants)
def test_monotonic_in_target(case: Case, start: datetime) -> None:
    cal, t1, t2 = case
    small, large = sorted((t1, t2))
    assert deadline(cal, start, small) <= deadline(cal, start, large)


@PROPS
@given(calendars, instants, instants, instants)
def test_business_time_is_additive(cal: Calendar, a: datetime, b: datetime, c: datetime) -> None:
    x, y, z = sorted((a, b, c))
    total = business_time_between(cal, x, z)
    assert total == business_time_between(cal, x, y) + business_time_between(cal, y, z)
    assert total <= z - x


@PROPS
@given(
    st.sampled_from(ZONES), instants, st.timedeltas(timedelta(0), timedelta(days=3650)), instants
)
def test_24x7_is_plain_addition(
    zone: str, start: datetime, target: timedelta, end: datetime
) -> None:
    cal = Calendar(timezone=zone, always_open=True)
    assert deadline(cal, start, target) == start + target
    assert business_time_between(cal, start, end) == max(end - start, timedelta(0))


@PROPS
@given(with_targets(working_calendars()), instants, st.integers(min_value=0, max_value=40))
def test_a_holiday_added_never_makes_a_deadline_earlier(
    case: Case, start: datetime, days_later: int
) -> None:
    cal, target, _ = case
    extra = start.date() + timedelta(days=days_later)
    with_holiday = cal.model_copy(update={"closed_dates": [*cal.closed_dates, extra]})
    assert deadline(with_holiday, start, target) >= deadline(cal, start, target)


@PROPS
@given(with_targets(st.sampled_from(SEED_CALENDARS[:2])), instants)
def test_seed_deadlines_fall_inside_local_working_hours(case: Case, start: datetime) -> None:
    cal, target, _ = case
    # A DST slip of an hour would put some deadlines before opening or after closing.
    due = deadline(cal, start, target)
    local = BusinessClock(cal).zone
    wall = due.astimezone(local)
    assert cal.opens is not None and cal.closes is not None
    assert cal.opens < wall.time() <= cal.closes
    assert wall.weekday() < 5


@PROPS
@given(calendars, instants)
def test_next_open_is_open_and_not_before(cal: Calendar, at: datetime) -> None:
    clock = BusinessClock(cal)
    opening = clock.next_open(at)
    assert opening >= at
    assert clock.is_open(opening)
    # Nothing accrues between `at` and the next opening.
    assert business_time_between(cal, at, opening) == timedelta(0)
