"""Workflow tasks per page: from a breach to its first page's activity, in recorded histories.

Run: `python -m benchmarks.page_tasks [DIR]` (default `tests/histories`, the committed replay
histories: `v1_*`, `v2_*` recorded by earlier code, unprefixed by today's). For each ticket
with an escalation, counts the workflow tasks that ran between the breach and the scheduling
of its first SMS or call: the ticket's breach task (which starts the escalation), plus the
escalation's tasks up to the one that scheduled the page when the ticket did not. The bare
floor's is 1 (the task of the fired timer schedules the activity).
"""

from __future__ import annotations

import sys
from pathlib import Path

from temporalio.client import WorkflowHistory

from benchmarks.common import emit

PAGES = {"send_sms", "place_call"}


def load(path: Path) -> WorkflowHistory:
    # As tests/test_replay.py: "+" stands for "/" in the file name.
    return WorkflowHistory.from_json(
        path.stem.split("--", 1)[1].replace("+", "/"), path.read_text()
    )


def first_page_task(history: WorkflowHistory) -> int | None:
    """The workflow-task-completed event id of the first page scheduled, if any."""
    for e in history.events:
        if e.HasField("activity_task_scheduled_event_attributes"):
            a = e.activity_task_scheduled_event_attributes
            if a.activity_type.name in PAGES:
                return a.workflow_task_completed_event_id
    return None


def tasks_per_page(ticket: WorkflowHistory, child: WorkflowHistory) -> tuple[str, int]:
    breach = next(
        e.start_child_workflow_execution_initiated_event_attributes.workflow_task_completed_event_id
        for e in ticket.events
        if e.HasField("start_child_workflow_execution_initiated_event_attributes")
    )
    if first_page_task(ticket) == breach:
        return "ticket", 1
    page = first_page_task(child)
    assert page is not None, "no page in the escalation"
    child_tasks = sum(
        1
        for e in child.events
        # The test server's id may name the task's started event: count tasks started by then.
        if e.HasField("workflow_task_started_event_attributes") and e.event_id <= page
    )
    return "escalation", 1 + child_tasks


def main(directory: Path) -> None:
    rows = []
    for path in sorted(directory.glob("*.json")):
        if "escalation" in path.stem:
            continue
        children = sorted(directory.glob(f"{path.stem}-escalation-*.json"))
        if not children:
            continue
        where, tasks = tasks_per_page(load(path), load(children[0]))
        rows.append([path.stem.split("--")[0], where, tasks])
    emit(
        "workflow tasks from breach to first page (floor: 1)",
        ["history", "first page scheduled by", "workflow tasks"],
        rows,
        {"rows": rows},
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("tests/histories"))
