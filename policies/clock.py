"""The business-time clock: deadlines and elapsed business time on a policy calendar.

Pure and deterministic (safe inside workflows). Instants are timezone-aware; all arithmetic
is done in UTC on the real instants of each working day's opening and closing, so a DST change
never shifts a deadline by an hour. The cost grows with the working days spanned, not minutes.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays

from policies.calendar import Calendar

# A calendar with this many closed days in a row is broken (e.g. every working day listed as
# closed); the limit counts closed days only, so long targets are never cut short.
_MAX_DAYS_SCANNED = 3 * 366

Window = tuple[datetime, datetime] | None


class ClockError(ValueError):
    """The calendar cannot answer: a naive instant, or no working day in sight."""


class BusinessClock:
    """Answers business-time questions for one calendar, caching each day's opening window."""

    def __init__(self, calendar: Calendar) -> None:
        self.calendar = calendar
        self.zone = ZoneInfo(calendar.timezone)
        self._working = {d.number for d in calendar.working_days}
        self._closed = set(calendar.closed_dates)
        self._holidays_by_year: dict[int, frozenset[date]] = {}
        self._windows: dict[date, Window] = {}

    # -- public API ---------------------------------------------------------------------------

    def deadline(self, start: datetime, target: timedelta) -> datetime:
        """The earliest instant at which business time accrued since `start` equals `target`."""
        start = _utc(start)
        if target <= timedelta(0):
            return start
        if self.calendar.always_open:
            return start + target
        remaining = target
        day = start.astimezone(self.zone).date()
        closed_in_a_row = 0
        while closed_in_a_row < _MAX_DAYS_SCANNED:
            window = self.window(day)
            closed_in_a_row += 1
            if window is not None:
                closed_in_a_row = 0
                opens, closes = window
                begin = max(opens, start)
                if begin < closes:
                    available = closes - begin
                    # `<=`: a target that runs out exactly at closing is due at closing.
                    if remaining <= available:
                        return begin + remaining
                    remaining -= available
            day += timedelta(days=1)
        raise ClockError(f"no working day within {_MAX_DAYS_SCANNED} days of {start.isoformat()}")

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Business time between two instants (zero if `end` is not after `start`)."""
        start, end = _utc(start), _utc(end)
        if end <= start:
            return timedelta(0)
        if self.calendar.always_open:
            return end - start
        total = timedelta(0)
        day = start.astimezone(self.zone).date()
        last = end.astimezone(self.zone).date()
        while day <= last:
            window = self.window(day)
            if window is not None:
                begin, finish = max(window[0], start), min(window[1], end)
                if begin < finish:
                    total += finish - begin
            day += timedelta(days=1)
        return total

    def next_open(self, at: datetime) -> datetime:
        """`at` if the calendar is open then, else the next opening instant."""
        at = _utc(at)
        if self.calendar.always_open:
            return at
        day = at.astimezone(self.zone).date()
        for _ in range(_MAX_DAYS_SCANNED):
            window = self.window(day)
            if window is not None and window[1] > at:
                return max(window[0], at)
            day += timedelta(days=1)
        raise ClockError(f"no working day within {_MAX_DAYS_SCANNED} days of {at.isoformat()}")

    def is_open(self, at: datetime) -> bool:
        """Whether business time is running at `at`."""
        return self.next_open(at) == _utc(at)

    def is_working_day(self, day: date) -> bool:
        """Whether a local date has working hours (a working weekday, not a holiday)."""
        if self.calendar.always_open:
            return True
        if day.weekday() not in self._working or day in self._closed:
            return False
        return day not in self._holidays(day.year)

    def window(self, day: date) -> Window:
        """The (opening, closing) instants in UTC of a local date, or None on a day off."""
        try:
            return self._windows[day]
        except KeyError:
            pass
        window: Window = None
        if self.is_working_day(day):
            opens, closes = self.calendar.opens, self.calendar.closes
            assert opens is not None and closes is not None
            begin = datetime.combine(day, opens, tzinfo=self.zone).astimezone(UTC)
            end = datetime.combine(day, closes, tzinfo=self.zone).astimezone(UTC)
            # Hours that straddle a spring-forward gap (opens 02:50, closes 03:10) can map to
            # an empty or inverted span; treat that day as closed rather than open backwards.
            window = (begin, end) if begin < end else None
        self._windows[day] = window
        return window

    # -- holidays -----------------------------------------------------------------------------

    def _holidays(self, year: int) -> frozenset[date]:
        try:
            return self._holidays_by_year[year]
        except KeyError:
            pass
        resolved = self.calendar.resolved_holidays
        if resolved is not None:
            # A ticket's snapshot is all it may use: the `holidays` package is not called from
            # workflow code (the sandbox refuses its locale calls, and a newer package must not
            # change a running ticket). Years past the snapshot count weekends only.
            days = frozenset(resolved.get(year, ()))
        else:
            days = frozenset(holidays_of(self.calendar, year))
        self._holidays_by_year[year] = days
        return days


def holidays_of(calendar: Calendar, year: int) -> list[date]:
    """The public holidays of the calendar's country in a year, from the `holidays` package."""
    if calendar.holiday_country is None:
        return []

    table = holidays.country_holidays(
        calendar.holiday_country, subdiv=calendar.holiday_subdivision, years=year
    )
    return sorted(table.keys())


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ClockError(f"instant {at.isoformat()} has no time zone")
    return at.astimezone(UTC)


# A small cache of clocks, so repeated questions about one calendar reuse its day windows.
_CLOCKS: OrderedDict[int, tuple[Calendar, BusinessClock]] = OrderedDict()
_CLOCKS_MAX = 256


def clock_for(calendar: Calendar) -> BusinessClock:
    """The (cached) clock of a calendar object."""
    key = id(calendar)
    entry = _CLOCKS.get(key)
    if entry is not None and entry[0] is calendar:
        _CLOCKS.move_to_end(key)
        return entry[1]
    clock = BusinessClock(calendar)
    _CLOCKS[key] = (calendar, clock)
    if len(_CLOCKS) > _CLOCKS_MAX:
        _CLOCKS.popitem(last=False)
    return clock


def deadline(calendar: Calendar, start: datetime, target: timedelta) -> datetime:
    """The deadline of a business-time `target` counted from `start` on `calendar`."""
    return clock_for(calendar).deadline(start, target)


def business_time_between(calendar: Calendar, start: datetime, end: datetime) -> timedelta:
    """Business time on `calendar` between two instants."""
    return clock_for(calendar).elapsed(start, end)
