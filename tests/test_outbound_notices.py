"""Customer notices: a receipt through SendGrid (its stand-in) with the response due time on
the customer's wall clock and in their language, a notice on reclassification, and nothing
internal in either (docs/helpdesk.md, "Customer notices")."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock
from zoneinfo import ZoneInfo

import httpx

from activities.clients import vendors_from_settings
from activities.ledger import open_ledger
from activities.notify import NotificationActivities
from activities.outbound import OutboundActivities
from intake.app import create_app
from slawatch.models import ReclassifyInput
from slawatch.outbound import Customer
from slawatch.settings import Settings
from slawatch.tools.standins.outbox import read_jsonl
from slawatch.tools.standins.stack import Standins
from tests.harness import Harness
from tests.outbound_fixtures import outbound_harness, policy_with

BERLIN = ZoneInfo("Europe/Berlin")
OPENED = datetime(2026, 12, 8, 8, 0, tzinfo=BERLIN)  # a Tuesday, inside Prokuria's hours


def mails_to(standins: Standins, address: str) -> list[dict[str, Any]]:
    return [m for m in read_jsonl(standins.sendgrid.standin.outbox.path) if address in m["to"]]


async def wait_mails(h: Harness, standins: Standins, address: str, count: int) -> list[Any]:
    for _ in range(200):
        found = mails_to(standins, address)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} mails to {address} did not arrive")


def activities(settings: Settings, policy_dir: Path) -> Any:
    telephony, mailer = vendors_from_settings(settings)
    notify = NotificationActivities(telephony, mailer, open_ledger(settings), "https://x.test")
    return lambda h: OutboundActivities({}, {}, {}, notify.send_email, policy_dir).all()


async def test_receipt_and_reclassification_in_the_customers_zone_and_language(
    standins: Standins, standins_settings: Settings, tmp_path: Path
) -> None:
    policy_dir = policy_with(tmp_path, "prokuria", "outbound:\n  notices: {languages: [en, ro]}\n")
    address = f"client-{tmp_path.name[-6:]}@customer.example"
    customer = Customer(email=address, zone="Europe/Bucharest", language="ro")
    async with outbound_harness(policy_dir, activities(standins_settings, policy_dir)) as h:
        await h.advance_to(OPENED)
        handle = await h.open(
            "prokuria", "N-1", severity="major", opened_at=OPENED, customer=customer
        )
        (receipt,) = await wait_mails(h, standins, address, 1)
        await h.advance_to(OPENED + timedelta(minutes=10))
        await h.update(handle, "reclassify", ReclassifyInput(severity="critical", reason="down"))
        mails = await wait_mails(h, standins, address, 2)
    body = receipt["content"][0]["value"]
    # Major: 90 min from 08:00 Berlin = 09:30 Berlin = 10:30 on the customer's clock.
    assert "prokuria/N-1" in receipt["subject"] and receipt["subject"].startswith("Am primit")
    assert "2026-12-08 10:30 (Europe/Bucharest, UTC+02:00)" in body and "„major”" in body
    notice = mails[1]["content"][0]["value"]
    # Critical: 60 min from the opening.
    assert "2026-12-08 10:00 (Europe/Bucharest, UTC+02:00)" in notice
    assert "„major” în „critical”" in notice
    policy_text = (policy_dir / "prokuria.yaml").read_text()
    people = re.findall(r"name: (\w+) Example", policy_text)
    for mail in mails:
        text = mail["subject"] + mail["content"][0]["value"]
        # Nothing internal: no responders, phone numbers, pages or codes.
        assert people and not any(p in text for p in people)
        assert "+40" not in text and "Reply" not in text and "breach" not in text.lower()
        assert not re.search(r"\b\d{4}\b(?!-)", text.replace("2026", ""))


async def test_an_unknown_language_gets_the_default_and_no_customer_gets_nothing(
    standins: Standins, standins_settings: Settings, tmp_path: Path
) -> None:
    policy_dir = policy_with(tmp_path, "cargotask", "outbound:\n  notices: {languages: [en, et]}\n")
    address = f"kunde-{tmp_path.name[-6:]}@customer.example"
    customer = Customer(email=address, language="de")  # no zone: the default class's zone
    async with outbound_harness(policy_dir, activities(standins_settings, policy_dir)) as h:
        await h.advance_to(OPENED)
        await h.open("cargotask", "N-2", opened_at=OPENED, customer=customer)
        (receipt,) = await wait_mails(h, standins, address, 1)
        silent = await h.open("cargotask", "N-3", opened_at=OPENED)
        await h.advance_to(OPENED + timedelta(minutes=5))
        history = b"".join([e.SerializeToString() async for e in silent.fetch_history_events()])
    # Standard: 8 business hours from 09:00 Tallinn (its opening) = 17:00 the same day.
    assert receipt["subject"].startswith("We received")
    assert "2026-12-08 17:00 (Europe/Tallinn, UTC+02:00)" in receipt["content"][0]["value"]
    assert b"send_customer_notice" not in history and b"outbound-webhooks" not in history


async def test_a_bad_customer_on_the_open_request_is_a_422_naming_the_field() -> None:
    app = create_app(Settings(), MagicMock())  # refused before Temporal is asked
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api.test"
    ) as http:
        for customer, field in (
            ({"email": "a@b.example", "zone": "Mars/Olympus"}, "customer.zone"),
            ({"email": "not-an-address"}, "customer.email"),
            ({"email": "a@b.example", "language": "Romanian"}, "customer.language"),
        ):
            answer = await http.post(
                "/v1/tickets",
                json={"tenant": "prokuria", "ticket_id": "T-1", "customer": customer},
                headers={"Authorization": "Bearer dev-token"},
            )
            assert answer.status_code == 422
            assert answer.json()["fields"][0]["field"] == field
