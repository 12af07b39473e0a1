"""Workflow tasks per page: from a breach to its first page's activity, in recorded histories.

Run: `python -m benchmarks.page_tasks [DIR]` (default `tests/histories`, the committed replay
histories: `vN_*` recorded by earlier code, unprefixed by today's). For each ticket with an
escalation, counts the workflow tasks that ran between the breach and the scheduling of its
first SMS or call: the ticket's breach task, plus the escalation's tasks up to the one that
scheduled the page when the ticket did not. The bare floor's is 1 (the task of the fired timer
schedules the activity).

It also counts the whole breach path, everything the server does for a breach before its ack
window (`breach_path`): both workflows' tasks, the activities (pages, record writes) and the
signals between them. The floor's is 2 tasks (the timer's, the activity result's) and one
activity. Since `ladder-after-first-window` the escalation starts only when the first ack
window ends, so a current history's breach path has no escalation tasks at all.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

from temporalio.client import WorkflowHistory

from benchmarks.common import emit

PAGES = {"send_sms", "place_call"}
# What a breach task may do first: page, ask who is on call, or start the escalation.
BREACH_ACTIVITIES = PAGES | {"resolve_roles"}
# The breach path: what happens within this much history time of the breach task.
BREACH_PATH = timedelta(seconds=1)


def load(path: Path) -> WorkflowHistory:
    # As tests/test_replay.py: "+" stands for "/" in the file name.
    return WorkflowHistory.from_json(
        path.stem.split("--", 1)[1].replace("+", "/"), path.read_text()
    )


def task_starts(history: WorkflowHistory) -> list[int]:
    """The event ids of the history's workflow-task-started events, in order."""
    return [
        e.event_id for e in history.events if e.HasField("workflow_task_started_event_attributes")
    ]


def task_of(starts: list[int], event_id: int) -> int:
    """The task an id names: the test server's id may name a task's started or completed event,
    so it is the last task started by then (`starts` from `task_starts`)."""
    return max(i for i in starts if i <= event_id)


def first_page_task(history: WorkflowHistory) -> int | None:
    """The workflow-task-completed event id of the first page scheduled, if any."""
    for e in history.events:
        if e.HasField("activity_task_scheduled_event_attributes"):
            a = e.activity_task_scheduled_event_attributes
            if a.activity_type.name in PAGES:
                return a.workflow_task_completed_event_id
    return None


def breach_task(ticket: WorkflowHistory) -> int:
    """The workflow-task-completed event id of the breach task: the first that started the
    escalation, paged, or asked who is on call for a page."""
    for e in ticket.events:
        if e.HasField("start_child_workflow_execution_initiated_event_attributes"):
            start = e.start_child_workflow_execution_initiated_event_attributes
            return start.workflow_task_completed_event_id
        if e.HasField("activity_task_scheduled_event_attributes"):
            a = e.activity_task_scheduled_event_attributes
            if a.activity_type.name in BREACH_ACTIVITIES:
                return a.workflow_task_completed_event_id
    raise ValueError("no breach in this history")


def tasks_per_page(ticket: WorkflowHistory, child: WorkflowHistory | None) -> tuple[str, int]:
    breach = breach_task(ticket)
    page_task = first_page_task(ticket)
    if page_task is not None:
        # The ticket paged, in the breach task or after an activity (who is on call) it asked.
        starts = task_starts(ticket)
        first, last = task_of(starts, breach), task_of(starts, page_task)
        return "ticket", sum(1 for i in starts if first <= i <= last)
    page = first_page_task(child) if child is not None else None
    assert child is not None and page is not None, "no page in the escalation"
    child_tasks = sum(
        1
        for e in child.events
        # The test server's id may name the task's started event: count tasks started by then.
        if e.HasField("workflow_task_started_event_attributes") and e.event_id <= page
    )
    return "escalation", 1 + child_tasks


def breach_path(
    ticket: WorkflowHistory, child: WorkflowHistory | None, within: timedelta = BREACH_PATH
) -> dict[str, int]:
    """What a breach costs the server before its ack window: the workflow tasks, activities and
    signals of the ticket and its escalation (None: never started) within `within` of the
    breach task's start (in these histories the ack window is minutes long, so nothing of a
    later step is counted)."""
    begin = task_of(task_starts(ticket), breach_task(ticket))
    since = next(e for e in ticket.events if e.event_id == begin).event_time.ToDatetime()
    counts = {"ticket_tasks": 0, "escalation_tasks": 0, "activities": 0, "signals": 0, "events": 0}
    histories = [("ticket", ticket)] + ([("escalation", child)] if child is not None else [])
    for name, history in histories:
        for e in history.events:
            if not since <= e.event_time.ToDatetime() < since + within:
                continue
            counts["events"] += 1
            if e.HasField("workflow_task_started_event_attributes"):
                counts[f"{name}_tasks"] += 1
            elif e.HasField("activity_task_scheduled_event_attributes"):
                counts["activities"] += 1
            elif e.HasField("signal_external_workflow_execution_initiated_event_attributes"):
                counts["signals"] += 1
    return counts


def main(directory: Path) -> None:
    rows: list[list[object]] = []
    for path in sorted(directory.glob("*.json")):
        if "escalation" in path.stem:
            continue
        children = sorted(directory.glob(f"{path.stem}-escalation-*.json"))
        ticket = load(path)
        # A ticket acknowledged in its first ack window has no escalation history.
        child = load(children[0]) if children else None
        try:
            breach_task(ticket)
        except ValueError:
            continue  # never breached
        where, tasks = tasks_per_page(ticket, child)
        path_counts = breach_path(ticket, child)
        name = path.stem.split("--")[0]
        if any(row[0] == name for row in rows):  # a second ticket of the scenario
            name += f" ({path.stem.rsplit('+', 1)[-1]})"
        rows.append([name, where, tasks, *path_counts.values()])
    emit(
        "workflow tasks from breach to first page (floor: 1), and the breach path's cost "
        "(floor: 2 tasks, 1 activity, 0 signals)",
        [
            "history",
            "first page scheduled by",
            "tasks to page",
            "ticket tasks",
            "escalation tasks",
            "activities",
            "signals",
            "events",
        ],
        rows,
        {"rows": rows},
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("tests/histories"))
