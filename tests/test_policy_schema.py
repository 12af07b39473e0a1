"""The seed policies say what docs/design.md's SLA semantics say, and bad policies fail clearly."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter

import policies.clock
from activities.records.build import policy_hash
from policies.clock import BusinessClock, deadline
from policies.loader import BUILTIN_DIR, PolicyError, load_policy, parse_policy, snapshot
from policies.schema import Calendar, Duration, Policy, Unit, Weekday, to_business_time

PROKURIA = load_policy("prokuria")
CARGOTASK = load_policy("cargotask")
WEEKDAYS = [Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI]


def test_classes_and_defaults() -> None:
    assert list(PROKURIA.classes) == ["critical", "major", "minor"]
    assert list(CARGOTASK.classes) == ["critical", "serious", "standard"]
    assert PROKURIA.class_for(None) == "minor"
    assert CARGOTASK.class_for(None) == "standard"
    # A category may select the class when none is given; a given class always wins.
    assert PROKURIA.class_for(None, "inquiry") == "minor"
    assert PROKURIA.class_for("major", "inquiry") == "major"
    assert PROKURIA.class_for(None, "incident") == "minor"
    for policy in (PROKURIA, CARGOTASK):
        assert policy.categories == ["request", "inquiry", "incident", "enhancement", "complaint"]
    with pytest.raises(KeyError):
        PROKURIA.class_for("serious")


M, H = timedelta(minutes=1), timedelta(hours=1)


@pytest.mark.parametrize(
    ("policy", "cls", "response", "resolution", "emergency"),
    [
        (PROKURIA, "critical", 60 * M, 24 * H, True),
        (PROKURIA, "major", 90 * M, 48 * H, False),
        # 7 days = 7 working days of 11 h (07:00-18:00) = 77 business hours.
        (PROKURIA, "minor", 24 * H, 77 * H, False),
        (CARGOTASK, "critical", 60 * M, None, True),
        (CARGOTASK, "serious", 60 * M, None, True),
        (CARGOTASK, "standard", 8 * H, None, False),
    ],
)
def test_targets_table(
    policy: Policy,
    cls: str,
    response: timedelta,
    resolution: timedelta | None,
    emergency: bool,
) -> None:
    assert policy.target(cls, "response") == response
    assert policy.target(cls, "resolution") == resolution
    assert policy.classes[cls].emergency is emergency
    # Emergency classes run 24x7; the others on working hours.
    assert policy.calendar_for(cls).always_open is emergency


def test_calendars() -> None:
    berlin = PROKURIA.calendar_for("major")
    assert PROKURIA.calendar_for("minor") is berlin
    assert (berlin.timezone, berlin.working_days) == ("Europe/Berlin", WEEKDAYS)
    assert (berlin.opens, berlin.closes, berlin.holiday_country) == (time(7), time(18), "RO")
    assert berlin.working_day_length == 11 * H
    tallinn = CARGOTASK.calendar_for("standard")
    assert (tallinn.timezone, tallinn.working_days) == ("Europe/Tallinn", WEEKDAYS)
    # "x 365": no public holidays off.
    assert (tallinn.opens, tallinn.closes, tallinn.holiday_country) == (time(9), time(17), None)
    assert tallinn.closed_dates == []


def test_days_are_working_day_lengths() -> None:
    week = Duration(amount=7, unit=Unit.DAYS)
    assert to_business_time(week, PROKURIA.calendar_for("minor")) == 77 * H
    assert to_business_time(week, PROKURIA.calendar_for("critical")) == 7 * 24 * H
    assert (
        to_business_time(Duration(amount=2, unit=Unit.DAYS), CARGOTASK.calendars["office_hours"])
        == 16 * H
    )


def test_emergency_lines_are_e164() -> None:
    assert PROKURIA.emergency_line == "+40724011885"
    assert CARGOTASK.emergency_line == "+3725019559"
    assert PROKURIA.responders["ana"].phone == "+40721555101"


def test_pin_hash_is_loaded_but_never_dumped() -> None:
    assert PROKURIA.responders["ana"].pin_hash is not None
    for dumped in (
        PROKURIA.model_dump_json(),
        str(PROKURIA.model_dump()),
        str(snapshot(PROKURIA, datetime(2026, 1, 1, tzinfo=UTC)).model_dump(mode="json")),
    ):
        assert "pin_hash" not in dumped
        assert "pbkdf2" not in dumped


def test_snapshot_resolves_holidays_and_survives_a_history_round_trip() -> None:
    snap = snapshot(PROKURIA, datetime(2026, 11, 27, tzinfo=UTC))
    resolved = snap.calendars["working_hours"].resolved_holidays
    assert resolved is not None and set(resolved) == set(range(2026, 2037))
    assert date(2026, 11, 30) in resolved[2026] and date(2026, 12, 1) in resolved[2026]
    # The 24x7 calendar has no holidays to resolve; the original policy is untouched.
    assert snap.calendars["always"].resolved_holidays is None
    assert PROKURIA.calendars["working_hours"].resolved_holidays is None
    # Through Temporal's pydantic converter, as a workflow input is stored in history.
    payloads = pydantic_data_converter.payload_converter.to_payloads([snap])
    (back,) = pydantic_data_converter.payload_converter.from_payloads(payloads, [Policy])
    assert back == snap.model_copy(
        update={
            "responders": {
                k: r.model_copy(update={"pin_hash": None}) for k, r in snap.responders.items()
            },
            # Excluded from dumps: intake turns it into the ticket's outbound plan instead.
            "outbound": type(snap.outbound)(),
        }
    )


def test_snapshot_is_immune_to_later_holiday_package_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened = datetime(2026, 11, 27, 17, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    snap = snapshot(PROKURIA, opened)
    # A later `holidays` release (or policy edit) that drops St Andrew's and National Day:
    monkeypatch.setattr(policies.clock, "holidays_of", lambda calendar, year: [])
    fresh = load_policy("prokuria")
    target = timedelta(minutes=90)
    assert deadline(fresh.calendar_for("major"), opened, target) == datetime(
        2026, 11, 30, 7, 30, tzinfo=ZoneInfo("Europe/Berlin")
    )
    assert deadline(snap.calendar_for("major"), opened, target) == datetime(
        2026, 12, 2, 7, 30, tzinfo=ZoneInfo("Europe/Berlin")
    )


SEED = (BUILTIN_DIR / "prokuria.yaml").read_text(encoding="utf-8")
STEP = "- {roles: [secondary], via: [sms, voice], wait: {amount: 10"


@pytest.mark.parametrize(
    ("old", "new", "field", "problem"),
    [
        ("timezone: Europe/Berlin\n    working", "timezone: Europe/Berlinn\n    working",
         "calendars.working_hours.timezone", "unknown time zone 'Europe/Berlinn'"),
        ('"+40 721 555 101"', '"+40 12"', "responders.ana.phone", "invalid phone number '+40 12'"),
        ('"+40 724 011 885"', '"call us"', "emergency_line", "invalid phone number 'call us'"),
        ('opens: "07:00"', 'opens: "18:00"', "calendars.working_hours.opens",
         "opening time 18:00 must be before closing time 18:00"),
        ("response: {amount: 90", "response: {amount: 0", "classes.major.response.amount",
         "greater than 0"),
        ("response: {amount: 90", "response: {amount: -5", "classes.major.response.amount",
         "greater than 0"),
        ("{amount: 90, unit: minutes}", "{amount: 90, unit: weeks}", "classes.major.response.unit",
         "'minutes', 'hours' or 'days'"),
        (STEP, STEP.replace("secondary", "tertiary"), "ladders.critical.steps[2].roles[0]",
         "unknown role 'tertiary'"),
        ("  minor:\n    description", "  major:\n    description", "classes.major",
         "duplicate key 'major' (line 45; first at line 39)"),
        ("classes:", "classes: [oops", "line 17, column 10", "malformed YAML"),
        ("holiday_country: RO", "holiday_country: XX", "calendars.working_hours.holiday_country",
         "unknown holiday country 'XX'"),
        ("default_class: minor", "default_class: trivial", "default_class",
         "unknown class 'trivial'"),
        ("ladder: standard\n  minor", "ladder: standrd\n  minor", "classes.major.ladder",
         "unknown ladder 'standrd'"),
        ("support_email:", "suport_email: x@y.z\nsupport_email:", "suport_email",
         "Extra inputs are not permitted"),
        ("holiday_country: RO", "holiday_country: RO\n    closed_dates: [2026-02-30]", "",
         "malformed YAML: day is out of range for month"),
    ],
)  # fmt: skip
def test_bad_policies_name_field_and_problem(old: str, new: str, field: str, problem: str) -> None:
    assert old in SEED
    with pytest.raises(PolicyError) as caught:
        parse_policy(SEED.replace(old, new, 1), "bad.yaml")
    found = [(p.file, p.field) for p in caught.value.problems if problem in p.message]
    assert found == [("bad.yaml", field)], caught.value.problems
    assert "\n" not in str(caught.value.problems[0])


@pytest.mark.parametrize(
    ("section", "field", "problem"),
    [
        ("reports: {recipients: [cs@x.com, nope]}", "reports.recipients[1]",
         "'nope' is not an email address"),
        ("reports: {recipients: []}", "reports.recipients", "at least 1 item"),
        ("reports: {recipients: [a@x.com, A@x.com]}", "reports.recipients",
         "an address is listed twice"),
        ("reports: {recipients: [a@x.com], calendar: office}", "reports.calendar",
         "unknown calendar 'office'"),
        ("reports: {to: [a@x.com]}", "reports.to", "Extra inputs are not permitted"),
    ],
)  # fmt: skip
def test_bad_report_sections_name_field_and_problem(section: str, field: str, problem: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(f"{SEED}\n{section}\n", "bad.yaml")
    found = [(p.file, p.field) for p in caught.value.problems if problem in p.message]
    assert found == [("bad.yaml", field)], caught.value.problems
    assert "\n" not in str(caught.value.problems[0])


def test_report_recipients_stay_out_of_dumps_snapshots_and_the_policy_hash() -> None:

    with_reports = parse_policy(
        f"{SEED}\nreports: {{recipients: [cs@x.com], calendar: always}}\n", "p.yaml"
    )
    assert with_reports.reports is not None and with_reports.reports.recipients == ["cs@x.com"]
    assert with_reports.report_calendar() is with_reports.calendars["always"]
    assert PROKURIA.report_calendar() is PROKURIA.calendars["working_hours"]  # minor's
    assert "reports" not in with_reports.model_dump()
    assert policy_hash(with_reports) == policy_hash(PROKURIA)


@pytest.mark.parametrize("text", ["", "- just\n- a list\n", "42\n", "a: 1\n---\nb: 2\n"])
def test_files_that_are_not_a_policy_mapping(text: str) -> None:
    with pytest.raises(PolicyError, match="malformed"):
        parse_policy(text, "bad.yaml")


def test_missing_file_and_unknown_tenant(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="no such file"):
        load_policy(str(tmp_path / "nope.yaml"))
    with pytest.raises(PolicyError, match=r"unknown policy 'acme' \(known: cargotask, prokuria\)"):
        load_policy("acme")
    # A tenant directory of its own is honoured.
    (tmp_path / "acme.yml").write_text(SEED.replace("tenant: prokuria", "tenant: acme"))
    assert load_policy("acme", tmp_path).tenant == "acme"


def test_a_calendar_must_have_hours_and_days() -> None:
    with pytest.raises(ValueError, match="working_days: a working-hours calendar needs"):
        Calendar(timezone="UTC", opens=time(9), closes=time(17))
    with pytest.raises(ValueError, match="closes: required"):
        Calendar(timezone="UTC", working_days=[Weekday.MON], opens=time(9))
    with pytest.raises(ValueError, match="always_open: an always-open calendar takes no"):
        Calendar(timezone="UTC", always_open=True, opens=time(9))


def test_a_snapshot_clock_never_asks_the_holidays_package(monkeypatch: pytest.MonkeyPatch) -> None:
    # Workflow code may not call `holidays` (sandbox, and a newer package must not change a
    # running ticket): past its snapshot's years a ticket's calendar counts weekends only.
    snap = snapshot(PROKURIA, datetime(2026, 1, 1, tzinfo=UTC), years_ahead=0)

    def refuse(*_: object) -> list[date]:
        raise AssertionError("the holidays package was asked")

    monkeypatch.setattr("policies.clock.holidays_of", refuse)
    clock = BusinessClock(snap.calendars["working_hours"])
    assert not clock.is_working_day(date(2026, 1, 1))  # New Year, from the snapshot
    assert clock.is_working_day(date(2027, 1, 1))  # a Friday past the snapshot's years


def test_opening_hours_with_an_offset_are_a_clear_error() -> None:
    # Found by fuzzing: "07:00+01:00" against a plain "18:00" raised a TypeError (traceback).
    text = (
        (BUILTIN_DIR / "prokuria.yaml")
        .read_text()
        .replace('opens: "07:00"', 'opens: "07:00+01:00"')
    )
    with pytest.raises(PolicyError) as err:
        parse_policy(text, "p.yaml")
    assert "calendars.working_hours.opens" in str(err.value)
    assert "without an offset" in str(err.value)
