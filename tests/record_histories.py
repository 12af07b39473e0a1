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

from policies.loader import BUILTIN_DIR
from policies.oncall import Override
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
from tests.grouping_fixtures import TENANT as GROUPING_TENANT
from tests.grouping_fixtures import grouping_harness
from tests.harness import Harness, harness, workflow_exists
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


# Prokuria with `primary` a weekly rotation (ana, bogdan, carmen from Sunday 29 November 2026).
ONCALL_POLICY = (BUILTIN_DIR / "prokuria.yaml").read_text(encoding="utf-8").replace(
    "  primary: [ana]\n", ""
) + (
    "schedules:\n  primary:\n    layers:\n      - name: weekly\n"
    "        participants: [ana, bogdan, carmen]\n        rotation: weekly\n"
    '        handoff: "09:00"\n        timezone: Europe/Bucharest\n        start: 2026-11-29\n'
)


async def oncall_ladder(h: Harness) -> list[str]:
    """Critical, primary a schedule: step 1 (the ticket) and step 2 (the escalation) ask who is
    on call as they page; an override made after opening covers step 2; acknowledged."""
    opened = TUESDAY - timedelta(hours=5)
    handle = await h.open("prokuria", "H-oncall", severity="critical", opened_at=opened)
    await h.advance_to(opened + timedelta(hours=1, minutes=2))
    assert h.overrides is not None
    h.overrides.add(
        Override(
            id="ovr_history",
            tenant="prokuria",
            role="primary",
            person="carmen",
            replaces="bogdan",
            starts_at=opened,
            ends_at=opened + timedelta(hours=3),
            created_at=await h.now(),
        )
    )
    await h.advance_to(opened + timedelta(hours=1, minutes=6))
    status = await h.update(handle, "acknowledge", AcknowledgeInput(responder="api", channel="api"))
    await h.update(handle, "resolve", ResolveInput())
    await h.update(handle, "close", CloseInput())
    await handle.result()
    return [handle.id, status.breaches[0].escalation_workflow_id]


async def outage_grouping(h: Harness) -> list[str]:
    """Two tickets breach together: the first pages at once, the second is folded into the
    group's digest; one group acknowledgement stops both (patch outage-grouping)."""
    first = await h.open(GROUPING_TENANT, "H-lead")
    await h.sleep(timedelta(seconds=1))  # H-lead breaches first and leads
    folded = await h.open(GROUPING_TENANT, "H-folded")
    await h.sleep(timedelta(seconds=61))
    await h.sleep(timedelta(seconds=121))
    status = await h.status(folded)
    page = next(n for n in status.sent if n.folded)
    for handle in (first, folded):
        ack = AcknowledgeInput(
            responder="ana",
            channel="sms",
            phone=page.to,
            received_at=await h.now(),
            group=page.group,
        )
        await h.update(handle, "acknowledge", ack)
    for handle in (first, folded):
        await h.update(handle, "close", CloseInput())
    for handle in (first, folded):
        await handle.result()
    return [first.id, folded.id, status.breaches[0].escalation_workflow_id]


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


async def late_events(h: Harness) -> list[str]:
    """Events sent with the help desk's instants (patch event-times): a critical ticket breached
    at 60 min, its first response from 59 min reported at 63 (the breach withdrawn, the ladder
    stopped), then paused, resumed and resolved at reported instants, and closed."""
    opened = TUESDAY - timedelta(hours=3)
    handle = await h.open("prokuria", "H-late", severity="critical", opened_at=opened)
    await h.advance_to(opened + timedelta(minutes=63))
    status = await h.status(handle)
    answered = FirstResponseInput(at=opened + timedelta(minutes=59), by="agent")
    await h.update(handle, "first_response", answered)
    await h.advance_to(opened + timedelta(minutes=90))
    await h.update(handle, "pause", PauseInput(at=opened + timedelta(minutes=70)))
    await h.update(handle, "resume", ResumeInput(at=opened + timedelta(minutes=85)))
    await h.update(handle, "resolve", ResolveInput(at=opened + timedelta(minutes=88)))
    await h.update(handle, "close", CloseInput())
    await handle.result()
    return [handle.id, status.breaches[0].escalation_workflow_id]


SCENARIOS: dict[str, Callable[[Harness], Awaitable[list[str]]]] = {
    "typical": typical,
    "critical_ladder": critical_ladder,
    "reclassify_ack_pause": reclassify_ack_pause,
    "oncall_ladder": oncall_ladder,
    "outage_grouping": outage_grouping,
    "outbound": outbound,
    "late_events": late_events,
}
# The policy text a scenario runs under, when not the built-in seeds.
POLICIES = {"oncall_ladder": ONCALL_POLICY}
# Scenarios whose notifications must be the real activities (outage groups, digests).
REAL_NOTIFY = {"outage_grouping"}


@asynccontextmanager
async def harness_for(name: str, policy_dir: Path | None) -> AsyncIterator[Harness]:
    if name == "outbound":
        async with outbound_env() as h:
            yield h
        return
    if name not in REAL_NOTIFY:
        async with harness(policy_dir) as h:
            yield h
        return
    with tempfile.TemporaryDirectory() as root:
        async with grouping_harness(Path(root)) as (h, _):
            yield h


async def record(name: str) -> dict[str, int]:
    lengths: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if name in POLICIES:
            (Path(tmp) / "prokuria.yaml").write_text(POLICIES[name], encoding="utf-8")
        return await _record(name, Path(tmp) if name in POLICIES else None, lengths)


async def _record(name: str, policy_dir: Path | None, lengths: dict[str, int]) -> dict[str, int]:
    async with harness_for(name, policy_dir) as h:
        await h.advance_to(TUESDAY - timedelta(hours=5))
        for wf_id in await SCENARIOS[name](h):
            if not await workflow_exists(h.client, wf_id):
                continue  # an escalation acknowledged in its first ack window never starts
            history = await h.client.get_workflow_handle(wf_id).fetch_history()
            # The file name carries the workflow ID: replay needs it (child IDs derive from it).
            # IDs hold "/" ("ticket/{tenant}/{id}"), never "+": "+" stands for it in the name.
            (HERE / f"{name}--{wf_id.replace('/', '+')}.json").write_text(history.to_json())
            lengths[wf_id] = len(history.events)
    return lengths


async def main(names: list[str]) -> None:
    """Record the scenarios named (all when none): `python -m tests.record_histories NAME`."""
    HERE.mkdir(exist_ok=True)
    for name in names or SCENARIOS:
        for label, count in (await record(name)).items():
            print(f"{label}: {count} history events")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
