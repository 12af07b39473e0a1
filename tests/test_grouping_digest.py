"""The digest activity: one message per group however many ask, short, and only page facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree as ET

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.digest import DigestActivities
from activities.grouping import SqliteGroupStore
from activities.ledger.sqlite import SqliteLedger
from activities.notify import NotificationActivities
from policies.schema import Channel
from slawatch.models import PageGroup, SendDigestInput
from tests.grouping_fixtures import Phone

T0 = datetime(2026, 12, 2, 10, tzinfo=UTC)
LINE = "+40724011885"
HOOKS = "https://hooks.example.test"


def activities(root: Path) -> tuple[Phone, SqliteGroupStore, DigestActivities]:
    phone = Phone()
    groups = SqliteGroupStore(root / "l.sqlite3")
    notify = NotificationActivities(phone, phone, SqliteLedger(root / "l.sqlite3"), HOOKS, groups)
    return phone, groups, DigestActivities(phone, groups, notify.send_once, HOOKS)


def fold(groups: SqliteGroupStore, channel: str, count: int, long: bool = False) -> str:
    group = ""
    for n in range(count):
        page = PageGroup(
            tenant="prokuria",
            window_seconds=120,
            ticket_ref=f"prokuria/T-{n:03d}" + ("x" * 140 if long else ""),
            severity="critical",
            kind="response",
            at=T0 + timedelta(milliseconds=n),
        )
        group = groups.place(f"k{n}", LINE, channel, page).group
    return group


def ask(group: str, channel: Channel, to: str = LINE, n: int = 1) -> SendDigestInput:
    return SendDigestInput(
        group=group,
        channel=channel,
        to=to,
        idempotency_key=f"ticket/prokuria/T-{n:03d}/response-1/r1s1/{channel.value}/ana",
        ticket_workflow_id=f"ticket/prokuria/T-{n:03d}",
        breach_id="response-1",
    )


async def test_twenty_folded_pages_make_one_short_sms_whoever_asks(tmp_path: Path) -> None:
    phone, groups, digest = activities(tmp_path)
    group = fold(groups, "sms", 21)
    env = ActivityEnvironment()
    first = await env.run(digest.send_digest, ask(group, Channel.SMS, n=1))
    again = await env.run(digest.send_digest, ask(group, Channel.SMS, n=7))
    assert len(phone.texts) == 1 and again.provider_id == first.provider_id == phone.texts[0][2]
    assert again.duplicate and again.code == first.code and first.group == group
    [(to, body, _)] = phone.texts
    assert to == LINE and len(body) < 480, body  # three SMS segments at most
    assert body.startswith("slawatch: 20 more tickets breached: prokuria/T-001 (critical")
    assert "prokuria/T-008 (critical response) and 12 more." in body
    assert f"Reply {first.code} to acknowledge all 21 (with prokuria/T-000)" in body


async def test_long_references_keep_the_digest_under_twilios_limit(tmp_path: Path) -> None:
    phone, groups, digest = activities(tmp_path)
    group = fold(groups, "sms", 30, long=True)
    await ActivityEnvironment().run(digest.send_digest, ask(group, Channel.SMS))
    [(_, body, _)] = phone.texts
    assert len(body) < 1600 and "more. Reply" in body and "acknowledge all 30" in body


async def test_a_digest_call_asks_for_1_and_its_key_press_names_the_group(tmp_path: Path) -> None:
    phone, groups, digest = activities(tmp_path)
    group = fold(groups, "voice", 3)
    result = await ActivityEnvironment().run(digest.send_digest, ask(group, Channel.VOICE))
    assert result.ok and phone.calls == [LINE] and phone.twiml
    twiml = ET.fromstring(phone.twiml[0])
    gather = twiml.find("Gather")
    assert gather is not None
    query = parse_qs(urlsplit(gather.get("action", "")).query)
    assert query["group"] == [group] and query["wf"] == ["ticket/prokuria/T-001"]
    said = " ".join(s.text or "" for s in twiml.iter("Say"))
    assert "2 more tickets have breached" in said and "Press 1 to acknowledge all 3" in said


async def test_a_digest_for_another_number_or_channel_is_refused(tmp_path: Path) -> None:
    _, groups, digest = activities(tmp_path)
    group = fold(groups, "sms", 2)
    env = ActivityEnvironment()
    with pytest.raises(ApplicationError, match="not voice to this number"):
        await env.run(digest.send_digest, ask(group, Channel.VOICE))
    with pytest.raises(ApplicationError, match="not sms to this number"):
        await env.run(digest.send_digest, ask(group, Channel.SMS, to="+3725019559"))
    with pytest.raises(ApplicationError, match="no outage group"):
        await env.run(digest.send_digest, ask("grp_0000000000000000", Channel.SMS))
