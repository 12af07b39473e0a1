"""Write-back into the help desk: each SLA event becomes a private comment with the SLA's state
and due times on the Zendesk ticket or Jira issue it came from, through their REST APIs (local
stand-ins that check the request as the vendors document it)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from activities.outbound import OutboundActivities
from slawatch.models import FirstResponseInput
from slawatch.tools.standins.helpdesk_api import RunningHelpdeskApi, start_helpdesk_api
from slawatch.tools.standins.outbox import read_jsonl
from slawatch.tools.standins.tools import free_port
from tests.harness import Harness
from tests.outbound_fixtures import outbound_harness, policy_with

BERLIN = ZoneInfo("Europe/Berlin")
OPENED = datetime(2026, 12, 8, 8, 0, tzinfo=BERLIN)
ZENDESK = ("agent@prokuria.example", "zd-api-token-0123456789abcdef")
JIRA = ("bot@prokuria.example", "jira-api-token-0123456789abcdef")


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[RunningHelpdeskApi]:
    running = start_helpdesk_api(free_port(), tmp_path / "helpdesk.jsonl", ZENDESK, JIRA)
    yield running
    running.stop()


async def until(h: Harness, check: Callable[[], bool]) -> None:
    for _ in range(100):
        if check():
            return
        await h.env.sleep(timedelta(seconds=2))
        await asyncio.sleep(0.05)
    raise AssertionError("write-back did not arrive")


async def test_zendesk_and_jira_tickets_get_private_comments_with_the_due_times(
    desk: RunningHelpdeskApi, tmp_path: Path
) -> None:
    policy_dir = policy_with(
        tmp_path,
        "prokuria",
        "helpdesk:\n  zendesk: {}\n  jira: {}\n"
        "outbound:\n  max_backoff_seconds: 5\n  writeback:\n"
        f"    zendesk: {{url: '{desk.url}', events: [sla.at_risk, sla.breached, sla.met]}}\n"
        f"    jira: {{url: '{desk.url}'}}\n",
    )
    zendesk = {"prokuria": f"{ZENDESK[0]}:{ZENDESK[1]}"}
    jira = {"prokuria": f"{JIRA[0]}:{JIRA[1]}"}

    def lines() -> list[dict[str, Any]]:
        return read_jsonl(desk.standin.outbox.path)

    async with outbound_harness(
        policy_dir, lambda h: OutboundActivities({}, zendesk, jira).all()
    ) as h:
        await h.advance_to(OPENED)
        zd = await h.open("prokuria", "ZD-35436", severity="critical", opened_at=OPENED)
        sup = await h.open("prokuria", "SUP-501", severity="major", opened_at=OPENED)
        other = await h.open("prokuria", "T-9", severity="major", opened_at=OPENED)
        desk.standin.down = True  # maintenance: the comments wait, nothing is lost
        await h.advance_to(OPENED + timedelta(minutes=30))
        await until(h, lambda: 503 in desk.standin.answers)
        desk.standin.down = False
        await h.update(sup, "first_response", FirstResponseInput(by="agent"))
        await h.advance_to(OPENED + timedelta(minutes=61))
        await until(h, lambda: [x["vendor"] for x in lines()].count("zendesk") == 3)
        await until(h, lambda: [x["vendor"] for x in lines()].count("jira") == 1)
        history = b"".join([e.SerializeToString() async for e in zd.fetch_history_events()])
        others = b"".join([e.SerializeToString() async for e in other.fetch_history_events()])
    zd_lines = [x for x in lines() if x["vendor"] == "zendesk"]
    jira_lines = [x for x in lines() if x["vendor"] == "jira"]
    assert [x["ticket_id"] for x in zd_lines] == ["35436"] * 3
    assert all(x["public"] is False for x in zd_lines)
    assert zd_lines[0]["body"].startswith("slawatch: SLA at risk (response target), 50% used.")
    # Critical: response due 09:00 Berlin = 08:00Z, shown in every comment while it runs.
    assert "Response: at_risk, due 2026-12-08T08:00:00+00:00." in zd_lines[0]["body"]
    assert zd_lines[1]["body"].startswith("slawatch: SLA at risk (response target), 80% used.")
    assert zd_lines[2]["body"].startswith("slawatch: SLA breached (response target).")
    assert [x["issue"] for x in jira_lines] == ["SUP-501"] and jira_lines[0]["internal"] is True
    assert jira_lines[0]["body"].startswith("slawatch: SLA met (response target).")
    assert ZENDESK[1].encode() not in history and JIRA[1].encode() not in history
    # T-9 came from neither help desk: no write-back, no plan at all.
    assert b"write_back" not in others


async def test_a_refused_token_is_retried_and_never_written(
    desk: RunningHelpdeskApi, tmp_path: Path
) -> None:
    policy_dir = policy_with(
        tmp_path,
        "prokuria",
        "helpdesk:\n  zendesk: {}\n"
        f"outbound:\n  max_backoff_seconds: 5\n  writeback:\n    zendesk: {{url: '{desk.url}'}}\n",
    )
    wrong = {"prokuria": f"{ZENDESK[0]}:not-the-token"}
    async with outbound_harness(policy_dir, lambda h: OutboundActivities({}, wrong, {}).all()) as h:
        await h.advance_to(OPENED)
        await h.open("prokuria", "ZD-1", severity="critical", opened_at=OPENED)
        await h.advance_to(OPENED + timedelta(minutes=30))
        await until(h, lambda: desk.standin.answers.count(401) >= 2)
    assert read_jsonl(desk.standin.outbox.path) == []
