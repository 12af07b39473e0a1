"""Outage digests in the paged responder's language: the page that opens the group sets it."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from temporalio.testing import ActivityEnvironment

from activities.digest import DigestActivities, build_digest_sms, build_digest_twiml
from activities.grouping import ClosedGroup, Member, SqliteGroupStore
from activities.ledger.sqlite import SqliteLedger
from activities.notify import NotificationActivities
from policies.schema import Channel
from slawatch.messages import ACK_CODE, build_sms_body, parse_sms_ack, sms_language
from slawatch.models import PageGroup, PlaceCallInput, SendDigestInput, SendSmsInput
from tests.grouping_fixtures import Phone

T0 = datetime(2026, 12, 2, 10, tzinfo=UTC)
LINE = "+40724011885"
HOOKS = "https://hooks.example.test"
GATHER = f"{HOOKS}/twilio/voice/gather?group=grp_1"


def closed(language: str | None, count: int = 3, long: bool = False) -> ClosedGroup:
    members = [
        Member(f"k{n}", f"prokuria/T-{n:03d}" + ("x" * 145 if long else ""), "critical",
               "response" if n % 2 else "resolution", n == 0)
        for n in range(count)
    ]  # fmt: skip
    return ClosedGroup("grp_1", "prokuria", LINE, "sms", "4821", members, language)


def reply_code(body: str, before: str) -> str:
    """The word after `before`: what a responder types back."""
    match = re.search(re.escape(before) + r" (\S+)", body)
    assert match, body
    return match.group(1)


def test_the_estonian_digest_and_its_code() -> None:
    body = build_digest_sms(closed("et"))
    assert body == (
        "slawatch: tähtaja on ületanud ka need piletid (2): prokuria/T-001 (critical,"
        " reageerimisaeg), prokuria/T-002 (critical, lahendusaeg). Vasta 4821 kõigi 3"
        " kinnitamiseks (koos piletiga prokuria/T-000) või ACK <pilet> ühe kinnitamiseks."
    )
    # The word after "Vasta" is the group's code as the SMS webhook parses it.
    assert ACK_CODE.fullmatch(reply_code(body, "Vasta")) and reply_code(body, "Vasta") == "4821"
    assert parse_sms_ack("ACK prokuria/T-001") == "prokuria/T-001" and "ACK <pilet>" in body


def test_the_romanian_digest_and_its_code() -> None:
    body = build_digest_sms(closed("ro"))
    assert body == (
        "slawatch: au depășit termenul și aceste tichete (2): prokuria/T-001 (critical,"
        " răspuns), prokuria/T-002 (critical, rezolvare). Răspundeți cu 4821 pentru a le"
        " confirma pe toate 3 (cu prokuria/T-000) sau cu ACK <tichet> pentru unul singur."
    )
    assert ACK_CODE.fullmatch(reply_code(body, "Răspundeți cu"))
    assert reply_code(body, "Răspundeți cu") == "4821"
    assert "ACK <tichet>" in body


def test_english_when_unset_and_the_cap_holds_for_longer_translations() -> None:
    assert build_digest_sms(closed(None)).startswith("slawatch: 2 more tickets breached:")
    for language in ("en", "et", "ro"):
        body = build_digest_sms(closed(language, count=40, long=True))
        assert len(body) < 1600 and " 4821 " in body, (language, len(body))
        assert re.search(r"(\d+ more|veel \d+|încă \d+)\. ", body), body


@pytest.mark.parametrize(
    ("language", "say", "words"),
    [
        ("et", {"language": "et-EE", "voice": "Google.et-EE-Standard-A"}, "vajutage 1."),
        ("ro", {"language": "ro-RO", "voice": "Polly.Carmen"}, "Apăsați 1 pentru"),
        (None, {}, "Press 1 to acknowledge all 3"),
    ],
)
def test_the_digest_call_speaks_the_language(
    language: str | None, say: dict[str, str], words: str
) -> None:
    twiml = ET.fromstring(build_digest_twiml(closed(language), GATHER))
    says = list(twiml.iter("Say"))
    assert len(says) == 3 and all(s.attrib == say for s in says)
    assert words in (says[0].text or "")


def test_the_language_of_a_page_body_is_the_one_it_was_built_in() -> None:
    for language in ("et", "ro", None):
        body = build_sms_body(
            "prokuria/T-1", "critical", "response", code="4821", language=language
        )
        assert sms_language(body) == language
    assert sms_language("slawatch: something else") is None


def test_a_group_table_from_before_the_language_column_gains_it(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE page_groups (id TEXT PRIMARY KEY, tenant TEXT NOT NULL, address TEXT"
            " NOT NULL, channel TEXT NOT NULL, opened_at BIGINT NOT NULL, window_end BIGINT NOT"
            " NULL, state TEXT NOT NULL CHECK (state IN ('open', 'closed')), code TEXT)"
        )
        db.execute("INSERT INTO page_groups VALUES ('grp_old', 't', ?, 'sms', 0, 1, 'open', NULL)",
                   (LINE,))  # fmt: skip
    store = SqliteGroupStore(path)
    assert store.close("grp_old").language is None  # an old group's digest: English
    SqliteGroupStore(path)  # opening again finds the column and leaves it


def ask(group: str, channel: Channel) -> SendDigestInput:
    return SendDigestInput(
        group=group,
        channel=channel,
        to=LINE,
        idempotency_key=f"ticket/prokuria/T-001/response-1/r1s1/{channel.value}/ana",
        ticket_workflow_id="ticket/prokuria/T-001",
        breach_id="response-1",
    )


def page(n: int) -> PageGroup:
    return PageGroup(
        tenant="prokuria",
        window_seconds=120,
        ticket_ref=f"prokuria/T-{n:03d}",
        severity="critical",
        kind="response",
        at=T0 + timedelta(milliseconds=n),
    )


async def test_a_romanian_responders_digest_sms_and_call_are_romanian(tmp_path: Path) -> None:
    phone = Phone()
    groups = SqliteGroupStore(tmp_path / "l.sqlite3")
    notify = NotificationActivities(
        phone, phone, SqliteLedger(tmp_path / "l.sqlite3"), HOOKS, groups
    )
    digest = DigestActivities(phone, groups, notify.send_once, HOOKS)
    env = ActivityEnvironment()
    sms: list[str] = []
    calls: list[str] = []
    for n in range(3):
        ref = f"prokuria/T-{n:03d}"
        body = build_sms_body(ref, "critical", "response", code="1234", language="ro")
        key = f"ticket/prokuria/T-{n:03d}/response-1/r1s1/sms/ana"
        done = await env.run(
            notify.send_sms,
            SendSmsInput(to=LINE, body=body, idempotency_key=key, ticket_workflow_id=f"w{n}",
                         breach_id="response-1", group=page(n)),
        )  # fmt: skip
        sms.append(done.group or "")
        placed = await env.run(
            notify.place_call,
            PlaceCallInput(to=LINE, ticket_ref=ref, severity="critical", language="ro",
                           idempotency_key=key.replace("sms", "voice"),
                           ticket_workflow_id=f"w{n}", breach_id="response-1", group=page(n)),
        )  # fmt: skip
        calls.append(placed.group or "")
    assert len(set(sms)) == len(set(calls)) == 1 and len(phone.texts) == len(phone.calls) == 1
    text = await env.run(digest.send_digest, ask(sms[0], Channel.SMS))
    await env.run(digest.send_digest, ask(calls[0], Channel.VOICE))
    body = phone.texts[-1][1]
    assert body.startswith("slawatch: au depășit termenul și aceste tichete (2): prokuria/T-001")
    assert f"Răspundeți cu {text.code} pentru a le confirma pe toate 3" in body
    twiml = ET.fromstring(phone.twiml[-1])
    says = list(twiml.iter("Say"))
    assert all(s.get("language") == "ro-RO" and s.get("voice") == "Polly.Carmen" for s in says)
    assert (says[0].text or "").startswith("Aici slawatch. Au depășit nivelul de serviciu")
