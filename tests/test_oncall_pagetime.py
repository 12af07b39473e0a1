"""On-call schedules resolved when a step pages (time-skipping): not who was on call at opening.

Prokuria's `primary` becomes a weekly rotation (Sundays 08:30 Europe/Bucharest) in a policy
directory of the test's own; its critical ladder texts the emergency line and primary (the
ticket's breach task, round 1 step 1), then calls them (the escalation, step 2).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from activities.oncall import NoOverrides, OnCallActivities, ResolveRolesInput
from policies.loader import BUILTIN_DIR
from policies.oncall import Override
from slawatch.models import FirstResponseInput, ReclassifyInput
from tests.harness import Harness, harness

BUCHAREST = ZoneInfo("Europe/Bucharest")
ANA, BOGDAN, CARMEN = "+40721555101", "+40722555102", "+40723555103"
SEED = (BUILTIN_DIR / "prokuria.yaml").read_text(encoding="utf-8")
FIXED = "  primary: [ana]\n"


def rotation(participants: str = "[ana, bogdan, carmen]") -> str:
    # Shift 1 (ana) from Sunday 14 March 2027 08:30, shift 2 (bogdan) from the 21st, shift 3
    # (carmen) from Sunday 28 March 08:30 EEST: the clocks went forward at 03:00 that morning.
    assert FIXED in SEED
    return SEED.replace(FIXED, "") + (
        "schedules:\n"
        "  primary:\n"
        "    layers:\n"
        "      - name: weekly\n"
        f"        participants: {participants}\n"
        "        rotation: weekly\n"
        '        handoff: "08:30"\n'
        "        timezone: Europe/Bucharest\n"
        "        start: 2027-03-14\n"
    )


def policy_dir(tmp_path: Path, text: str) -> Path:
    (tmp_path / "prokuria.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def texted(h: Harness) -> list[str]:
    return [s.to for s in h.notifier.to("sms")]


def called(h: Harness) -> list[str]:
    return [s.to for s in h.notifier.to("voice")]


async def test_a_dst_change_between_opening_and_breach_pages_whoever_is_on_call_at_the_breach(
    tmp_path: Path,
) -> None:
    # Opened Saturday 27 March 08:00 EET (bogdan's week); the response is answered and the
    # resolution target (24 h) runs out Sunday 09:00 EEST, after the clocks went forward and
    # after the 08:30 local handoff (which a handoff kept at the old UTC offset, 06:30 UTC,
    # would not have reached).
    opened = datetime(2027, 3, 27, 8, 0, tzinfo=BUCHAREST)
    async with harness(policy_dir(tmp_path, rotation())) as h:
        await h.advance_to(opened)
        handle = await h.open("prokuria", "P-dst", severity="critical", opened_at=opened)
        await h.update(handle, "first_response", FirstResponseInput(by="agent"))
        breach = (opened.astimezone(UTC) + timedelta(hours=24)).astimezone(BUCHAREST)
        assert (breach.hour, breach.minute) == (9, 0)
        await h.advance_to(breach - timedelta(minutes=1))
        assert texted(h) == []
        await h.advance_to(breach + timedelta(seconds=5))
        assert sorted(texted(h)) == sorted(["+40724011885", CARMEN])
        status = await h.status(handle)
        notes = [e.detail for e in status.history if e.event == "on_call"]
        assert notes == ["resolution-1 r1s1 primary: carmen (layer weekly, shift 3)"]


async def test_an_override_created_after_opening_is_honoured_and_named(tmp_path: Path) -> None:
    opened = datetime(2027, 3, 23, 3, 0, tzinfo=BUCHAREST)  # bogdan's week, at night
    async with harness(policy_dir(tmp_path, rotation())) as h:
        await h.advance_to(opened)
        handle = await h.open("prokuria", "P-ovr", severity="critical", opened_at=opened)
        await h.advance_to(opened + timedelta(minutes=10))
        assert h.overrides is not None
        h.overrides.add(
            Override(
                id="ovr_night1",
                tenant="prokuria",
                role="primary",
                person="ana",
                replaces="bogdan",
                starts_at=opened + timedelta(minutes=30),
                ends_at=opened + timedelta(hours=6),
                created_at=await h.now(),
            )
        )
        await h.advance_to(opened + timedelta(minutes=60, seconds=5))
        assert sorted(texted(h)) == sorted(["+40724011885", ANA])
        # The call of step 2, from the escalation, five minutes later: the override still holds.
        await h.advance_to(opened + timedelta(minutes=65, seconds=5))
        assert sorted(called(h)) == sorted(["+40724011885", ANA])
        status = await h.status(handle)
        notes = [e.detail for e in status.history if e.event == "on_call"]
        why = "primary: ana (layer weekly, shift 2; override ovr_night1: ana instead of bogdan)"
        assert notes == [f"response-1 r1s1 {why}", f"response-1 r1s2 {why}"]


async def test_a_schedule_edit_reaches_a_running_tickets_next_step(tmp_path: Path) -> None:
    opened = datetime(2027, 3, 23, 3, 0, tzinfo=BUCHAREST)
    policies = policy_dir(tmp_path, rotation())
    async with harness(policies) as h:
        await h.advance_to(opened)
        handle = await h.open("prokuria", "P-edit", severity="critical", opened_at=opened)
        await h.advance_to(opened + timedelta(minutes=60, seconds=5))
        assert sorted(texted(h)) == sorted(["+40724011885", BOGDAN])
        # The rotation is edited while the ladder runs: carmen takes bogdan's turns.
        policy_dir(tmp_path, rotation("[ana, carmen]"))
        await h.advance_to(opened + timedelta(minutes=65, seconds=5))
        assert sorted(called(h)) == sorted(["+40724011885", CARMEN])
        # The rest of the snapshot stays pinned: the ladder itself is the one it opened with.
        status = await h.status(handle)
        assert status.escalation_level == 2


async def test_a_step_with_fixed_roles_only_asks_no_activity() -> None:
    opened = datetime(2027, 3, 23, 3, 0, tzinfo=BUCHAREST)
    async with harness() as h:  # the seed policy: every role a fixed list
        await h.advance_to(opened)
        handle = await h.open("prokuria", "P-fixed", severity="critical", opened_at=opened)
        await h.advance_to(opened + timedelta(minutes=65, seconds=5))
        assert sorted(texted(h)) == sorted(["+40724011885", ANA])
        status = await h.status(handle)
        child = h.client.get_workflow_handle(status.breaches[0].escalation_workflow_id)
        for wf in (handle, child):
            scheduled = [
                e.activity_task_scheduled_event_attributes.activity_type.name
                async for e in wf.fetch_history_events()
                if e.HasField("activity_task_scheduled_event_attributes")
            ]
            assert "resolve_roles" not in scheduled and scheduled  # pages, but no look-up
        assert not [e for e in status.history if e.event == "on_call"]


def test_resolve_roles_parses_the_policy_once_per_file_text(tmp_path: Path) -> None:
    policies = policy_dir(tmp_path, rotation())
    activities = OnCallActivities(policies, NoOverrides())
    at = datetime(2027, 3, 23, 1, tzinfo=UTC)
    first = activities._resolve(ResolveRolesInput(tenant="prokuria", roles=["primary"], at=at))
    cached = activities.files._parsed[policies / "prokuria.yaml"][1]
    again = activities._resolve(ResolveRolesInput(tenant="prokuria", roles=["primary"], at=at))
    assert activities.files._parsed[policies / "prokuria.yaml"][1] is cached  # not re-parsed
    assert first == again and first.answers[0].people == ["bogdan"]
    assert first.people["bogdan"].phone == BOGDAN
    policy_dir(tmp_path, rotation("[ana, carmen]"))  # an edit is seen at once
    edited = activities._resolve(ResolveRolesInput(tenant="prokuria", roles=["primary"], at=at))
    assert edited.answers[0].people == ["carmen"]
    assert activities.files._parsed[policies / "prokuria.yaml"][1] is not cached


async def test_a_broken_policy_file_falls_back_to_the_snapshots_schedule_and_says_so(
    tmp_path: Path,
) -> None:
    opened = datetime(2027, 3, 23, 3, 0, tzinfo=BUCHAREST)  # bogdan's week
    policies = policy_dir(tmp_path, rotation())
    async with harness(policies) as h:
        await h.advance_to(opened)
        handle = await h.open("prokuria", "P-broken", severity="critical", opened_at=opened)
        (policies / "prokuria.yaml").write_text("tenant: [", encoding="utf-8")
        await h.advance_to(opened + timedelta(minutes=60, seconds=30))
        # A page to the schedule's person beats no page: bogdan, from the ticket's snapshot.
        assert sorted(texted(h)) == sorted(["+40724011885", BOGDAN])
        status = await h.status(handle)
        [note] = [e.detail for e in status.history if e.event == "on_call"]
        assert note.startswith(
            "response-1 r1s1 primary: bogdan (layer weekly, shift 2); from the ticket's snapshot:"
        )


async def test_phones_that_wait_for_support_hours_page_whoever_is_on_call_when_they_ring(
    tmp_path: Path,
) -> None:
    # A minor ticket opened Thursday 25 March 17:00 Berlin, reclassified major on Saturday: its
    # response target (Friday 07:30) is already past, so it breaches at once, outside hours.
    berlin = ZoneInfo("Europe/Berlin")
    opened = datetime(2027, 3, 25, 17, 0, tzinfo=berlin)
    saturday = datetime(2027, 3, 27, 10, 0, tzinfo=berlin)
    async with harness(policy_dir(tmp_path, rotation())) as h:
        await h.advance_to(opened)
        handle = await h.open("prokuria", "P-hours", severity="minor", opened_at=opened)
        await h.advance_to(saturday)
        await h.update(handle, "reclassify", ReclassifyInput(severity="major", reason="worse"))
        await h.advance_to(saturday + timedelta(seconds=5))
        # The step's email goes at once, to bogdan (his week); its SMS waits for Monday 07:00.
        emails = [s.to for s in h.notifier.to("email") if "/response-1/r1s1/" in s.key]
        assert emails == ["bogdan.example@example.com"] and texted(h) == []
        monday = datetime(2027, 3, 29, 7, 0, tzinfo=berlin)
        await h.advance_to(monday + timedelta(seconds=5))
        # Sunday 08:30 Bucharest handed the role to carmen: she gets the SMS.
        assert texted(h) == [CARMEN]
        status = await h.status(handle)
        notes = [e.detail for e in status.history if e.event == "on_call"]
        assert notes == [
            "response-1 r1s1 primary: bogdan (layer weekly, shift 2)",
            "response-1 r1s1 primary: carmen (layer weekly, shift 3)",
        ]


async def test_warning_emails_to_a_schedule_go_to_whoever_it_has_on_call(tmp_path: Path) -> None:
    # Before, a schedule in warnings.email_roles failed the warning's task (a KeyError).
    text = rotation().replace("email_roles: [team]", "email_roles: [primary]")
    opened = datetime(2027, 3, 23, 3, 0, tzinfo=BUCHAREST)  # bogdan's week
    async with harness(policy_dir(tmp_path, text)) as h:
        await h.advance_to(opened)
        await h.open("prokuria", "P-warn", severity="critical", opened_at=opened)
        await h.advance_to(opened + timedelta(minutes=30, seconds=5))  # 50% of 60 minutes
        assert [s.to for s in h.notifier.to("email")] == ["bogdan.example@example.com"]
