"""A time-skipping harness whose notifications are the real activities (send ledger, outage
groups, digest) over a recording phone: for the grouping tests and recorded histories."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.digest import DigestActivities
from activities.grouping import SqliteGroupStore
from activities.ledger.sqlite import SqliteLedger
from activities.notify import NotificationActivities
from activities.vendors import Email
from slawatch.tools.testing import seconds_policy, step
from tests.harness import Harness, StandInNotifier, time_skipping_server
from workers.worker import ensure_search_attributes, notify_worker, ticket_worker

TENANT = "grp"
# Response due 60 s after opening; step 1 texts the emergency line and Ana; a 2-minute window.
POLICY = seconds_policy(
    TENANT,
    60,
    [step("sms", 600, "emergency_line: true, roles: [primary]"), step("voice", 600)],
    grouping_seconds=120,
)


@dataclass
class Phone:
    """Telephony that records what it was asked to send (the activities around it are real)."""

    texts: list[tuple[str, str, str]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    twiml: list[str] = field(default_factory=list)

    def send_sms(self, *, to: str, body: str, status_callback: str | None) -> str:
        sid = f"SM{len(self.texts) + 1:032x}"
        self.texts.append((to, body, sid))
        return sid

    def place_call(self, *, to: str, twiml: str, status_callback: str) -> str:
        self.calls.append(to)
        self.twiml.append(twiml)
        return f"CA{len(self.calls):032x}"

    def send_email(self, email: Email) -> str:
        return "email-id"


@asynccontextmanager
async def grouping_harness(root: Path) -> AsyncIterator[tuple[Harness, Phone]]:
    (root / "policies").mkdir()
    (root / "policies" / f"{TENANT}.yaml").write_text(POLICY)
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=time_skipping_server(),
    )
    phone = Phone()
    ledger = SqliteLedger(root / "ledger.sqlite3")
    groups = SqliteGroupStore(root / "ledger.sqlite3")
    notify = NotificationActivities(phone, phone, ledger, "https://hooks.example.test", groups)
    digest = DigestActivities(phone, groups, notify.send_once, "https://hooks.example.test")
    try:
        await ensure_search_attributes(env.client)
        queue = f"tickets-{uuid.uuid4().hex[:8]}"
        async with AsyncExitStack() as workers:
            await workers.enter_async_context(ticket_worker(env.client, queue, root / "policies"))
            activities = [*notify.all(), digest.send_digest]
            await workers.enter_async_context(notify_worker(env.client, queue, activities, None))
            h = Harness(env, env.client, queue, StandInNotifier(env), root / "policies")
            yield h, phone
    finally:
        await env.shutdown()
