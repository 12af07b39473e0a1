"""Table tests of the business-time clock on the seed policies, hand-computed from the rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from policies.clock import BusinessClock, ClockError, business_time_between, deadline
from policies.loader import load_policy
from policies.schema import Calendar, Policy, Weekday

BERLIN = ZoneInfo("Europe/Berlin")
TALLINN = ZoneInfo("Europe/Tallinn")
POLICIES = {name: load_policy(name) for name in ("prokuria", "cargotask")}

# RO holidays used below (Prokuria): 2026-06-01 (Children's Day/Whit Monday), 2026-11-30
# (St Andrew), 2026-12-01 (National Day), 2026-12-25, 2027-01-01, 2027-01-06 (Epiphany),
# 2027-01-07 (St John). EU DST 2026: spring forward Sun 29 Mar, fall back Sun 25 Oct.
CASES = [
    # Fri 17:00-18:00 gives 60 min; Sat/Sun off; Mon 30 Nov and Tue 1 Dec are RO holidays;
    # Wed 2 Dec 07:00 + the remaining 30 min = 07:30 CET.
    ("prokuria", "major", "response", datetime(2026, 11, 27, 17, 0, tzinfo=BERLIN),
     datetime(2026, 12, 2, 7, 30, tzinfo=BERLIN)),
    # 48 h: Fri 1 h, Wed/Thu/Fri 2-4 Dec 33 h (34), Mon 7 Dec 11 h (45), Tue 8 Dec 3 h -> 10:00.
    ("prokuria", "major", "resolution", datetime(2026, 11, 27, 17, 0, tzinfo=BERLIN),
     datetime(2026, 12, 8, 10, 0, tzinfo=BERLIN)),
    # Friday evening before spring DST: 24 h = Fri 16-18 (2 h), Mon 30 Mar 11 h (13), Tue 31 Mar
    # 11 h (24): runs out exactly at closing, so due Tue 18:00 CEST (not Wed 07:00, not 17:00).
    ("prokuria", "minor", "response", datetime(2026, 3, 27, 16, 0, tzinfo=BERLIN),
     datetime(2026, 3, 31, 18, 0, tzinfo=BERLIN)),
    # Autumn DST in Berlin: Fri 17:30-18:00 CEST is 30 min; Mon 26 Oct opens 07:00 CET (06:00
    # UTC, an hour later in UTC than the Friday), + 60 min = 08:00 CET.
    ("prokuria", "major", "response", datetime(2026, 10, 23, 17, 30, tzinfo=BERLIN),
     datetime(2026, 10, 26, 8, 0, tzinfo=BERLIN)),
    # Spring DST in Tallinn: 8 h = Fri 13-17 EET (4 h) + Mon 30 Mar 09-13 EEST.
    ("cargotask", "standard", "response", datetime(2026, 3, 27, 13, 0, tzinfo=TALLINN),
     datetime(2026, 3, 30, 13, 0, tzinfo=TALLINN)),
    # Autumn DST in Tallinn: Fri 16-17 EEST (1 h) + Mon 26 Oct 09-16 EET (7 h).
    ("cargotask", "standard", "response", datetime(2026, 10, 23, 16, 0, tzinfo=TALLINN),
     datetime(2026, 10, 26, 16, 0, tzinfo=TALLINN)),
    # Opened on a Saturday: the clock starts Mon 15 Jun 09:00; 8 h end exactly at 17:00 closing.
    ("cargotask", "standard", "response", datetime(2026, 6, 13, 10, 0, tzinfo=TALLINN),
     datetime(2026, 6, 15, 17, 0, tzinfo=TALLINN)),
    # CargoTASK takes no holidays off ("x 365"): Tue 23 Jun 10-17 (7 h), Wed 24 Jun (Estonian
    # Midsummer Day, still a working day here) 09:00 + 1 h.
    ("cargotask", "standard", "response", datetime(2026, 6, 23, 10, 0, tzinfo=TALLINN),
     datetime(2026, 6, 24, 10, 0, tzinfo=TALLINN)),
    # Opened on a holiday (Mon 1 Jun, RO): starts Tue 07:00; 24 h = Tue 11 + Wed 11 + Thu 2.
    ("prokuria", "minor", "response", datetime(2026, 6, 1, 10, 0, tzinfo=BERLIN),
     datetime(2026, 6, 4, 9, 0, tzinfo=BERLIN)),
    # Opened before opening: Tue 06:15 starts at 07:00, + 90 min = 08:30.
    ("prokuria", "major", "response", datetime(2026, 2, 10, 6, 15, tzinfo=BERLIN),
     datetime(2026, 2, 10, 8, 30, tzinfo=BERLIN)),
    # Opened exactly at closing: nothing accrues that day; Thu 07:00 + 90 min.
    ("prokuria", "major", "response", datetime(2026, 2, 11, 18, 0, tzinfo=BERLIN),
     datetime(2026, 2, 12, 8, 30, tzinfo=BERLIN)),
    # Exact to the second: Thu 17:58:31 leaves 1 min 29 s that day; 90 min - 89 s = 88 min 31 s
    # after Fri 07:00 = 08:28:31.
    ("prokuria", "major", "response", datetime(2026, 2, 12, 17, 58, 31, tzinfo=BERLIN),
     datetime(2026, 2, 13, 8, 28, 31, tzinfo=BERLIN)),
    # 7 days = 77 h from Mon 2 Feb 07:00: Mon-Fri (55 h) + Mon 9 (66) + Tue 10 Feb (77), due at
    # Tue's closing.
    ("prokuria", "minor", "resolution", datetime(2026, 2, 2, 7, 0, tzinfo=BERLIN),
     datetime(2026, 2, 10, 18, 0, tzinfo=BERLIN)),
    # Across New Year: Thu 31 Dec 10-18 (8 h); 1 Jan holiday, weekend; Mon 4 (19), Tue 5 (30);
    # 6 and 7 Jan holidays; Fri 8 (41), Mon 11 (52), Tue 12 (63), Wed 13 (74), Thu 14 +3 h.
    ("prokuria", "minor", "resolution", datetime(2026, 12, 31, 10, 0, tzinfo=BERLIN),
     datetime(2027, 1, 14, 10, 0, tzinfo=BERLIN)),
    # 24x7 is real elapsed time: 24 h across spring DST ends at 13:00 CEST local.
    ("prokuria", "critical", "resolution", datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN),
     datetime(2026, 3, 29, 13, 0, tzinfo=BERLIN)),
    # ... and across autumn DST at 11:00 CET.
    ("prokuria", "critical", "resolution", datetime(2026, 10, 24, 12, 0, tzinfo=BERLIN),
     datetime(2026, 10, 25, 11, 0, tzinfo=BERLIN)),
    # CargoTASK emergency classes: 60 min any hour, Sunday night included.
    ("cargotask", "serious", "response", datetime(2026, 6, 14, 23, 30, tzinfo=TALLINN),
     datetime(2026, 6, 15, 0, 30, tzinfo=TALLINN)),
]  # fmt: skip


@pytest.mark.parametrize(("tenant", "cls", "kind", "opened", "due"), CASES)
def test_deadline_table(tenant: str, cls: str, kind: str, opened: datetime, due: datetime) -> None:
    policy = POLICIES[tenant]
    target = policy.target(cls, kind)
    assert target is not None
    got = deadline(policy.calendar_for(cls), opened, target)
    assert got == due, f"{got.astimezone(due.tzinfo)} != {due}"
    # And the other direction: exactly the target accrued between opening and the deadline.
    assert business_time_between(policy.calendar_for(cls), opened, got) == target


def test_deadline_result_is_utc_and_same_for_any_offset_of_the_same_instant() -> None:
    cal = POLICIES["prokuria"].calendar_for("major")
    local = datetime(2026, 11, 27, 17, 0, tzinfo=BERLIN)
    as_utc = local.astimezone(UTC)
    assert deadline(cal, local, timedelta(minutes=90)).utcoffset() == timedelta(0)
    assert deadline(cal, local, timedelta(minutes=90)) == deadline(
        cal, as_utc, timedelta(minutes=90)
    )


ELAPSED = [
    # Fri 17:00 to Wed 07:30 over a weekend and two RO holidays: 1 h + 30 min.
    (datetime(2026, 11, 27, 17, 0, tzinfo=BERLIN), datetime(2026, 12, 2, 7, 30, tzinfo=BERLIN),
     timedelta(minutes=90)),
    # Saturday to Sunday: nothing.
    (datetime(2026, 2, 7, 8, 0, tzinfo=BERLIN), datetime(2026, 2, 8, 20, 0, tzinfo=BERLIN),
     timedelta(0)),
    # Before opening to after closing on one Wednesday: the whole 11-hour day.
    (datetime(2026, 2, 11, 5, 0, tzinfo=BERLIN), datetime(2026, 2, 11, 23, 0, tzinfo=BERLIN),
     timedelta(hours=11)),
    # End before start: zero, never negative.
    (datetime(2026, 2, 11, 12, 0, tzinfo=BERLIN), datetime(2026, 2, 11, 9, 0, tzinfo=BERLIN),
     timedelta(0)),
    # Across spring DST, Fri 12:00 CET to Mon 12:00 CEST: 6 h + 5 h, not 6 + 4 or 6 + 6.
    (datetime(2026, 3, 27, 12, 0, tzinfo=BERLIN), datetime(2026, 3, 30, 12, 0, tzinfo=BERLIN),
     timedelta(hours=11)),
]  # fmt: skip


@pytest.mark.parametrize(("start", "end", "expected"), ELAPSED)
def test_business_time_between_table(start: datetime, end: datetime, expected: timedelta) -> None:
    cal = POLICIES["prokuria"].calendar_for("major")
    assert business_time_between(cal, start, end) == expected


def test_naive_instants_are_rejected() -> None:
    cal = POLICIES["prokuria"].calendar_for("major")
    with pytest.raises(ClockError, match="no time zone"):
        deadline(cal, datetime(2026, 2, 11, 12, 0), timedelta(hours=1))
    with pytest.raises(ClockError, match="no time zone"):
        business_time_between(cal, datetime(2026, 2, 11, tzinfo=UTC), datetime(2026, 2, 12))


def test_next_open_and_is_open() -> None:
    clock = BusinessClock(POLICIES["prokuria"].calendar_for("major"))
    sat = datetime(2026, 11, 28, 12, 0, tzinfo=BERLIN)
    assert not clock.is_open(sat)
    # Weekend, then the two RO holidays: Wednesday's opening.
    assert clock.next_open(sat) == datetime(2026, 12, 2, 7, 0, tzinfo=BERLIN)
    assert clock.is_open(datetime(2026, 12, 2, 7, 0, tzinfo=BERLIN))
    assert not clock.is_open(datetime(2026, 12, 2, 18, 0, tzinfo=BERLIN))


def _office(closed: list[date] | None = None) -> Calendar:
    return Calendar(
        timezone="Europe/Berlin",
        working_days=[Weekday.MON],
        opens=time(9),
        closes=time(17),
        closed_dates=closed or [],
    )


def test_long_targets_are_not_cut_short_by_the_scan_limit() -> None:
    # 400 Mondays of 8 h each span almost 8 years: far beyond the closed-days-in-a-row limit.
    cal = _office()
    start = datetime(2026, 1, 5, 9, 0, tzinfo=BERLIN)  # a Monday
    due = deadline(cal, start, timedelta(hours=8 * 400))
    assert due == datetime(2026, 1, 5, 17, 0, tzinfo=BERLIN) + timedelta(weeks=399)
    assert business_time_between(cal, start, due) == timedelta(hours=8 * 400)


def test_a_calendar_with_no_working_day_in_sight_fails_clearly() -> None:
    first = date(2026, 1, 5)
    closed = [first + timedelta(weeks=w) for w in range(4 * 53)]
    with pytest.raises(ClockError, match="no working day within"):
        deadline(_office(closed), datetime(2026, 1, 5, 9, 0, tzinfo=BERLIN), timedelta(hours=1))


def test_cost_grows_with_working_days_not_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    policy: Policy = POLICIES["prokuria"]
    clock = BusinessClock(policy.calendar_for("minor"))
    calls = 0
    original = clock.window

    def counting(day: date) -> tuple[datetime, datetime] | None:
        nonlocal calls
        calls += 1
        return original(day)

    monkeypatch.setattr(clock, "window", counting)
    # 77 business hours = 4,620 minutes, over 9 calendar days from Mon 2 Feb: one look per day.
    clock.deadline(datetime(2026, 2, 2, 7, 0, tzinfo=BERLIN), timedelta(hours=77))
    assert calls == 9


def test_hours_inside_a_dst_gap_never_give_a_bogus_opening() -> None:
    # Berlin skips 02:00-03:00 on Sun 29 Mar 2026. Open 02:50-03:10 maps to 01:50-01:10 UTC,
    # an inverted span: that day has no opening, and the next is Mon 30 Mar 02:50 CEST.
    cal = Calendar(
        timezone="Europe/Berlin", working_days=list(Weekday), opens=time(2, 50), closes=time(3, 10)
    )
    clock = BusinessClock(cal)
    at = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
    assert clock.window(date(2026, 3, 29)) is None
    assert clock.next_open(at) == datetime(2026, 3, 30, 2, 50, tzinfo=BERLIN)
    assert clock.is_open(clock.next_open(at))
    # 20 minutes from Saturday 02:50 CET: Saturday's whole window.
    assert deadline(cal, datetime(2026, 3, 28, 2, 50, tzinfo=BERLIN), timedelta(minutes=20)) == (
        datetime(2026, 3, 28, 3, 10, tzinfo=BERLIN)
    )
