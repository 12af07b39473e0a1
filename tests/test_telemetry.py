"""slawatch metrics on the SDK runtime's real Prometheus endpoint, scraped over loopback."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from slawatch.settings import Settings
from slawatch.tools.binaries import find_binary

# The sandbox re-imports this module for the probe workflow: pass I/O (httpx) through.
with workflow.unsafe.imports_passed_through():
    from slawatch import telemetry
    from tests.metrics_probe import free_port, matching, scrape

WF = "MetricsProbeWorkflow"


def series(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


@pytest.fixture(scope="module")
def metrics() -> tuple[Runtime, str]:
    address = f"127.0.0.1:{free_port()}"
    return telemetry.runtime_for(Settings(metrics_bind_address=address)), address


def test_counters_and_lag_histogram_are_served(metrics: tuple[Runtime, str]) -> None:
    runtime, address = metrics
    meter = runtime.metric_meter
    telemetry.record_breach(meter, "prokuria", "critical", "response")
    telemetry.record_breach(meter, "prokuria", "critical", "response")
    telemetry.record_breach(meter, "cargotask", "standard", "resolution")
    telemetry.record_withdrawal(meter, "prokuria", "critical", "response")
    telemetry.record_notification(meter, "prokuria", "sms", "sent")
    telemetry.record_notification(meter, "prokuria", "voice", "failed")
    telemetry.record_acknowledgement(meter, "prokuria", "sms")
    telemetry.record_page_lag(meter, "prokuria", "sms", 3.5)
    telemetry.record_page_lag(meter, "prokuria", "sms", 400.0)
    # Clock skew between hosts: counted as an immediate page, not a negative sum.
    telemetry.record_page_lag(meter, "prokuria", "sms", -0.2)

    got = scrape(address)
    breaches = "slawatch_breaches_total"
    assert got[series(breaches, tenant="prokuria", severity="critical", kind="response")] == 2
    assert got[series(breaches, tenant="cargotask", severity="standard", kind="resolution")] == 1
    withdrawn = "slawatch_breaches_withdrawn_total"
    assert got[series(withdrawn, tenant="prokuria", severity="critical", kind="response")] == 1
    notes = "slawatch_notifications_total"
    assert got[series(notes, tenant="prokuria", channel="sms", outcome="sent")] == 1
    assert got[series(notes, tenant="prokuria", channel="voice", outcome="failed")] == 1
    assert got[series("slawatch_acknowledgements_total", tenant="prokuria", channel="sms")] == 1

    lag = {"tenant": "prokuria", "channel": "sms"}
    assert got[series("slawatch_page_lag_seconds_count", **lag)] == 3
    assert got[series("slawatch_page_lag_seconds_sum", **lag)] == pytest.approx(403.5)
    # Seconds buckets, not the SDK's millisecond defaults: 0 and 3.5 s fall at or under 5.
    assert got[series("slawatch_page_lag_seconds_bucket", le="1", **lag)] == 1
    assert got[series("slawatch_page_lag_seconds_bucket", le="5", **lag)] == 2
    assert got[series("slawatch_page_lag_seconds_bucket", le="300", **lag)] == 2
    assert got[series("slawatch_page_lag_seconds_bucket", le="600", **lag)] == 3


def test_delivery_failures_exhausted_ladders_and_lag_stages_are_served(
    metrics: tuple[Runtime, str],
) -> None:
    runtime, address = metrics
    meter = runtime.metric_meter
    telemetry.record_delivery_failure(meter, "twilio", "sms", "account")
    telemetry.record_delivery_failure(meter, "twilio", "sms", "account")
    telemetry.record_delivery_failure(meter, "sendgrid", "email", "recipient")
    telemetry.record_escalation_exhausted(meter, "cargotask", "critical")
    telemetry.record_page_lag(meter, "cargotask", "voice", 40.0, first_step=True, emergency=True)
    telemetry.record_page_lag(meter, "cargotask", "voice", 700.0, first_step=False, emergency=True)

    got = scrape(address)
    failures = "slawatch_delivery_failures_total"
    assert got[series(failures, vendor="twilio", channel="sms", scope="account")] == 2
    assert got[series(failures, vendor="sendgrid", channel="email", scope="recipient")] == 1
    exhausted = "slawatch_escalations_exhausted_total"
    assert got[series(exhausted, tenant="cargotask", severity="critical")] == 1
    first = {"tenant": "cargotask", "channel": "voice", "emergency": "true", "step": "first"}
    later = {**first, "step": "later"}
    assert got[series("slawatch_page_lag_seconds_bucket", le="60", **first)] == 1
    assert got[series("slawatch_page_lag_seconds_bucket", le="600", **later)] == 0
    assert got[series("slawatch_page_lag_seconds_count", **later)] == 1


def test_unknown_failure_scope_is_refused(metrics: tuple[Runtime, str]) -> None:
    with pytest.raises(ValueError, match="scope"):
        telemetry.record_delivery_failure(metrics[0].metric_meter, "twilio", "sms", "transient")


def test_nan_lag_is_refused(metrics: tuple[Runtime, str]) -> None:
    with pytest.raises(ValueError, match="NaN"):
        telemetry.record_page_lag(metrics[0].metric_meter, "prokuria", "sms", float("nan"))


@pytest.mark.parametrize("value", ["9464", "metrics:port", ":9464", "0.0.0.0:70000"])
def test_bad_bind_address_names_the_setting(value: str) -> None:
    with pytest.raises(ValueError, match="SLAWATCH_METRICS_BIND_ADDRESS"):
        telemetry.runtime_for(Settings(metrics_bind_address=value))


def test_bind_address_in_use_names_the_setting(metrics: tuple[Runtime, str]) -> None:
    with pytest.raises(ValueError, match=r"SLAWATCH_METRICS_BIND_ADDRESS.*cannot serve"):
        telemetry.runtime_for(Settings(metrics_bind_address=metrics[1]))


def test_metrics_off_uses_the_default_runtime() -> None:
    assert telemetry.runtime_for(Settings()) is Runtime.default()


@activity.defn(name="metrics_probe_notify")
async def notify(tenant: str) -> None:
    telemetry.record_notification(activity.metric_meter(), tenant, "email", "sent")


@workflow.defn(name=WF, sandboxed=True)
class MetricsProbeWorkflow:
    """Records a breach, sleeps (forcing a replay with no cache), then notifies."""

    @workflow.run
    async def run(self, tenant: str) -> None:
        telemetry.record_breach(workflow.metric_meter(), tenant, "major", "response")
        await workflow.sleep(timedelta(hours=2))
        await workflow.execute_activity(
            notify, tenant, start_to_close_timeout=timedelta(seconds=10)
        )


async def test_workflow_and_activity_meters_share_the_endpoint(
    metrics: tuple[Runtime, str],
) -> None:
    runtime, address = metrics
    tenant = f"probe-{uuid.uuid4().hex[:8]}"
    queue = f"telemetry-{uuid.uuid4()}"
    async with (
        await WorkflowEnvironment.start_time_skipping(
            runtime=runtime,
            data_converter=pydantic_data_converter,
            test_server_existing_path=find_binary("temporal-test-server"),
        ) as env,
        # No cache: the second workflow task replays the first, which must not count again.
        Worker(
            env.client,
            task_queue=queue,
            workflows=[MetricsProbeWorkflow],
            activities=[notify],
            max_cached_workflows=0,
        ),
    ):
        await env.client.execute_workflow(
            MetricsProbeWorkflow.run, tenant, id=f"probe-{tenant}", task_queue=queue
        )

    got = scrape(address)
    # Workflow and activity meters add namespace, task_queue and workflow/activity type.
    assert matching(got, "slawatch_breaches_total", tenant=tenant, workflow_type=WF) == [1]
    sent = matching(got, "slawatch_notifications_total", tenant=tenant, outcome="sent")
    assert sent == [1]
    # The SDK's own series share the endpoint, under the names the dashboard queries.
    assert matching(got, "temporal_workflow_completed_total", task_queue=queue) == [1]
