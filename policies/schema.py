"""The SLA policy schema: what a tenant's policy file may say, validated by pydantic."""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    Field,
    field_validator,
    model_validator,
)

from policies.calendar import (
    Calendar,
    Duration,
    Name,
    Strict,
    Unit,
    Weekday,
    to_business_time,
)
from policies.class_rules import ClassRule
from policies.contacts import EMAIL, EmailAddress, e164
from policies.helpdesk import Helpdesk
from policies.languages import LANGUAGES
from policies.outbound import Outbound
from policies.schedules import Schedule

# Re-exported: the schema is the one place callers import policy types from.
__all__ = [
    "Calendar",
    "Channel",
    "Duration",
    "Grouping",
    "Ladder",
    "LadderStep",
    "Name",
    "Policy",
    "Reports",
    "Responder",
    "Schedule",
    "ServiceClass",
    "Strict",
    "Unit",
    "Warnings",
    "Weekday",
    "e164",
    "to_business_time",
]


class Channel(StrEnum):
    SMS = "sms"
    VOICE = "voice"
    EMAIL = "email"


PhoneNumber = Annotated[str, Field(min_length=3)]


class Responder(Strict):
    """A person who can be paged. Example people in the shipped policies say so in `name`."""

    name: str = Field(min_length=1)
    phone: PhoneNumber
    email: EmailAddress
    # A PIN hash ("pbkdf2_sha256$iterations$salt_hex$hash_hex") checked before a call reads out
    # details. Excluded from dumps, so it never reaches a ticket's snapshot or history.
    pin_hash: str | None = Field(default=None, exclude=True, pattern=r"^pbkdf2_sha256\$\d+\$")
    # The language of this person's SMS and call text (policies/languages.py);
    # English when not given.
    language: str | None = None

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str) -> str:
        return e164(value)

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str | None) -> str | None:
        if value is not None and value not in LANGUAGES:
            raise ValueError(f"unknown language {value!r} (use {', '.join(LANGUAGES)})")
        return value


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


def _address(value: str) -> str:
    if not EMAIL.match(value):
        raise ValueError(f"{value!r} is not an email address")
    return value


class Reports(Strict):
    """Monthly delivery of the compliance report (docs/reports.md, "Monthly delivery")."""

    recipients: list[Annotated[str, AfterValidator(_address)]] = Field(min_length=1)
    # The calendar whose first working day of the month the report goes out on; the default
    # class's calendar when not given.
    calendar: Name | None = None

    @field_validator("recipients")
    @classmethod
    def _once_each(cls, value: list[str]) -> list[str]:
        if len({a.lower() for a in value}) != len(value):
            raise ValueError("an address is listed twice")
        return value


# The longest grouping window a policy may set: a digest later than this is a late page.
MAX_GROUPING_WINDOW = timedelta(hours=1)


class Grouping(Strict):
    """Outage grouping: a tenant's pages to one number within `window` of the first one are
    folded into one digest sent when the window ends (the first page is never delayed)."""

    enabled: bool = True
    # Real time, like a ladder wait: seconds (test policies), minutes or hours.
    window: Duration = Field(default_factory=lambda: Duration(amount=2, unit=Unit.MINUTES))

    @field_validator("window")
    @classmethod
    def _short(cls, value: Duration) -> Duration:
        if value.unit is Unit.DAYS:
            raise ValueError("a grouping window is real time: use seconds, minutes or hours")
        if grouping_seconds(value) > MAX_GROUPING_WINDOW.total_seconds():
            raise ValueError(f"{value} is longer than the 1 hour a digest may wait")
        return value

    def seconds(self) -> int:
        """The window in seconds, 0 when grouping is off."""
        return grouping_seconds(self.window) if self.enabled else 0


def grouping_seconds(window: Duration) -> int:
    per = {Unit.SECONDS: 1, Unit.MINUTES: 60, Unit.HOURS: 3600, Unit.DAYS: 86400}[window.unit]
    return window.amount * per


class Policy(Strict):
    """A tenant's SLA policy."""

    tenant: Name
    name: str = Field(min_length=1)
    support_email: EmailAddress
    emergency_line: PhoneNumber
    # The day these terms took effect (YYYY-MM-DD), recorded with every ticket's SLA record so a
    # report says which terms applied. Optional: a file without it is still valid.
    effective: date | None = None
    default_class: Name
    categories: list[Name] = Field(default_factory=list)
    # A category may select the class when intake gives none.
    category_classes: dict[Name, Name] = Field(default_factory=dict)
    calendars: dict[Name, Calendar] = Field(min_length=1)
    classes: dict[Name, ServiceClass] = Field(min_length=1)
    warnings: Warnings = Field(default_factory=Warnings)
    # A role is a fixed list of responders here, or an on-call schedule under `schedules`
    # (policies/schedules.py). Two sections, not one: every reader of `roles` (the ticket's
    # snapshot, the workflows) keeps getting a list, and a snapshot turns schedules into lists.
    roles: dict[Name, list[Name]] = Field(default_factory=dict)
    schedules: dict[Name, Schedule] = Field(default_factory=dict)
    responders: dict[Name, Responder] = Field(default_factory=dict)
    ladders: dict[Name, Ladder] = Field(min_length=1)
    # Outage grouping of pages (docs/grouping.md): on by default, two-minute window.
    grouping: Grouping = Field(default_factory=Grouping)
    # The class of a ticket intake opens without one, from its channel, subject, language,
    # customer or category (policies/class_rules.py); first match wins. Read by intake when it
    # opens a ticket, so it is excluded from dumps like the help-desk mapping below.
    class_rules: list[ClassRule] = Field(default_factory=list, exclude=True)
    # The help-desk adapters' mapping (policies/helpdesk.py). Excluded from dumps: the API
    # reads it, a ticket's snapshot and history never carry it.
    helpdesk: Helpdesk = Field(default_factory=Helpdesk, exclude=True)
    # Who receives the monthly report. Not an SLA term: excluded from dumps, so it is neither
    # in a ticket's policy snapshot nor in the policy hash its SLA record carries.
    reports: Reports | None = Field(default=None, exclude=True)
    # Webhooks, help-desk write-back and customer notices (policies/outbound.py). Excluded from
    # dumps: intake turns it into the ticket's outbound plan (slawatch/outbound.py) at opening.
    outbound: Outbound = Field(default_factory=Outbound, exclude=True)

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
        for role, schedule in self.schedules.items():
            if role in self.roles:
                errors.append(f"schedules.{role}: role {role!r} is also a fixed list in roles")
            for n, layer in enumerate(schedule.layers):
                for i, person in enumerate(layer.participants):
                    if person not in self.responders:
                        errors.append(
                            f"schedules.{role}.layers[{n}].participants[{i}]: "
                            f"unknown responder {person!r}"
                        )
        for role, members in self.roles.items():
            for i, person in enumerate(members):
                if person not in self.responders:
                    errors.append(f"roles.{role}[{i}]: unknown responder {person!r}")
        for i, role in enumerate(self.warnings.email_roles):
            if role not in self.role_names():
                errors.append(f"warnings.email_roles[{i}]: unknown role {role!r}")
        report_calendar = self.reports.calendar if self.reports is not None else None
        if report_calendar is not None and report_calendar not in self.calendars:
            errors.append(f"reports.calendar: unknown calendar {report_calendar!r}")
        for lname, ladder in self.ladders.items():
            for s, step in enumerate(ladder.steps):
                where = f"ladders.{lname}.steps[{s}]"
                for i, role in enumerate(step.roles):
                    if role not in self.role_names():
                        known = ", ".join(self.role_names()) or "none"
                        errors.append(f"{where}.roles[{i}]: unknown role {role!r} (known: {known})")
                for i, person in enumerate(step.people):
                    if person not in self.responders:
                        errors.append(f"{where}.people[{i}]: unknown responder {person!r}")
        for i, rule in enumerate(self.class_rules):
            if rule.class_ not in self.classes:
                known = ", ".join(sorted(self.classes))
                errors.append(
                    f"class_rules[{i}].class: unknown class {rule.class_!r} (known: {known})"
                )
            if rule.category is not None and rule.category not in self.categories:
                errors.append(f"class_rules[{i}].category: unknown category {rule.category!r}")
        errors.extend(self.helpdesk.problems(set(self.classes)))
        errors.extend(self.outbound.problems())
        if errors:
            raise ValueError("\n".join(errors))
        return self

    def role_names(self) -> list[str]:
        """Every role, fixed list or schedule, sorted."""
        return sorted({*self.roles, *self.schedules})

    def class_for(self, severity: str | None, category: str | None = None) -> str:
        """The class a ticket runs under: the one given, else its category's, else the default."""
        if severity:
            if severity not in self.classes:
                raise KeyError(severity)
            return severity
        if category and category in self.category_classes:
            return self.category_classes[category]
        return self.default_class

    def report_calendar(self) -> Calendar:
        """The calendar whose first working day of a month the monthly report goes out on."""
        name = self.reports.calendar if self.reports is not None else None
        return self.calendars[name or self.classes[self.default_class].calendar]

    def calendar_for(self, severity: str) -> Calendar:
        return self.calendars[self.classes[severity].calendar]

    def target(self, severity: str, kind: str) -> timedelta | None:
        """A class's response or resolution target as business time (days = working days)."""
        cls = self.classes[severity]
        duration: Duration | None = getattr(cls, kind)
        if duration is None:
            return None
        return to_business_time(duration, self.calendars[cls.calendar])
