"""Fault test across hosts: two workers share the PostgreSQL send ledger, and one of them is
killed -9 at the worst moment for exactly-once. "Exactly once" is counted at the stand-ins."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from slawatch.models import ticket_workflow_id
from slawatch.tools.process import poll_until
from tests.fault_fixtures import TENANT, Rig, fault_policy, step


def key(ticket_id: str, label: str, channel: str) -> str:
    """The idempotency key of one step's send to the emergency line (workflows/dispatch.py)."""
    return f"{ticket_workflow_id(TENANT, ticket_id)}/response-1/{label}/{channel}/emergency_line"


async def test_two_workers_sharing_a_postgres_ledger_one_killed_after_a_call_page_once(
    rig: Rig, ledger_url: str
) -> None:
    # Two workers on one ticket queue, each with its own data_dir (its own "host"), sharing the
    # PostgreSQL ledger. Whichever records the first call as sent is killed -9 at once, before
    # Temporal hears of it: Temporal retries that call on the other worker 30 s later
    # (start_to_close), and only the shared ledger can tell that worker it already went out.
    # (With each worker on its own SQLite file instead, this test fails: the call goes twice.)
    rig.ledger_url = ledger_url
    rig.write_policy(fault_policy(3, [step("sms", 4), step("voice", 60)]))
    marker = rig.root / "killed-after-call"
    hosts = [rig.root / "host-a", rig.root / "host-b"]
    workers = await asyncio.gather(
        *(rig.start_worker(data_dir=h, crash_marker=marker) for h in hosts)
    )
    ids = rig.ticket_ids(6)
    sms = {key(t, "r1s1", "sms") for t in ids}
    calls = {key(t, "r1s2", "voice") for t in ids}
    began = time.monotonic()
    for ticket_id in ids:  # 0.4 s apart, so no other send is mid-request at the kill
        await rig.open([ticket_id])
        await asyncio.sleep(0.4)

    await poll_until("a worker to kill itself after a call", lambda: marker.exists(), limit=60)
    victim = marker.read_text()
    [dead] = [w for w in workers if (await _exited(w))]
    assert dead.returncode == -9
    at_kill = rig.ledger()
    in_flight = {k for k, v in at_kill.items() if v[0] == "sending"}
    assert at_kill[victim][0] == "sent" and victim in calls

    async def every_ticket_has_its_call() -> bool:
        return all(len(s.sent) == 2 for s in await rig.statuses(ids))

    while not await every_ticket_has_its_call():  # the victim's call only after its retry
        assert time.monotonic() - began < 90, "a call never completed"
        await asyncio.sleep(0.5)
    took = time.monotonic() - began

    counts = rig.delivered("sms") | rig.delivered("voice")
    assert counts.keys() == sms | calls, "a step was skipped, or one nobody asked for went out"
    assert counts[victim] == 1, "the call retried on the other worker went out again"
    repeated = {k for k, n in counts.items() if n > 1}
    assert repeated <= in_flight, f"sent twice though not in flight at the kill: {repeated}"
    for status in await rig.statuses(ids):
        assert [(n.channel.value, n.ok) for n in status.sent] == [("sms", True), ("voice", True)]
    # The retry really ran, on the survivor, and the ledger answered it (the victim died before
    # it could log its send).
    answered = [
        line
        for log in rig.root.glob("worker-*.log")
        for line in map(_json, log.read_text(errors="replace").splitlines())
        if line.get("key") == victim and line.get("event") == "notify.send"
    ]
    assert [line["outcome"] for line in answered] == ["duplicate"], answered
    print(
        f"two workers, shared PostgreSQL ledger: 6 tickets, one worker killed -9 after its "
        f"call {victim.split('/response-')[0]}; {len(in_flight)} sends in flight at the kill; "
        f"every page once; all calls done {took:.1f} s after opening"
    )


def _json(line: str) -> dict[str, Any]:
    try:
        found = json.loads(line)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


async def _exited(proc: asyncio.subprocess.Process) -> bool:
    try:
        await asyncio.wait_for(proc.wait(), timeout=5)
    except TimeoutError:
        return False
    return True
