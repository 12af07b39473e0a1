"""The real activities under a real Temporal worker: retries send again, rejections stop at once."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.notify import notification_activities
from slawatch.models import SendResult, SendSmsInput
from slawatch.settings import Settings
from slawatch.tools.standins.faults import FaultPlan
from slawatch.tools.standins.stack import Standins
from tests import standins_fixtures
from tests.harness import time_skipping_server
from tests.standins_fixtures import twilio_lines_for, unique_key

# Registered here until tests/conftest.py imports them (one Prism is shared either way).
standins = standins_fixtures.standins
standins_settings = standins_fixtures.standins_settings


@workflow.defn(sandboxed=False)
class PageOnce:
    """Sends one SMS the way the escalation does; returns the result or the rejection text."""

    @workflow.run
    async def run(self, input: SendSmsInput) -> str:
        try:
            result = await workflow.execute_activity(
                "send_sms",
                input,
                result_type=SendResult,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(milliseconds=50),
                    maximum_attempts=5,
                    non_retryable_error_types=["NotificationRejected"],
                ),
            )
        except ActivityError as err:
            assert isinstance(err.cause, ApplicationError) and err.retry_state is not None
            return f"{err.cause.type}: {err.retry_state.name}"
        return f"sent {result.provider_id} duplicate={result.duplicate}"


async def page(settings: Settings, to: str, key: str) -> str:
    queue = f"notify-{uuid.uuid4()}"
    async with (
        await WorkflowEnvironment.start_time_skipping(
            data_converter=pydantic_data_converter,
            test_server_existing_path=time_skipping_server(),
        ) as env,
        Worker(
            env.client,
            task_queue=queue,
            workflows=[PageOnce],
            activities=notification_activities(settings),
            workflow_runner=UnsandboxedWorkflowRunner(),
        ),
    ):
        arg = SendSmsInput(
            to=to,
            body="slawatch: page",
            idempotency_key=key,
            ticket_workflow_id="ticket-prokuria-T-1",
            breach_id="breach-1",
        )
        return await env.client.execute_workflow(
            PageOnce.run, arg, id=f"page-{uuid.uuid4()}", task_queue=queue
        )


async def test_temporal_retries_through_an_outage_and_sends_once_it_ends(
    standins: Standins, standins_settings: Settings
) -> None:
    key = unique_key()
    standins.twilio.standin.faults = FaultPlan(fail_first=2)
    outcome = await page(standins_settings, "+40721555101", key)
    lines = twilio_lines_for(standins, key)
    assert [line["status"] for line in lines] == [500, 500, 201]
    # The SID Twilio (the stand-in) gave the one message that went.
    assert outcome == f"sent {lines[-1]['sid']} duplicate=False"


async def test_rejection_is_not_retried(standins: Standins, standins_settings: Settings) -> None:
    key = unique_key()
    outcome = await page(standins_settings, "+15005550001", key)
    assert outcome == "NotificationRejected: NON_RETRYABLE_FAILURE"
    assert [line["status"] for line in twilio_lines_for(standins, key)] == [400]


async def test_account_failure_is_retried_by_temporal_instead_of_moving_on(
    standins: Standins, standins_settings: Settings
) -> None:
    key = unique_key()
    standins.twilio.standin.faults = FaultPlan.parse("unauthorized=1")
    outcome = await page(standins_settings, "+40721555101", key)
    # Every attempt went to Twilio and got the account's 401: the retries were Temporal's.
    assert outcome == "DeliveryAccountFailure: MAXIMUM_ATTEMPTS_REACHED"
    assert [line["status"] for line in twilio_lines_for(standins, key)] == [401] * 5
