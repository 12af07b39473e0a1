"""Business calendars and durations: when an SLA's time runs, and how targets are written."""

from __future__ import annotations

from datetime import date, time, timedelta
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import holidays
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

from policies.names import NAME_PATTERN

Name = Annotated[str, Field(pattern=NAME_PATTERN)]


class Strict(BaseModel):
    """Unknown keys are errors: a typo in a policy must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Unit(StrEnum):
    # Seconds are for test policies (end-to-end runs that breach in seconds), not real SLAs.
    SECONDS = "seconds"
    MINUTES = "minutes"
    HOURS = "hours"
    DAYS = "days"


UNIT_SECONDS = {Unit.SECONDS: 1, Unit.MINUTES: 60, Unit.HOURS: 3600, Unit.DAYS: 86400}


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def number(self) -> int:
        """Monday 0 to Sunday 6, as `date.weekday()` counts (`index` is str's own method)."""
        return list(Weekday).index(self)


class Duration(Strict):
    """A target or wait: an amount of business minutes, hours or working days."""

    amount: PositiveInt
    unit: Unit

    def __str__(self) -> str:
        return f"{self.amount} {self.unit.value}"

    def as_timedelta(self) -> timedelta:
        """Elapsed time, a day being 24 hours: ack windows. SLA targets count business time."""
        return timedelta(seconds=self.amount * UNIT_SECONDS[self.unit])


class Calendar(Strict):
    """When business time runs: 24x7, or working hours on working days in an IANA zone."""

    timezone: str
    always_open: bool = False
    working_days: list[Weekday] = Field(default_factory=list)
    opens: time | None = None
    closes: time | None = None
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    # Extra closed dates beyond the country's public holidays (company days off).
    closed_dates: list[date] = Field(default_factory=list)
    # Filled when a policy is snapshotted into a ticket: the exact public holidays, by year, the
    # ticket's clock uses, so that a newer `holidays` package never changes a running ticket.
    resolved_holidays: dict[int, list[date]] | None = None

    @field_validator("opens", "closes")
    @classmethod
    def _wall_clock(cls, value: time | None) -> time | None:
        # "07:00+01:00" would fix an offset and break DST; the calendar's zone says it all.
        if value is not None and value.tzinfo is not None:
            raise ValueError("give a wall-clock time like 07:00, without an offset")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)

    @field_validator("holiday_country")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        if value is None:
            return None

        if value not in holidays.list_supported_countries():
            raise ValueError(f"unknown holiday country {value!r} (use an ISO 3166 code like RO)")
        return value

    @model_validator(mode="after")
    def _hours_make_sense(self) -> Calendar:
        # Messages start with the field path inside the calendar; the loader appends it.
        if self.always_open:
            if self.working_days or self.opens or self.closes or self.holiday_country:
                raise ValueError(
                    "always_open: an always-open calendar takes no working_days, opens, closes "
                    "or holiday_country"
                )
            return self
        if not self.working_days:
            raise ValueError("working_days: a working-hours calendar needs at least one day")
        if len(set(self.working_days)) != len(self.working_days):
            raise ValueError("working_days: a day is listed twice")
        if self.opens is None:
            raise ValueError("opens: required on a working-hours calendar")
        if self.closes is None:
            raise ValueError("closes: required on a working-hours calendar")
        if self.opens >= self.closes:
            raise ValueError(
                f"opens: opening time {self.opens:%H:%M} must be before closing time "
                f"{self.closes:%H:%M}"
            )
        if self.holiday_subdivision is not None:
            _check_subdivision(self.holiday_country, self.holiday_subdivision)
        return self

    @property
    def working_day_length(self) -> timedelta:
        """Business time in one working day: 24 h on 24x7, close minus open otherwise."""
        if self.always_open:
            return timedelta(days=1)
        assert self.opens is not None and self.closes is not None
        return _seconds(self.closes) - _seconds(self.opens)


def known_zone(value: str) -> str:
    """`value` if it names an IANA time zone, else a ValueError that says what to write."""
    if value not in _zones():
        raise ValueError(f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


def _check_subdivision(country: str | None, subdivision: str) -> None:
    if country is None:
        raise ValueError("holiday_subdivision: needs a holiday_country")

    known = holidays.list_supported_countries().get(country, [])
    if subdivision not in known:
        raise ValueError(
            f"holiday_subdivision: unknown subdivision {subdivision!r} of {country} "
            f"(known: {', '.join(known) or 'none'})"
        )


def _seconds(t: time) -> timedelta:
    return timedelta(hours=t.hour, minutes=t.minute, seconds=t.second)


# Read at import, outside the workflow sandbox: inside it the zone files are not visible and an
# empty set would make every replayed policy snapshot fail validation.
_ZONES: set[str] | None = available_timezones()


def _zones() -> set[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = available_timezones()
    return _ZONES


def to_business_time(duration: Duration, calendar: Calendar) -> timedelta:
    # Minutes and hours are business minutes and hours; a day is a working day's length.
    if duration.unit is Unit.DAYS:
        return calendar.working_day_length * duration.amount
    return duration.as_timedelta()
