"""On-call schedules in policy files: validation, rotations across DST, layers, overrides."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from policies.loader import BUILTIN_DIR, PolicyError, load_policy, parse_policy, snapshot
from policies.oncall import Override, UnknownRole, localize, shifts, who
from policies.schema import Policy, Schedule

SEED = (BUILTIN_DIR / "cargotask.yaml").read_text(encoding="utf-8")
TALLINN = ZoneInfo("Europe/Tallinn")
FIXED = "  primary: [kadri]\n"


def with_primary(schedule: str) -> str:
    assert FIXED in SEED
    return SEED.replace(FIXED, "") + "schedules:\n  primary:\n" + schedule


def policy(schedule: str) -> Policy:
    return parse_policy(with_primary(schedule), "cargotask.yaml")


WEEKLY = """    layers:
      - name: weekly
        participants: [kadri, mart]
        rotation: weekly
        handoff: "09:00"
        timezone: Europe/Tallinn
        start: 2026-03-02
"""
NIGHTS = """      - name: nights
        participants: [liis]
        rotation: daily
        handoff: "18:00"
        timezone: Europe/Tallinn
        start: 2026-03-02
        restrictions: [{days: [mon, tue, wed, thu, fri], starts: "18:00", ends: "07:00"}]
"""


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TALLINN)


def people(p: Policy, at: datetime, overrides: tuple[Override, ...] = ()) -> list[str]:
    return who(p, "primary", at, overrides).people


def test_a_fixed_list_stays_valid_and_is_on_call_at_every_instant() -> None:
    seed = load_policy("cargotask")
    assert seed.roles["primary"] == ["kadri"]
    answer = who(seed, "team", datetime(2026, 12, 24, 3, tzinfo=UTC))
    assert (answer.people, answer.layer, answer.why) == (
        ["kadri", "mart", "liis"],
        None,
        "fixed list",
    )
    with pytest.raises(UnknownRole, match="unknown role 'oncall' for cargotask"):
        who(seed, "oncall", datetime(2026, 12, 24, tzinfo=UTC))


def test_a_weekly_handoff_stays_at_0900_local_across_both_dst_changes() -> None:
    p = policy(WEEKLY)
    assert isinstance(p.schedules["primary"], Schedule) and "primary" not in p.roles
    # Mondays from March (EET, +02) over 29 March into summer time (EEST, +03) and back after
    # 25 October: every handoff is at 09:00 on the wall clock, whatever the offset.
    mondays = [local(2026, 3, 23), local(2026, 3, 30), local(2026, 4, 6)]
    mondays += [local(2026, 10, 19), local(2026, 10, 26), local(2026, 11, 2)]
    for monday in mondays:
        before = localize(monday.replace(tzinfo=None, hour=8, minute=59), TALLINN)
        at = localize(monday.replace(tzinfo=None, hour=9), TALLINN)
        assert people(p, before) != people(p, at), monday
        assert at.astimezone(TALLINN).hour == 9
    assert local(2026, 3, 30, 9).utcoffset() == timedelta(hours=3)
    assert people(p, local(2026, 3, 30, 9)) == ["kadri"]  # fifth week: kadri again
    # Exactly seven local days, so 167 hours of elapsed time across the spring change.
    listed = shifts(p, "primary", local(2026, 3, 23, 8), local(2026, 4, 1))
    edges = [s.starts_at for s in listed]
    assert edges[2] - edges[1] == timedelta(hours=167)


def test_later_layers_win_where_they_are_active_and_windows_run_past_midnight() -> None:
    p = policy(WEEKLY + NIGHTS)
    assert people(p, local(2026, 3, 4, 12)) == ["kadri"]  # a weekday, business hours
    night = who(p, "primary", local(2026, 3, 4, 23))
    assert (night.people, night.layer) == (["liis"], "nights")
    assert people(p, local(2026, 3, 5, 6, 59)) == ["liis"]  # Wednesday's window, Thursday 06:59
    assert people(p, local(2026, 3, 5, 7)) == ["kadri"]
    assert people(p, local(2026, 3, 7, 6, 59)) == ["liis"]  # Friday night runs into Saturday
    assert people(p, local(2026, 3, 7, 23)) == ["kadri"]  # Saturday is not in the window


def test_handoffs_at_clock_times_dst_skips_or_repeats() -> None:
    daily = WEEKLY.replace("rotation: weekly", "rotation: daily").replace('"09:00"', '"03:30"')
    p = policy(daily)
    # 29 March 2026: Tallinn's clocks jump from 03:00 to 04:00; the handoff is at the jump.
    jump = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert people(p, jump - timedelta(seconds=1)) != people(p, jump)
    # 25 October 2026: 03:00-04:00 happens twice; the handoff is at the first 03:30.
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert first.astimezone(TALLINN).strftime("%H:%M%z") == "03:30+0300"
    assert people(p, first - timedelta(seconds=1)) != people(p, first)
    assert people(p, first) == people(p, first + timedelta(hours=1))  # not again at the second


def test_hour_rotations_follow_the_local_clock() -> None:
    eights = WEEKLY.replace("rotation: weekly", "rotation: 8 hours").replace('"09:00"', '"00:00"')
    eights = eights.replace("[kadri, mart]", "[kadri, mart, liis]")
    p = policy(eights)
    assert [people(p, local(2026, 3, 2, h))[0] for h in (0, 8, 16)] == ["kadri", "mart", "liis"]
    assert people(p, local(2026, 3, 3, 8)) == ["mart"]
    # After the spring change the shifts still start at 00:00, 08:00 and 16:00 local.
    after = [
        s.starts_at.astimezone(TALLINN).hour
        for s in shifts(p, "primary", local(2026, 4, 1), local(2026, 4, 2))
    ]
    assert after == [0, 8, 16]


def test_nobody_is_on_call_before_a_schedule_starts_or_outside_every_window() -> None:
    p = policy("    layers:\n" + NIGHTS)
    assert who(p, "primary", local(2026, 3, 1, 23)).why == "no layer is active"
    assert people(p, local(2026, 3, 4, 12)) == []
    assert people(p, local(2026, 3, 4, 19)) == ["liis"]


def override(**fields: object) -> Override:
    base: dict[str, object] = {
        "id": "ovr_1",
        "tenant": "cargotask",
        "role": "primary",
        "person": "liis",
        "starts_at": local(2026, 3, 4, 18),
        "ends_at": local(2026, 3, 5, 9),
        "created_at": local(2026, 3, 1),
    }
    return Override.model_validate(base | fields)


def test_overrides_replace_one_person_or_the_whole_role_while_they_last() -> None:
    p = policy(WEEKLY)
    instead = override(replaces="kadri")
    answer = who(p, "primary", local(2026, 3, 4, 20), (instead,))
    assert (answer.people, answer.overrides) == (["liis"], ["ovr_1"])
    assert answer.why == "layer weekly, shift 1; override ovr_1: liis instead of kadri"
    assert people(p, local(2026, 3, 5, 9), (instead,)) == ["kadri"]  # ended
    assert people(p, local(2026, 3, 4, 17, 59), (instead,)) == ["kadri"]  # not yet
    # Covering for someone who is not on call changes nothing and is not cited.
    idle = who(p, "primary", local(2026, 3, 4, 20), (override(replaces="mart"),))
    assert (idle.people, idle.overrides) == (["kadri"], [])
    # On a fixed list too; the later-created override acts last.
    team = load_policy("cargotask")
    both = (
        override(id="ovr_2", role="team", person="kadri", created_at=local(2026, 3, 2)),
        override(id="ovr_1", role="team", person="mart", replaces="liis"),
    )
    answer = who(team, "team", local(2026, 3, 4, 20), both)
    assert (answer.people, answer.overrides) == (["kadri"], ["ovr_1", "ovr_2"])


def test_shifts_are_maximal_intervals_that_agree_with_who() -> None:
    p = policy(WEEKLY + NIGHTS)
    ovr = override(replaces="liis", person="mart")
    listed = shifts(p, "primary", local(2026, 3, 2), local(2026, 3, 9), [ovr])
    assert listed[0].starts_at == local(2026, 3, 2)
    assert listed[-1].ends_at == local(2026, 3, 9)
    for a, b in itertools.pairwise(listed):
        assert a.ends_at == b.starts_at and (a.people, a.overrides) != (b.people, b.overrides)
    for s in listed:
        assert who(p, "primary", s.starts_at, [ovr]).people == s.people
        assert who(p, "primary", s.ends_at - timedelta(seconds=1), [ovr]).people == s.people
    wednesday_night = [s for s in listed if s.overrides == ["ovr_1"]]
    assert len(wednesday_night) == 1 and wednesday_night[0].people == ["mart"]
    assert wednesday_night[0].ends_at == local(2026, 3, 5, 7)  # the night window's end


def test_a_ticket_snapshot_holds_who_was_on_call_at_opening() -> None:
    # The legacy snapshot activity's form: those tickets' workflows read roles as lists.
    p = policy(WEEKLY + NIGHTS)
    snap = snapshot(p, local(2026, 3, 4, 23))
    assert snap.roles["primary"] == ["liis"]
    assert snap.roles["secondary"] == ["mart"]
    assert snap.schedules == {}
    # The snapshot survives the trip through a workflow payload (validated again there).
    assert Policy.model_validate_json(snap.model_dump_json()).roles == snap.roles


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            "[kadri, mart]",
            "[kadri, marta]",
            "schedules.primary.layers[0].participants[1]: unknown responder 'marta'",
        ),
        (
            "[kadri, mart]",
            "[]",
            "schedules.primary.layers[0].participants: an empty layer; name at least one responder",
        ),
        (
            "rotation: weekly",
            "rotation: 0 hours",
            "schedules.primary.layers[0].rotation: rotation '0 hours' has zero length",
        ),
        (
            "rotation: weekly",
            "rotation: 99999999999 weeks",
            "schedules.primary.layers[0].rotation: rotation '99999999999 weeks' is longer than "
            "366 days",
        ),
        (
            "start: 2026-03-02",
            "start: 0001-01-01",
            "schedules.primary.layers[0].start: start 0001-01-01 must be between 2000 and 2099",
        ),
        (
            "rotation: weekly",
            "rotation: fortnightly",
            "schedules.primary.layers[0].rotation: unknown rotation 'fortnightly' (use daily, "
            "weekly, or a length like '12 hours', '2 days' or '2 weeks')",
        ),
        (
            "Europe/Tallinn",
            "Europe/Tartu",
            "schedules.primary.layers[0].timezone: unknown time zone 'Europe/Tartu' (use an IANA "
            "name like Europe/Berlin)",
        ),
        (
            '"09:00"',
            '"09:00+02:00"',
            "schedules.primary.layers[0].handoff: give a wall-clock time like 09:00, without an "
            "offset",
        ),
        (
            "start: 2026-03-02",
            "start: someday",
            "schedules.primary.layers[0].start: Input should be a valid date or datetime, input is "
            "too short",
        ),
        (
            "    layers:\n",
            "    layer:\n",
            "schedules.primary.layer: Extra inputs are not permitted",
        ),
    ],
)
def test_schedule_problems_are_one_line_naming_the_field(old: str, new: str, problem: str) -> None:
    assert old in WEEKLY
    with pytest.raises(PolicyError) as info:
        policy(WEEKLY.replace(old, new))
    assert [p for p in map(str, info.value.problems) if "primary" in p] == [
        f"cargotask.yaml: {problem}"
    ]


def test_more_schedule_problems() -> None:
    cases = {
        "    layers: []\n": "schedules.primary.layers: a schedule needs at least one layer",
        WEEKLY
        + WEEKLY.removeprefix(
            "    layers:\n"
        ): "schedules.primary.layers[1].name: layer 'weekly' is named twice",
        WEEKLY + NIGHTS.replace('"07:00"', '"18:00"'): (
            "schedules.primary.layers[1].restrictions[0].ends: a window from 18:00 to 18:00 is "
            "empty (leave restrictions out for all day)"
        ),
    }
    for schedule, problem in cases.items():
        with pytest.raises(PolicyError) as info:
            policy(schedule)
        assert [str(p) for p in info.value.problems] == [f"cargotask.yaml: {problem}"]
    with pytest.raises(PolicyError) as info:
        parse_policy(SEED + "schedules:\n  primary:\n" + WEEKLY, "cargotask.yaml")
    assert [str(p) for p in info.value.problems] == [
        "cargotask.yaml: schedules.primary: role 'primary' is also a fixed list in roles"
    ]
    # Ladders and warnings may name a scheduled role; an unknown one lists both kinds.
    with pytest.raises(PolicyError) as info:
        parse_policy(with_primary(WEEKLY).replace("roles: [secondary]", "roles: [on_call]"), "c")
    assert [str(p) for p in info.value.problems] == [
        "c: ladders.emergency.steps[2].roles[0]: unknown role 'on_call' "
        "(known: duty_manager, primary, secondary, team)",
        "c: ladders.standard.steps[2].roles[0]: unknown role 'on_call' "
        "(known: duty_manager, primary, secondary, team)",
    ]


def test_the_documented_example_is_a_valid_policy() -> None:
    # docs/oncall.md's reference example, in place of Prokuria's roles: the docs stay true.
    docs = (Path(__file__).parent.parent / "docs" / "oncall.md").read_text(encoding="utf-8")
    block = docs.split("```yaml\n", 1)[1].split("```", 1)[0]
    seed = (BUILTIN_DIR / "prokuria.yaml").read_text(encoding="utf-8")
    roles = "roles:\n  primary: [ana]\n  secondary: [bogdan]\n  duty_manager: [carmen]\n"
    roles += "  team: [ana, bogdan, carmen]\n"
    assert roles in seed
    p = parse_policy(seed.replace(roles, block), "docs/oncall.md")
    bucharest = ZoneInfo("Europe/Bucharest")
    # 21 December 2026 starts the 51st week since 5 January: Ana's turn.
    assert who(p, "primary", datetime(2026, 12, 24, 12, tzinfo=bucharest)).people == ["ana"]
    assert who(p, "primary", datetime(2026, 12, 24, 23, tzinfo=bucharest)).people == ["carmen"]
    assert who(p, "primary", datetime(2026, 12, 26, 12, tzinfo=bucharest)).people == []
