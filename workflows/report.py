"""MonthlyReportWorkflow: started daily by a tenant's report schedule; one activity does it all.

The activity (activities/records/monthly.py) decides whether today is the tenant's first working
day of the month and, if so, sends last month's report once. The workflow only gives it the
workflow's clock, so a replay decides for the same instant.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from activities.records.monthly import (
        MonthlyReportActivities,
        MonthlyReportInput,
        MonthlyReportResult,
    )

WORKFLOW = "MonthlyReportWorkflow"
# Set by Temporal on every workflow a schedule starts.
SCHEDULED_AT = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


@workflow.defn(name=WORKFLOW)
class MonthlyReportWorkflow:
    @workflow.run
    async def run(self, input: MonthlyReportInput) -> MonthlyReportResult:
        if input.at is None:
            # The time the schedule meant this run for (a run caught up late still decides
            # for its own day); a run started by hand has none and takes the workflow's clock.
            scheduled = workflow.info().typed_search_attributes.get(SCHEDULED_AT)
            input = input.model_copy(update={"at": scheduled or workflow.now()})
        result: MonthlyReportResult = await workflow.execute_activity_method(
            MonthlyReportActivities.deliver,
            input,
            # Building the page draws three charts; sending is one request.
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=5),
                maximum_interval=timedelta(minutes=5),
                # A day's worth of tries at most: tomorrow is not the first working day.
                maximum_attempts=60,
            ),
        )
        return result
