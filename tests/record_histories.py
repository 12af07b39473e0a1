"""Record workflow histories for the replay tests: `python -m tests.record_histories`.

Run it when a deliberate workflow change (behind `workflow.patched`) is made, and commit the new
files beside the old ones: old histories must keep replaying for as long as tickets that started
under them may be running.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
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
    "late_events": late_events,
}


async def record(name: str) -> dict[str, int]:
    lengths = {}
    async with harness() as h:
        await h.advance_to(TUESDAY - timedelta(hours=5))
        for wf_id in await SCENARIOS[name](h):
            history = await h.client.get_workflow_handle(wf_id).fetch_history()
            # The file name carries the workflow ID: replay needs it (child IDs derive from it).
            # IDs hold "/" ("ticket/{tenant}/{id}"), never "+": "+" stands for it in the name.
            (HERE / f"{name}--{wf_id.replace('/', '+')}.json").write_text(history.to_json())
            lengths[wf_id] = len(history.events)
    return lengths


async def main(names: list[str]) -> None:
    HERE.mkdir(exist_ok=True)
    for name in names or SCENARIOS:
        for label, count in (await record(name)).items():
            print(f"{label}: {count} history events")


if __name__ == "__main__":
    # `python -m tests.record_histories late_events` records one scenario; none: all of them.
    asyncio.run(main(sys.argv[1:]))
