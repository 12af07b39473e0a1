"""Replay committed histories with today's workflow code: a change that breaks them fails here."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from benchmarks.page_tasks import task_of, task_starts, tasks_per_page
from slawatch.models import EscalationInput, StopEscalationInput
from tests.harness import HISTORIES_DIR, load
from workers.worker import WORKFLOWS, workflow_runner

HISTORIES = sorted(HISTORIES_DIR.glob("*.json"))


def test_histories_are_committed() -> None:
    names = {p.stem.split("--")[0] for p in HISTORIES}
    assert {"typical", "critical_ladder", "reclassify_ack_pause", "oncall_ladder"} <= names
    assert {"late_events", "outage_grouping", "outbound"} <= names
    assert any("escalation" in p.stem for p in HISTORIES)


def test_the_late_events_history_takes_the_event_times_branch() -> None:
    """Replay guards the patched path: the history holds the patch's marker."""
    # Recorded before revisions (revision 0): later ones take the patch without a marker.
    path = next(p for p in HISTORIES if p.stem == "v6_late_events--ticket+prokuria+H-late")
    # The marker's payload starts with the patch id, so its base64 starts aligned.
    assert base64.b64encode(b'{"id":"event-times').decode() in path.read_text()


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_committed_history_replays(path: Path) -> None:
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(),
    )
    result = await replayer.replay_workflow(load(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, str(result.replay_failure)[:2000]


@workflow.defn(name="EscalationWorkflow", sandboxed=False)
class DelayedEscalation:
    """A deliberate, unpatched change: the ladder now waits a minute before its first step."""

    @workflow.run
    async def run(self, input: EscalationInput) -> None:
        await workflow.sleep(timedelta(minutes=1))

    @workflow.signal
    def stop(self, input: StopEscalationInput) -> None:
        pass


async def test_an_unpatched_change_is_caught_as_nondeterminism() -> None:
    replayer = Replayer(
        workflows=[DelayedEscalation],
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(),
    )
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(load(next(p for p in HISTORIES if "escalation" in p.stem)))


def test_the_current_histories_page_from_the_breach_task_as_the_floor_does() -> None:
    """One workflow task from breach to first page (the floor's), down from two."""
    counted = {}
    for name in ("critical_ladder", "v2_critical_ladder"):
        ticket = next(
            p for p in HISTORIES if p.stem.startswith(f"{name}--") and "escal" not in p.stem
        )
        child = next(p for p in HISTORIES if p.stem.startswith(f"{name}--") and "escal" in p.stem)
        counted[name] = tasks_per_page(load(ticket), load(child))
    assert counted == {"critical_ladder": ("ticket", 1), "v2_critical_ladder": ("escalation", 2)}


def test_a_schedule_costs_the_first_page_one_activity_round_trip_in_the_ticket() -> None:
    """oncall_ladder: the breach task asks who is on call; the task its answer wakes pages."""
    [path] = [
        p for p in HISTORIES if p.stem.startswith("oncall_ladder--") and "escal" not in p.stem
    ]
    history = load(path)
    events, starts = history.events, task_starts(history)

    def task(event_id: int) -> int:
        return task_of(starts, event_id)

    scheduled = {
        e.activity_task_scheduled_event_attributes.activity_type.name: e
        for e in reversed(events)  # the first of each name
        if e.HasField("activity_task_scheduled_event_attributes")
    }
    ask, sms = scheduled["resolve_roles"], scheduled["send_sms"]
    # The breach task asks: the task the deadline's timer woke (a timer fired since the last).
    breach = task(ask.activity_task_scheduled_event_attributes.workflow_task_completed_event_id)
    woke = [e for e in events if max(i for i in starts if i < breach) < e.event_id < breach]
    assert any(e.HasField("timer_fired_event_attributes") for e in woke)
    answered = next(
        e.event_id
        for e in events
        if e.HasField("activity_task_completed_event_attributes")
        and e.activity_task_completed_event_attributes.scheduled_event_id == ask.event_id
    )
    page_task = task(sms.activity_task_scheduled_event_attributes.workflow_task_completed_event_id)
    assert page_task == min(i for i in starts if i > answered)


def record_writes(name: str) -> list[dict[str, Any]]:
    """The `record_milestone` inputs of a committed ticket history, in order."""
    events = json.loads((HISTORIES_DIR / f"{name}.json").read_text())["events"]
    return [
        json.loads(
            base64.b64decode(
                e["activityTaskScheduledEventAttributes"]["input"]["payloads"][0]["data"]
            )
        )
        for e in events
        if e.get("activityTaskScheduledEventAttributes", {}).get("activityType", {}).get("name")
        == "record_milestone"
    ]


def test_the_histories_since_revision_3_carry_the_policy_snapshot_once() -> None:
    """`record-policy-once`: the typical ticket's first write carries the snapshot, the later
    ones its key; before (v6_), every write carried it. (v7_: since revision 4 the first write
    is a local activity, whose input history does not hold.)"""
    before = record_writes("v6_typical--ticket+prokuria+H-typical")
    now = record_writes("v7_typical--ticket+prokuria+H-typical")
    assert len(now) == len(before) >= 3
    assert all(w["policy"] is not None and "policy_key" not in w for w in before)
    assert now[0]["policy"]["tenant"] == "prokuria" and now[0]["policy_key"]
    assert all(w["policy"] is None and w["policy_key"] == now[0]["policy_key"] for w in now[1:])
    size = [len(json.dumps(writes)) for writes in (before, now)]
    assert size[1] < size[0] / 2, size


def kinds(name: str) -> list[str]:
    """The event types of a committed history, in order."""
    events = json.loads((HISTORIES_DIR / f"{name}.json").read_text())["events"]
    return [next(k for k in e if k.endswith("EventAttributes")) for e in events]


@pytest.mark.parametrize(
    "scenario", ["typical--ticket+prokuria+H-typical", "critical_ladder--ticket+prokuria+H-ladder"]
)
def test_the_current_histories_write_the_opening_in_the_first_task(scenario: str) -> None:
    """`opening-write-local`: the opening record is a local activity's marker in the ticket's
    first task; before (v7_), an activity whose completion was a second task."""
    before, now = kinds(f"v7_{scenario}"), kinds(scenario)

    def first_task(events: list[str]) -> list[str]:
        done = events.index("workflowTaskCompletedEventAttributes")
        later = events[done + 1 :]
        return later[: later.index("workflowTaskScheduledEventAttributes")]

    assert "markerRecordedEventAttributes" in first_task(now)
    assert "activityTaskScheduledEventAttributes" not in first_task(now)
    assert "activityTaskScheduledEventAttributes" in first_task(before)
    assert len(record_writes(scenario)) == len(record_writes(f"v7_{scenario}")) - 1
    for counted in ("workflowTaskCompletedEventAttributes", "activityTaskScheduledEventAttributes"):
        assert now.count(counted) == before.count(counted) - 1, counted
