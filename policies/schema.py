"""The SLA policy schema: what a tenant's policy file may say, validated by pydantic."""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    field_validator,
    model_validator,
)

_NAME = r"^[a-z][a-z0-9_-]{0,62}$"
Name = Annotated[str, Field(pattern=_NAME)]


class Strict(BaseModel):
    """Unknown keys are errors: a typo in a policy must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Unit(StrEnum):
    # Seconds are for test policies (end-to-end runs that breach in seconds), not real SLAs.
    SECONDS = "seconds"
    MINUTES = "minutes"
    HOURS = "hours"
    DAYS = "days"


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


class Channel(StrEnum):
    SMS = "sms"
    VOICE = "voice"
    EMAIL = "email"


class Duration(Strict):
    """A target or wait: an amount of business minutes, hours or working days."""

    amount: PositiveInt
    unit: Unit

    def __str__(self) -> str:
        return f"{self.amount} {self.unit.value}"


def e164(value: str) -> str:
    """Parse a phone number written for people and return it as E.164, or raise ValueError."""
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        # The library prefixes its messages with an error code: "(1) The string supplied ...".
        reason = re.sub(r"^\(\d+\)\s*", "", str(exc)).rstrip(".")
        reason = reason[:1].lower() + reason[1:]
        raise ValueError(f"invalid phone number {value!r}: {reason}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"invalid phone number {value!r}: not a valid number in its country")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


PhoneNumber = Annotated[str, Field(min_length=3)]


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
        if value not in _zones():
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)")
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("holiday_country")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        if value is None:
            return None
        import holidays

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


def _check_subdivision(country: str | None, subdivision: str) -> None:
    if country is None:
        raise ValueError("holiday_subdivision: needs a holiday_country")
    import holidays

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


class Responder(Strict):
    """A person who can be paged. Example people in the shipped policies say so in `name`."""

    name: str = Field(min_length=1)
    phone: PhoneNumber
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    # A PIN hash ("pbkdf2_sha256$iterations$salt_hex$hash_hex") checked before a call reads out
    # details. Excluded from dumps, so it never reaches a ticket's snapshot or history.
    pin_hash: str | None = Field(default=None, exclude=True, pattern=r"^pbkdf2_sha256\$\d+\$")

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str) -> str:
        return e164(value)


class LadderStep(Strict):
    """One rung: whom, how, and how long to wait for an acknowledgement before the next."""

    roles: list[Name] = Field(default_factory=list)
    people: list[Name] = Field(default_factory=list)
    emergency_line: bool = False
    via: list[Channel] = Field(min_length=1)
    wait: Duration

    @model_validator(mode="after")
    def _someone(self) -> LadderStep:
        if not (self.roles or self.people or self.emergency_line):
            raise ValueError("a step must name at least one role, person or the emergency_line")
        if len(set(self.via)) != len(self.via):
            raise ValueError("via: a channel is listed twice")
        return self


class Ladder(Strict):
    steps: list[LadderStep] = Field(min_length=1)
    # How many more times the whole ladder runs after its last step if nobody acknowledged.
    repeat: int = Field(default=0, ge=0, le=20)


class ServiceClass(Strict):
    """A severity class: its targets, the calendar they count in, and its ladder."""

    description: str = ""
    calendar: Name
    response: Duration | None = None
    resolution: Duration | None = None
    ladder: Name
    # Emergency classes page people at any hour; others only inside their calendar's hours.
    emergency: bool = False


class Warnings(Strict):
    """Emails to a team before a target is breached, at these percentages of the target."""

    at_percent: list[Annotated[int, Field(gt=0, lt=100)]] = Field(default_factory=list)
    email_roles: list[Name] = Field(default_factory=list)

    @field_validator("at_percent")
    @classmethod
    def _sorted_unique(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("a percentage is listed twice")
        return sorted(value)


class Policy(Strict):
    """A tenant's SLA policy."""

    tenant: Name
    name: str = Field(min_length=1)
    support_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    emergency_line: PhoneNumber
    default_class: Name
    categories: list[Name] = Field(default_factory=list)
    # A category may select the class when intake gives none.
    category_classes: dict[Name, Name] = Field(default_factory=dict)
    calendars: dict[Name, Calendar] = Field(min_length=1)
    classes: dict[Name, ServiceClass] = Field(min_length=1)
    warnings: Warnings = Field(default_factory=Warnings)
    roles: dict[Name, list[Name]] = Field(default_factory=dict)
    responders: dict[Name, Responder] = Field(default_factory=dict)
    ladders: dict[Name, Ladder] = Field(min_length=1)

    @field_validator("emergency_line")
    @classmethod
    def _e164(cls, value: str) -> str:
        return e164(value)

    @model_validator(mode="after")
    def _references(self) -> Policy:
        errors: list[str] = []
        if self.default_class not in self.classes:
            errors.append(f"default_class: unknown class {self.default_class!r}")
        for cat, cls_name in self.category_classes.items():
            if cat not in self.categories:
                errors.append(f"category_classes.{cat}: unknown category {cat!r}")
            if cls_name not in self.classes:
                errors.append(f"category_classes.{cat}: unknown class {cls_name!r}")
        for name, cls in self.classes.items():
            if cls.calendar not in self.calendars:
                errors.append(f"classes.{name}.calendar: unknown calendar {cls.calendar!r}")
            if cls.ladder not in self.ladders:
                errors.append(f"classes.{name}.ladder: unknown ladder {cls.ladder!r}")
        for role, members in self.roles.items():
            for i, person in enumerate(members):
                if person not in self.responders:
                    errors.append(f"roles.{role}[{i}]: unknown responder {person!r}")
        for i, role in enumerate(self.warnings.email_roles):
            if role not in self.roles:
                errors.append(f"warnings.email_roles[{i}]: unknown role {role!r}")
        for lname, ladder in self.ladders.items():
            for s, step in enumerate(ladder.steps):
                where = f"ladders.{lname}.steps[{s}]"
                for i, role in enumerate(step.roles):
                    if role not in self.roles:
                        known = ", ".join(sorted(self.roles)) or "none"
                        errors.append(f"{where}.roles[{i}]: unknown role {role!r} (known: {known})")
                for i, person in enumerate(step.people):
                    if person not in self.responders:
                        errors.append(f"{where}.people[{i}]: unknown responder {person!r}")
        if errors:
            raise ValueError("\n".join(errors))
        return self

    def class_for(self, severity: str | None, category: str | None = None) -> str:
        """The class a ticket runs under: the one given, else its category's, else the default."""
        if severity:
            if severity not in self.classes:
                raise KeyError(severity)
            return severity
        if category and category in self.category_classes:
            return self.category_classes[category]
        return self.default_class

    def calendar_for(self, severity: str) -> Calendar:
        return self.calendars[self.classes[severity].calendar]

    def target(self, severity: str, kind: str) -> timedelta | None:
        """A class's response or resolution target as business time (days = working days)."""
        cls = self.classes[severity]
        duration: Duration | None = getattr(cls, kind)
        if duration is None:
            return None
        return to_business_time(duration, self.calendars[cls.calendar])


def to_business_time(duration: Duration, calendar: Calendar) -> timedelta:
    if duration.unit is Unit.SECONDS:
        return timedelta(seconds=duration.amount)
    if duration.unit is Unit.MINUTES:
        return timedelta(minutes=duration.amount)
    if duration.unit is Unit.HOURS:
        return timedelta(hours=duration.amount)
    return calendar.working_day_length * duration.amount
