"""Record workflow histories for the replay tests: `python -m tests.record_histories`.

Run it when a deliberate workflow change (behind `workflow.patched`) is made, and commit the new
files beside the old ones: old histories must keep replaying for as long as tickets that started
under them may be running.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from temporalio import activity

from slawatch.models import (
    AcknowledgeInput,
    CloseInput,
    FirstResponseInput,
    PauseInput,
    ReclassifyInput,
    ResolveInput,
    ResumeInput,
)
from slawatch.outbound import Customer, DeliveryInput, DeliveryResult
from tests.harness import Harness, harness
from tests.outbound_fixtures import outbound_harness, policy_with

HERE = Path(__file__).parent / "histories"
BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY = datetime(2026, 12, 8, 8, 0, tzinfo=BERLIN)


async def typical(h: Harness) -> list[str]:
    """Open, respond, resolve, close: the life of most tickets."""
    handle = await h.open("prokuria", "H-typical", severity="major", opened_at=TUESDAY)
    await h.advance_to(TUESDAY + timedelta(minutes=20))
    await h.update(handle, "first_response", FirstResponseInput(by="agent"))
    await h.advance_to(TUESDAY + timedelta(hours=5))
    await h.update(handle, "resolve", ResolveInput())
    await h.update(handle, "close", CloseInput())
    await handle.result()
    return [handle.id]


async def critical_ladder(h: Harness) -> list[str]:
    """A critical ticket nobody answers: warnings, breach, three rounds of the ladder."""
    opened = TUESDAY - timedelta(hours=5)
    handle = await h.open("prokuria", "H-ladder", severity="critical", opened_at=opened)
    await h.advance_to(opened + timedelta(hours=4))
    status = await h.status(handle)
    await h.update(handle, "resolve", ResolveInput())
    await h.update(handle, "close", CloseInput())
    await handle.result()
    return [handle.id, status.breaches[0].escalation_workflow_id]


async def reclassify_ack_pause(h: Harness) -> list[str]:
    """Reclassified to critical, acknowledged, paused and resumed, then resolved."""
    handle = await h.open("prokuria", "H-mixed", opened_at=TUESDAY)
    await h.advance_to(TUESDAY + timedelta(hours=2))
    status = await h.update(handle, "reclassify", ReclassifyInput(severity="critical", reason="r"))
    await h.advance_to(TUESDAY + timedelta(hours=2, minutes=3))
    await h.update(handle, "acknowledge", AcknowledgeInput(responder="ana", channel="sms"))
    await h.update(handle, "first_response", FirstResponseInput())
    await h.update(handle, "pause", PauseInput(reason="logs"))
    await h.advance_to(TUESDAY + timedelta(hours=6))
    await h.update(handle, "resume", ResumeInput())
    await h.update(handle, "resolve", ResolveInput())
    await h.update(handle, "close", CloseInput())
    await handle.result()
    return [handle.id, status.breaches[0].escalation_workflow_id]


async def outbound(h: Harness) -> list[str]:
    """A ticket with a webhook and a customer: receipt, warnings, breach, acknowledgement,
    reclassification notice, met (patch outbound-webhooks)."""
    customer = Customer(email="client@customer.example", zone="Europe/Bucharest", language="ro")
    opened = TUESDAY - timedelta(hours=5)
    handle = await h.open(
        "prokuria", "H-outbound", severity="critical", opened_at=opened, customer=customer
    )
    await h.advance_to(opened + timedelta(minutes=61))
    await h.update(handle, "acknowledge", AcknowledgeInput(responder="ana", channel="api"))
    await h.update(handle, "reclassify", ReclassifyInput(severity="minor", reason="workaround"))
    await h.update(handle, "resolve", ResolveInput())
    await h.update(handle, "close", CloseInput())
    await handle.result()
    status = await h.status(handle)
    return [handle.id, status.breaches[0].escalation_workflow_id]


@activity.defn(name="deliver_webhook")
async def deliver_webhook(input: DeliveryInput) -> DeliveryResult:
    """A stand-in: every delivery succeeds at once."""
    return DeliveryResult(status=200)


@activity.defn(name="send_customer_notice")
async def send_customer_notice(input: DeliveryInput) -> DeliveryResult:
    return DeliveryResult(status=202)


def outbound_stand_ins(h: Harness) -> list[object]:
    return [deliver_webhook, send_customer_notice]


@asynccontextmanager
async def outbound_env() -> AsyncIterator[Harness]:
    with tempfile.TemporaryDirectory() as root:
        section = "outbound:\n  notices: {languages: [en, ro]}\n  webhooks:\n"
        section += "    - {name: ops, url: 'https://hooks.example.test/sla'}\n"
        policy_dir = policy_with(Path(root), "prokuria", section)
        async with outbound_harness(policy_dir, outbound_stand_ins) as h:
            yield h


SCENARIOS: dict[str, Callable[[Harness], Awaitable[list[str]]]] = {
    "typical": typical,
    "critical_ladder": critical_ladder,
    "reclassify_ack_pause": reclassify_ack_pause,
    "outbound": outbound,
}


async def record(name: str) -> dict[str, int]:
    lengths = {}
    env = outbound_env() if name == "outbound" else harness()
    async with env as h:
        await h.advance_to(TUESDAY - timedelta(hours=5))
        for wf_id in await SCENARIOS[name](h):
            history = await h.client.get_workflow_handle(wf_id).fetch_history()
            # The file name carries the workflow ID: replay needs it (child IDs derive from it).
            # IDs hold "/" ("ticket/{tenant}/{id}"), never "+": "+" stands for it in the name.
            (HERE / f"{name}--{wf_id.replace('/', '+')}.json").write_text(history.to_json())
            lengths[wf_id] = len(history.events)
    return lengths


async def main() -> None:
    HERE.mkdir(exist_ok=True)
    # `python -m tests.record_histories outbound` records only the scenarios named.
    for name in sys.argv[1:] or SCENARIOS:
        for label, count in (await record(name)).items():
            print(f"{label}: {count} history events")


if __name__ == "__main__":
    asyncio.run(main())
