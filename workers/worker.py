"""The slawatch worker: settings → Temporal client → vendor clients → Temporal workers."""

from __future__ import annotations

import asyncio
import signal
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker

from activities.notify import notification_activities
from activities.oncall import NoOverrides, OnCallActivities
from activities.overrides import OverrideStore, open_override_store
from activities.policy import PolicyActivities
from activities.records import open_records
from activities.records.activities import RecordActivities
from activities.records.store import RecordStore
from slawatch.search_attributes import indexed_value_type
from slawatch.secret_specs import parse_secrets
from slawatch.settings import Settings, notify_queue_for, outbound_queue_for, reports_queue_for
from slawatch.telemetry import runtime_for
from slawatch.temporal import connect
from workers.cache import max_cached_workflows
from workers.collector import Collector, EvictionCountingRunner, evictions_per_full
from workers.sandbox import workflow_runner as workflow_runner  # re-exported: replayers use it
from workflows.escalation import EscalationWorkflow
from workflows.report import MonthlyReportWorkflow
from workflows.search import DEFINITIONS
from workflows.ticket import TicketSlaWorkflow

log = structlog.get_logger()

WORKFLOWS = [TicketSlaWorkflow, EscalationWorkflow]


def ticket_worker(
    client: Client,
    task_queue: str,
    policy_dir: Any,
    records: RecordActivities | None = None,
    overrides: OverrideStore | None = None,
    on_evicted: Callable[[], None] | None = None,
    **options: Any,
) -> Worker:
    """Runs ticket and escalation workflows, the tickets' SLA record writes, the activity that
    resolves on-call schedules when a step pages (over `overrides`; none when not given), and
    the one that snapshots policies for tickets opened before intake passed the snapshot
    (docs/design.md, "State at start"). Without `records` (tests that don't read them) the
    records go to a SQLite file in a new temporary directory; `run_worker` passes the settings'
    store. `on_evicted` is called for every workflow that leaves the worker's cache
    (workers/collector.py)."""
    if records is None:
        # In memory-backed /dev/shm where there is one: tests time pages to the second, and a
        # loaded disk must not make a record write hold the time-skipping server.
        shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
        scratch = Path(tempfile.mkdtemp(prefix="slawatch-records-", dir=shm)) / "records.sqlite3"
        records = RecordActivities(lambda: RecordStore(scratch))
    oncall = OnCallActivities(policy_dir, overrides if overrides is not None else NoOverrides())
    runner = workflow_runner()
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[
            PolicyActivities(policy_dir).snapshot_policy,
            records.record_milestone,
            oncall.resolve_roles,
        ],
        workflow_runner=EvictionCountingRunner(runner, on_evicted) if on_evicted else runner,
        **options,
    )


def notify_worker(
    client: Client,
    ticket_task_queue: str,
    activities: Sequence[Callable[..., Any]],
    rate_per_second: float | None,
    **options: Any,
) -> Worker:
    """Runs the notification activities on their own queue, rate-limited across all workers."""
    return Worker(
        client,
        task_queue=notify_queue_for(ticket_task_queue),
        activities=activities,
        max_task_queue_activities_per_second=rate_per_second,
        **options,
    )


def outbound_worker(
    client: Client, ticket_task_queue: str, activities: Sequence[Callable[..., Any]], **options: Any
) -> Worker:
    """Runs webhook, write-back and customer-notice deliveries on their own queue: a receiver
    that is down keeps its retries there, out of the notifications' rate limit."""
    return Worker(
        client, task_queue=outbound_queue_for(ticket_task_queue), activities=activities, **options
    )


def outbound_activities(settings: Settings) -> list[Callable[..., Any]]:
    """Deliveries over the settings' secrets; notices through SendGrid and the send ledger."""
    from activities.clients import vendors_from_settings  # here: see report_activities
    from activities.ledger import open_ledger  # here: see report_activities
    from activities.notify import NotificationActivities  # here: see report_activities
    from activities.outbound import OutboundActivities  # here: see report_activities

    telephony, mailer = vendors_from_settings(settings)
    notify = NotificationActivities(
        telephony, mailer, open_ledger(settings), settings.public_base_url
    )
    spec = {
        name: parse_secrets(value.get_secret_value(), f"SLAWATCH_{name.upper()}")
        for name, value in (
            ("webhook_secrets", settings.webhook_secrets),
            ("zendesk_api_tokens", settings.zendesk_api_tokens),
            ("jira_api_tokens", settings.jira_api_tokens),
        )
    }
    return OutboundActivities(
        spec["webhook_secrets"],
        spec["zendesk_api_tokens"],
        spec["jira_api_tokens"],
        notify.send_email,
        settings.policy_dir,
    ).all()


def report_worker(
    client: Client, ticket_task_queue: str, activities: Sequence[Callable[..., Any]], **options: Any
) -> Worker:
    """Runs the monthly report workflow and its delivery activity on their own queue."""
    return Worker(
        client,
        task_queue=reports_queue_for(ticket_task_queue),
        workflows=[MonthlyReportWorkflow],
        activities=activities,
        workflow_runner=workflow_runner(),
        **options,
    )


def report_activities(settings: Settings) -> list[Callable[..., Any]]:
    """The delivery activity over the settings' record store, SendGrid client and ledger."""
    # Imported here, as the next two: vendor clients and databases load only where a worker
    # runs these activities, not in every process that imports the worker's wiring.
    from activities.clients import SendGridMailer, sendgrid_client
    from activities.ledger import open_ledger  # here: see above
    from activities.records.monthly import MonthlyReportActivities  # here: see above

    mailer = SendGridMailer(sendgrid_client(settings), settings.email_from)
    # The record store is opened at the first delivery (its database may be elsewhere).
    deliver = MonthlyReportActivities(
        lambda: open_records(settings), mailer, open_ledger(settings), settings.policy_dir
    ).deliver
    return [deliver]


async def run_worker(
    settings: Settings, stop: asyncio.Event | None = None, processes: int = 1
) -> None:
    """Run until `stop` is set (or SIGINT/SIGTERM), then shut down gracefully. `processes`:
    how many worker processes share this host's SLAWATCH_WORKER_MEMORY_MB (one is this one)."""
    # The sandbox imports the workflow modules afresh for every workflow run; without cached
    # bytecode (PYTHONDONTWRITEBYTECODE is set on some machines) it compiles them every time.
    sys.dont_write_bytecode = False
    # The runtime serves /metrics (SDK + slawatch_*) when SLAWATCH_METRICS_BIND_ADDRESS is set.
    client = await connect(settings, runtime_for(settings))
    notify = notification_activities(settings)
    stop = stop or _stop_on_signals()
    cached = max_cached_workflows(
        settings.worker_memory_mb, processes, settings.worker_max_cached_workflows
    )
    # Full collections that walk only what changed since the last (workers/collector.py).
    collector = Collector(evictions_per_full(cached)) if settings.worker_gc == "frozen" else None
    threads = settings.worker_workflow_threads
    executor = ThreadPoolExecutor(threads, "slawatch_workflow_") if threads else None
    workers = [
        ticket_worker(
            client,
            settings.ticket_task_queue,
            settings.policy_dir,
            # Opened at the first write: a database down at start does not stop the worker.
            records=RecordActivities(lambda: open_records(settings)),
            overrides=open_override_store(settings),
            max_cached_workflows=cached,
            workflow_task_executor=executor,
            max_concurrent_workflow_tasks=settings.worker_workflow_tasks,
            workflow_task_poller_behavior=PollerBehaviorSimpleMaximum(
                maximum=settings.worker_workflow_polls
            ),
            on_evicted=collector.evicted if collector else None,
            sticky_queue_schedule_to_start_timeout=timedelta(
                seconds=settings.worker_sticky_timeout_seconds
            ),
        ),
        notify_worker(client, settings.ticket_task_queue, notify, settings.notify_rate_per_second),
        report_worker(client, settings.ticket_task_queue, report_activities(settings)),
        outbound_worker(client, settings.ticket_task_queue, outbound_activities(settings)),
    ]
    log.info(
        "worker_started",
        temporal=settings.temporal_address,
        namespace=settings.temporal_namespace,
        task_queue=settings.ticket_task_queue,
        max_cached_workflows=cached,
        gc=settings.worker_gc,
    )
    if collector:
        collector.install()
    tasks = [asyncio.create_task(w.run()) for w in workers]
    await stop.wait()
    log.info("worker_stopping")
    await asyncio.gather(*(w.shutdown() for w in workers))
    await asyncio.gather(*tasks, return_exceptions=True)
    if executor is not None:
        executor.shutdown()
    if collector:
        collector.uninstall()
        log.info(
            "worker_stopped",
            full_collections=collector.full_collections,
            unfreezes=collector.unfreezes,
        )
    else:
        log.info("worker_stopped")


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def ensure_search_attributes(client: Client) -> None:
    """Register slawatch's search attributes on the namespace (idempotent)."""
    for name, kind in DEFINITIONS.items():
        # One at a time, so that one already registered doesn't hide another that is missing
        # (and the time-skipping test server has no List call to ask first).
        request = AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={name: indexed_value_type(kind)},
        )
        try:
            await client.operator_service.add_search_attributes(request)
        except RPCError as err:
            if err.status != RPCStatusCode.ALREADY_EXISTS:
                raise
