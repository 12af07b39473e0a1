"""Compact snapshots: a ticket and each escalation carry only what they need, and the clock
they give is the clock the full policy gives."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from benchmarks import snapshot_sizes
from policies.clock import clock_for
from policies.loader import load_policy, snapshot
from policies.schema import Policy
from policies.snapshot import ladder_snapshot, ticket_snapshot

BERLIN = ZoneInfo("Europe/Berlin")
# Two days before Christmas: Prokuria's 7-working-day minor target runs into the new year,
# across Romanian holidays on 25-26 December and 1-2 January.
DEC_23 = datetime(2026, 12, 23, 10, 0, tzinfo=BERLIN)


def test_a_ticket_snapshot_resolves_holidays_for_two_years_not_eleven() -> None:
    policy = load_policy("prokuria")
    compact = ticket_snapshot(policy, DEC_23)
    ten_years = snapshot(policy, DEC_23)
    workdays = compact.calendars["working_hours"]
    assert sorted(workdays.resolved_holidays or {}) == [2026, 2027]
    assert len(ten_years.calendars["working_hours"].resolved_holidays or {}) == 11
    assert set(compact.classes) == set(policy.classes)  # a ticket may be reclassified
    size = len(compact.model_dump_json())
    assert size < len(ten_years.model_dump_json()) * 0.7, size


def test_the_compact_snapshot_gives_the_same_deadlines_across_the_new_year() -> None:
    policy = load_policy("prokuria")
    full, compact = snapshot(policy, DEC_23), ticket_snapshot(policy, DEC_23)
    for severity in policy.classes:
        for kind in ("response", "resolution"):
            target = full.target(severity, kind)
            assert target is not None
            want = clock_for(full.calendar_for(severity)).deadline(DEC_23, target)
            got = clock_for(compact.calendar_for(severity)).deadline(DEC_23, target)
            assert got == want, (severity, kind)
    # The minor resolution target really does cross both holiday seasons.
    minor = full.target("minor", "resolution")
    assert minor is not None
    due = clock_for(full.calendar_for("minor")).deadline(DEC_23, minor)
    assert due.date() > datetime(2027, 1, 2).date()


def test_an_escalation_gets_its_ladder_and_only_the_people_it_can_page() -> None:
    policy = ticket_snapshot(load_policy("prokuria"), DEC_23)
    child = ladder_snapshot(policy, "major")
    assert list(child.classes) == ["major"] and child.default_class == "major"
    assert list(child.ladders) == [policy.classes["major"].ladder]
    assert list(child.calendars) == [policy.classes["major"].calendar]
    # The ladder pages primary, secondary and the duty manager; no warning team.
    assert set(child.roles) == {"primary", "secondary", "duty_manager"}
    assert set(child.responders) == {"ana", "bogdan", "carmen"}
    # It is a valid policy (the child's input is validated when it is decoded), without PINs.
    dumped = json.loads(child.model_dump_json())
    assert Policy.model_validate(dumped).model_dump() == child.model_dump()
    assert "pin_hash" not in json.dumps(dumped)
    assert len(child.model_dump_json()) < len(policy.model_dump_json()) * 0.7


def test_a_ladder_snapshot_keeps_the_support_hours_of_its_class() -> None:
    policy = ticket_snapshot(load_policy("prokuria"), DEC_23)
    child = ladder_snapshot(policy, "minor")
    saturday = datetime(2026, 12, 26, 12, 0, tzinfo=BERLIN)
    opens = clock_for(child.calendar_for("minor")).next_open(saturday)
    assert opens == clock_for(policy.calendar_for("minor")).next_open(saturday)
    assert opens - saturday > timedelta(days=1)


def test_the_snapshot_sizes_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    snapshot_sizes.main(DEC_23)
    lines = capsys.readouterr().out.splitlines()
    prokuria = [line.split() for line in lines if line.startswith("prokuria")]
    assert len(prokuria) == 3
    # ticket before > ticket now, escalation before > escalation now, for every class
    assert all(int(r[2]) > int(r[3]) and int(r[4]) > int(r[5]) for r in prokuria), prokuria
