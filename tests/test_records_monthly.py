"""Monthly delivery of the report: the Schedule, triggered on a real Temporal dev server.

The record store is filled from real tickets (the milestone writes); the schedule is created
by `slawatch report schedule TENANT --create`; each trigger runs MonthlyReportWorkflow on the
report worker, whose activity sends through the real SendGrid client to the SendGrid stand-in.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import os
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import SecretStr
from temporalio.client import (
    Client,
    ScheduleActionExecutionStartWorkflow,
    ScheduleHandle,
    ScheduleUpdate,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.clients import SendGridMailer, sendgrid_client
from activities.ledger.sqlite import SqliteLedger
from activities.records.activities import RecordMilestoneInput, record_milestone
from activities.records.monthly import (
    MonthlyReportActivities,
    MonthlyReportResult,
    first_working_day,
)
from activities.records.store import RecordStore
from policies.loader import load_policy
from policies.schema import Policy
from slawatch.models import (
    FirstResponseInput,
    OpenTicketInput,
    TicketStatus,
    TicketWorkflowInput,
    ticket_workflow_id,
)
from slawatch.settings import Settings
from slawatch.tools.report_schedule import put_schedule, schedule_for, schedule_id
from slawatch.tools.standins.outbox import read_jsonl
from slawatch.tools.standins.sendgrid import start_sendgrid
from slawatch.tools.standins.tools import free_port
from tests.harness import StandInNotifier
from tests.temporal_fixtures import slawatch_cli
from workers.worker import (
    notify_worker,
    report_worker,
    ticket_worker,
    workflow_runner,
)
from workflows.report import MonthlyReportWorkflow
from workflows.ticket import TicketSlaWorkflow

KEY = "SG.monthly-test-key"
RECIPIENTS = ["cs-lead@prokuria.example", "account@prokuria.example"]
POLICIES = Path(__file__).parent.parent / "policies" / "data"


def test_first_working_day_follows_the_business_calendar() -> None:
    calendar = load_policy("prokuria").calendars["working_hours"]
    # 1 and 2 January are Romanian holidays (a Friday and a Saturday), then Sunday.
    assert first_working_day(calendar, 2027, 1) == date(2027, 1, 4)
    assert first_working_day(calendar, 2026, 12) == date(2026, 12, 2)  # 1 Dec: national day
    assert first_working_day(calendar, 2026, 11) == date(2026, 11, 2)  # 1 Nov is a Sunday
    assert first_working_day(load_policy("prokuria").calendars["always"], 2027, 1) == date(
        2027, 1, 1
    )


async def _status(client: Client, workflow_id: str) -> TicketStatus:
    for _ in range(200):
        try:
            status: TicketStatus = await client.get_workflow_handle(workflow_id).query(
                "status", result_type=TicketStatus
            )
            return status
        except Exception:  # still starting: its policy snapshot is not in yet
            await asyncio.sleep(0.05)
    raise TimeoutError(workflow_id)


async def _fill(client: Client, queue: str, store: RecordStore, policy: Policy) -> None:
    """Two real prokuria tickets: a critical answered in time, a minor just opened."""
    for ticket_id, ago, severity in (("M1", 30, "critical"), ("M2", 1, "minor")):
        opened_at = datetime.now(UTC) - timedelta(minutes=ago)
        await client.start_workflow(
            TicketSlaWorkflow.run,
            TicketWorkflowInput(
                ticket=OpenTicketInput(
                    tenant="prokuria", ticket_id=ticket_id, severity=severity, opened_at=opened_at
                )
            ),
            id=ticket_workflow_id("prokuria", ticket_id),
            task_queue=queue,
        )
    await _status(client, ticket_workflow_id("prokuria", "M2"))
    handle = client.get_workflow_handle(ticket_workflow_id("prokuria", "M1"))
    await _status(client, handle.id)
    first = FirstResponseInput(at=datetime.now(UTC) - timedelta(minutes=10), by="agent")
    await handle.execute_update("first_response", first, result_type=TicketStatus)
    for ticket_id in ("M1", "M2"):
        status = await _status(client, ticket_workflow_id("prokuria", ticket_id))
        record_milestone(
            store, RecordMilestoneInput(milestone="test", status=status, policy=policy)
        )


async def _trigger(
    client: Client,
    handle: ScheduleHandle,
    policy: Policy,
    queue: str,
    day: date | None,
    replay: bool = False,
    update: bool = True,
) -> MonthlyReportResult:
    """Point the schedule's runs at `day` (unless not `update`: the schedule as it is), trigger
    it once and wait for that run's result."""
    if update:
        wanted = schedule_for(policy, queue, as_of=day)
        await handle.update(lambda _: ScheduleUpdate(wanted))
    before = len((await handle.describe()).info.recent_actions)
    await handle.trigger()
    for _ in range(200):
        actions = (await handle.describe()).info.recent_actions
        if len(actions) > before:
            break
        await asyncio.sleep(0.05)
    else:
        raise TimeoutError("the schedule did not start a run")
    action = actions[-1].action
    assert isinstance(action, ScheduleActionExecutionStartWorkflow)
    run = client.get_workflow_handle(action.workflow_id, result_type=MonthlyReportResult)
    result: MonthlyReportResult = await run.result()
    if not replay:
        return result
    # The run's history replays on today's workflow code (the sandbox the worker uses).
    replayer = Replayer(
        workflows=[MonthlyReportWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(),
    )
    await replayer.replay_workflow(await run.fetch_history())
    return result


def _mails(outbox: Path, month: str) -> list[dict[str, Any]]:
    return [
        m
        for m in read_jsonl(outbox)
        if set(m["to"]) == set(RECIPIENTS) and m["subject"].endswith(f" for {month}")
    ]


async def test_schedule_sends_last_months_report_once_on_the_first_working_day(
    fresh_dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    text = (POLICIES / "prokuria.yaml").read_text()
    (policies / "prokuria.yaml").write_text(f"{text}\nreports:\n  recipients: {RECIPIENTS}\n")
    policy = load_policy("prokuria", policies)
    outbox = tmp_path / "sendgrid-outbox.jsonl"
    sendgrid = start_sendgrid(free_port(), outbox, api_key=KEY)
    queue = f"monthly-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        notifier_mode="stand-in",
        sendgrid_base_url=sendgrid.url,
        sendgrid_api_key=SecretStr(KEY),
        data_dir=tmp_path,
    )
    store = RecordStore(tmp_path / "records.sqlite3")
    deliver = MonthlyReportActivities(
        store,
        SendGridMailer(sendgrid_client(settings), settings.email_from),
        SqliteLedger(tmp_path / "ledger.sqlite3"),
        policies,
    ).deliver
    client = fresh_dev_env.client
    try:
        async with (
            ticket_worker(client, queue, None),
            notify_worker(client, queue, StandInNotifier(fresh_dev_env).activities(), None),
            report_worker(client, queue, [deliver]),
        ):
            await _fill(client, queue, store, load_policy("prokuria"))
            cli_env = dict(os.environ)
            cli_env |= {
                "SLAWATCH_TEMPORAL_ADDRESS": client.service_client.config.target_host,
                "SLAWATCH_POLICY_DIR": str(policies),
                "SLAWATCH_TICKET_TASK_QUEUE": queue,
                "SLAWATCH_DATA_DIR": str(tmp_path),
            }
            out = await slawatch_cli(cli_env, "report", "schedule", "prokuria", "--create")
            assert out.startswith(f"created schedule {schedule_id('prokuria')}\n"), out
            handle = client.get_schedule_handle(schedule_id("prokuria"))
            # The schedule as the CLI made it: a run decides for the day it was scheduled for
            # (the trigger's: today), in the calendar's zone, and sends only if that is the first
            # working day (then the month before this one, which has no tickets here).
            calendar = policy.report_calendar()
            now = await _trigger(client, handle, policy, queue, None, update=False)
            today_there = datetime.now(ZoneInfo(calendar.timezone)).date()
            assert now.day == today_there
            is_first = first_working_day(calendar, today_there.year, today_there.month)
            assert now.outcome == ("sent" if today_there == is_first else "not_first_working_day")
            # --create again updates it and keeps a pause (in process: each CLI run costs ~2 s
            # of start-up on two shared cores).
            await handle.pause(note="auditing")
            assert not await put_schedule(client, policy, queue)
            assert (await handle.describe()).schedule.state.paused
            await handle.unpause()
            shown = await slawatch_cli(cli_env, "report", "schedule", "prokuria")
            assert "daily at 07:00 (Europe/Berlin)" in shown and RECIPIENTS[0] in shown, shown

            # The tickets were opened this month (UTC): the report goes out next month.
            today = datetime.now(UTC).date()
            month = f"{today:%Y-%m}"
            after = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
            first = first_working_day(calendar, after.year, after.month)
            assert first is not None

            sent = await _trigger(client, handle, policy, queue, first, replay=True)
            assert (sent.outcome, sent.month, sent.recipients) == ("sent", month, 2)
            mails = _mails(outbox, month)
            assert len(mails) == 1
            mail = mails[0]
            assert mail["subject"] == f"{policy.name}: SLA report for {month}"
            types = {c["type"]: c["value"] for c in mail["content"]}
            assert "<html" in types["text/html"] and "M1" not in types["text/plain"]
            assert types["text/html"].count('src="data:image/svg+xml;base64,') == 3
            files = {a["filename"]: a for a in mail["attachments"]}
            name = f"sla-report-prokuria-{month}"
            assert set(files) == {f"{name}.csv", f"{name}.html"}
            attachment = files[f"{name}.csv"]
            assert attachment["type"] == "text/csv"
            page = base64.b64decode(files[f"{name}.html"]["content"]).decode()
            assert page == types["text/html"]
            rows = list(
                csv.DictReader(io.StringIO(base64.b64decode(attachment["content"]).decode()))
            )
            assert [r["class"] for r in rows] == list(policy.classes)
            opened = {r["class"]: int(r["opened"]) for r in rows}
            assert opened == {"critical": 1, "major": 0, "minor": 1}
            assert rows[0]["response_met"] == "1"

            # The same month again: the ledger already has it, nothing more is sent.
            again = await _trigger(client, handle, policy, queue, first)
            assert (again.outcome, again.provider_id) == ("already_sent", sent.provider_id)
            # Any other day of the month is not the first working day.
            for day in (first + timedelta(days=1), first.replace(day=1) - timedelta(days=1)):
                if day != first_working_day(calendar, day.year, day.month):
                    other = await _trigger(client, handle, policy, queue, day)
                    assert other.outcome == "not_first_working_day", day
            assert len(_mails(outbox, month)) == 1

            out = await slawatch_cli(cli_env, "report", "schedule", "prokuria", "--delete")
            assert out.strip() == f"deleted schedule {schedule_id('prokuria')}"
    finally:
        store.close()
        sendgrid.stop()
