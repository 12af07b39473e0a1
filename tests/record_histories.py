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

from slawatch.models import (
    AcknowledgeInput,
    CloseInput,
    FirstResponseInput,
    PauseInput,
    ReclassifyInput,
    ResolveInput,
    ResumeInput,
)
from tests.grouping_fixtures import TENANT as GROUPING_TENANT
from tests.grouping_fixtures import grouping_harness
from tests.harness import Harness, harness

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


SCENARIOS: dict[str, Callable[[Harness], Awaitable[list[str]]]] = {
    "typical": typical,
    "critical_ladder": critical_ladder,
    "reclassify_ack_pause": reclassify_ack_pause,
    "outage_grouping": outage_grouping,
}
# Scenarios whose notifications must be the real activities (outage groups, digests).
REAL_NOTIFY = {"outage_grouping"}


@asynccontextmanager
async def harness_for(name: str) -> AsyncIterator[Harness]:
    if name not in REAL_NOTIFY:
        async with harness() as h:
            yield h
        return
    with tempfile.TemporaryDirectory() as root:
        async with grouping_harness(Path(root)) as (h, _):
            yield h


async def record(name: str) -> dict[str, int]:
    lengths = {}
    async with harness_for(name) as h:
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
    # `python -m tests.record_histories outage_grouping` records only the scenarios named.
    for name in sys.argv[1:] or SCENARIOS:
        for label, count in (await record(name)).items():
            print(f"{label}: {count} history events")


if __name__ == "__main__":
    asyncio.run(main())
