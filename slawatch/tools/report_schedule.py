"""The per-tenant Temporal Schedule that delivers the monthly report (docs/reports.md).

It fires every day at the report calendar's opening hour in its zone (07:00 when the calendar
is 24x7) and starts MonthlyReportWorkflow on the report queue; the workflow's activity sends
only on the first working day of the month, once. Daily rather than "day 1": the first working
day moves with weekends and holidays, and deciding it with the calendar in one place (the
activity) keeps the schedule a plain cron.
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleHandle,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from activities.records.monthly import MonthlyReportInput
from policies.schema import Policy
from slawatch.settings import reports_queue_for
from workflows.report import WORKFLOW

DEFAULT_HOUR = 7


def schedule_id(tenant: str) -> str:
    return f"monthly-report-{tenant}"


def schedule_for(policy: Policy, ticket_task_queue: str, as_of: date | None = None) -> Schedule:
    """The schedule of a tenant's monthly report, from its policy's report calendar.

    `as_of` fixes the day every run decides for (a test's trigger, or re-checking a day by
    hand); normally None: each run decides for the day it runs."""
    calendar = policy.report_calendar()
    hour = calendar.opens.hour if calendar.opens is not None else DEFAULT_HOUR
    return Schedule(
        action=ScheduleActionStartWorkflow(
            WORKFLOW,
            MonthlyReportInput(tenant=policy.tenant, as_of=as_of),
            id=f"monthly-report-{policy.tenant}",
            task_queue=reports_queue_for(ticket_task_queue),
            execution_timeout=timedelta(hours=12),
        ),
        spec=ScheduleSpec(cron_expressions=[f"0 {hour} * * *"], time_zone_name=calendar.timezone),
        # A run missed while Temporal was down is caught up within the day; never two at once.
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(hours=12)
        ),
    )


async def put_schedule(client: Client, policy: Policy, ticket_task_queue: str) -> bool:
    """Create the tenant's schedule, or update it to the policy's; True when created."""
    wanted = schedule_for(policy, ticket_task_queue)
    try:
        await client.create_schedule(schedule_id(policy.tenant), wanted)
        return True
    except ScheduleAlreadyRunningError:
        pass

    def replace(current: ScheduleUpdateInput) -> ScheduleUpdate:
        # The spec and action follow the policy; a pause an operator set (and its note) stays.
        return ScheduleUpdate(
            schedule=dataclasses.replace(wanted, state=current.description.schedule.state)
        )

    await client.get_schedule_handle(schedule_id(policy.tenant)).update(replace)
    return False


def handle(client: Client, tenant: str) -> ScheduleHandle:
    return client.get_schedule_handle(schedule_id(tenant))
