"""Event times and the ticket's own fields on the real stack (dev server, the real workflows and
API, the stand-in notifier): a late first response withdraws its breach; a mail's ticket opens
when the mail arrived; channel, subject, language and customer_ref are kept, shown to intake,
used by the policy's class rules, and never reach a page.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.utils
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from intake.email_intake import received_at
from tests.harness import workflow_exists
from tests.helpdesk_fixtures import Desk, clock, mails, zendesk_sequence


async def _paged(desk: Desk, ticket_id: str) -> dict[str, Any]:
    """The ticket's status once its first breach's first pages are on record."""
    for _ in range(200):
        status = await desk.status(ticket_id)
        if any(n["breach_id"].startswith("response-") for n in status["sent"]):
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"{ticket_id} was never paged")


async def test_a_late_first_response_withdraws_the_breach_on_the_real_stack(desk: Desk) -> None:
    # An urgent (critical: 60 min) Zendesk ticket created 63 min ago reaches us only now.
    opened = (datetime.now(UTC) - timedelta(minutes=63)).replace(microsecond=0)
    number = str(uuid.uuid4().int % 10**9)
    bodies = zendesk_sequence(number, opened)
    created, comment = bodies[0], bodies[5]  # the agent's public comment
    created["detail"]["priority"] = "URGENT"
    assert (await desk.zendesk(created)).json()["events"] == ["open"]
    paged = await _paged(desk, f"ZD-{number}")
    assert paged["response"]["state"] == "breached" and paged["breaches"][0]["level"] >= 1
    pages = [n for n in paged["sent"] if n["breach_id"] == "response-1"]
    # The agent had answered at 59 min; Zendesk's webhook for it arrives now.
    answered = opened + timedelta(minutes=59)
    comment["time"] = answered.isoformat()
    comment["detail"]["priority"] = "URGENT"
    reply = await desk.zendesk(comment)
    assert reply.json()["events"] == ["first_response"]
    status = await desk.status(f"ZD-{number}")

    assert status["response"]["state"] == "met" and status["sla_state"] == "on_track"
    breach = status["breaches"][0]
    assert breach["outcome"] == "withdrawn" and breach["withdrawn_at"] is not None
    # The record keeps that the pages went out.
    assert [n for n in status["sent"] if n["breach_id"] == "response-1"][: len(pages)] == pages
    # The timeline says so, with when the answer happened and when it was reported.
    withdrawn = [h for h in status["history"] if h["event"] == "breach_withdrawn"]
    assert len(withdrawn) == 1
    said = withdrawn[0]["detail"]
    stamp = answered.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert said.startswith(f"response-1: first_response at {stamp} (reported ")
    assert f"{len(pages)} page" in said
    # Its ladder stopped in its first ack window, so its escalation never started.
    assert not await workflow_exists(desk.client, breach["escalation_workflow_id"])


async def test_a_mail_opens_its_ticket_at_the_instant_it_arrived(desk: Desk) -> None:
    """The email sequence (new mail, reply in its thread) ends as the native open at the
    instant SendGrid received the mail."""
    opened = (datetime.now(UTC) - timedelta(minutes=20)).replace(microsecond=0)
    mail = mails(uuid.uuid4().hex[:8])
    received = email.utils.format_datetime(opened)
    for fields in mail.values():
        fields["headers"] = fields["headers"].replace("Fri, 17 Apr 2026 07:18:10 +0000", received)
    first = await desk.email(mail["01-new-mail"])
    assert (await desk.email(mail["02-reply-in-thread"])).json()["events"] == []
    via_email = await desk.status(first.json()["ticket_id"])
    native = f"N-{uuid.uuid4().hex[:8]}"
    subject = "Outage: invoices page times out for everyone"
    body = {"tenant": "prokuria", "ticket_id": native, "severity": "critical"}
    body |= {"channel": "email", "subject": subject, "opened_at": opened.isoformat()}
    assert (await desk.post("/v1/tickets", body)).status_code == 201
    by_hand = await desk.status(native)
    assert via_email["opened_at"] == opened.isoformat().replace("+00:00", "Z")
    # Both run, so the business time left depends on the instant each was read: not compared.
    assert _running(clock(via_email)) == _running(clock(by_hand))
    assert (via_email["channel"], via_email["subject"]) == ("email", subject)


def _running(c: dict[str, Any]) -> dict[str, Any]:
    for kind in ("response", "resolution"):
        c[kind].pop("business_time_left")
    return c


SECRET_SUBJECT = "Payments down for ACME-SUBJ-7731"
SECRET_REF = "CUST-REF-5528"


def _payload_texts(history: Any) -> list[bytes]:
    """Every activity's and child workflow's input in a history: what pages are made of."""
    out = []
    for event in history.events:
        for name in (
            "activity_task_scheduled_event_attributes",
            "start_child_workflow_execution_initiated_event_attributes",
        ):
            if event.HasField(name):
                out += [p.data for p in getattr(event, name).input.payloads]
    return out


async def test_the_tickets_fields_are_kept_shown_ruled_on_and_never_paged(desk: Desk) -> None:
    ticket_id = f"F-{uuid.uuid4().hex[:8]}"
    opened = datetime.now(UTC) - timedelta(minutes=70)
    body = {"tenant": "prokuria", "ticket_id": ticket_id, "opened_at": opened.isoformat()}
    body |= {"channel": "phone", "subject": SECRET_SUBJECT, "customer_ref": SECRET_REF}
    body |= {"language": "de-AT"}
    reply = await desk.post("/v1/tickets", body)
    assert reply.status_code == 201, reply.text
    shown = reply.json()
    # Kept and shown to the intake token.
    assert (shown["channel"], shown["subject"]) == ("phone", SECRET_SUBJECT)
    assert (shown["customer_ref"], shown["language"]) == (SECRET_REF, "de-AT")
    # No class given: the first class rule (channel phone, subject "down") makes it critical,
    # though the second (language de) would make it major.
    assert shown["severity"] == "critical"
    status = await _paged(desk, ticket_id)
    assert status["subject"] == SECRET_SUBJECT

    # Never in a page: not in any page's text, nor in anything the pages are built from.
    sent = [s for s in desk.notifier.sent if f"/{ticket_id}" in s.text]
    assert sent, "the breach paged nobody"
    for page in sent:
        assert SECRET_SUBJECT not in page.text and SECRET_REF not in page.text
        assert "ACME" not in page.text
    # Nor in the ticket's history, whose payloads include the pages' inputs (the escalation,
    # when step 1 goes unacknowledged, starts from the same state: tests/test_waiting_ladder.py).
    history = await desk.client.get_workflow_handle(status["workflow_id"]).fetch_history()
    inputs = _payload_texts(history)
    assert any(b"send_sms" in i or b"+40" in i for i in inputs)
    for data in inputs:
        assert SECRET_SUBJECT.encode() not in data and SECRET_REF.encode() not in data

    # A language rule; a class intake names wins over every rule.
    german = {"tenant": "prokuria", "ticket_id": f"G-{uuid.uuid4().hex[:8]}", "language": "de"}
    assert (await desk.post("/v1/tickets", german)).json()["severity"] == "major"
    named = {**german, "ticket_id": f"G-{uuid.uuid4().hex[:8]}", "severity": "minor"}
    assert (await desk.post("/v1/tickets", named)).json()["severity"] == "minor"


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("language", "english!", "not a language code"),
        ("subject", "two\nlines", "one line"),
        ("channel", "", "at least 1 character"),
        ("customer_ref", "x" * 257, "at most 256 characters"),
    ],
)
async def test_bad_ticket_fields_are_a_one_line_422_naming_the_field(
    desk: Desk, field: str, value: str, problem: str
) -> None:
    body = {"tenant": "prokuria", "ticket_id": f"B-{uuid.uuid4().hex[:8]}", field: value}
    reply = await desk.post("/v1/tickets", body)
    assert reply.status_code == 422
    error = reply.json()
    assert error["fields"][0]["field"] == field and problem in error["detail"]
    assert "\n" not in error["detail"]


async def test_event_times_out_of_bounds_are_a_422_naming_at(desk: Desk) -> None:
    ticket_id = f"T-{uuid.uuid4().hex[:8]}"
    opened = datetime.now(UTC) - timedelta(minutes=10)
    body = {"tenant": "prokuria", "ticket_id": ticket_id, "opened_at": opened.isoformat()}
    assert (await desk.post("/v1/tickets", body)).status_code == 201
    path = f"/v1/tickets/prokuria/{ticket_id}/events"
    ahead = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    before = (opened - timedelta(minutes=1)).isoformat()
    for at, problem in ((ahead, "ahead of slawatch's clock"), (before, "before the ticket opened")):
        reply = await desk.post(path, {"type": "pause", "at": at})
        assert reply.status_code == 422, reply.text
        assert reply.json()["fields"] == [{"field": "at", "problem": reply.json()["detail"]}]
        assert reply.json()["detail"].startswith("at: ") and problem in reply.json()["detail"]
    assert (await desk.status(ticket_id))["phase"] == "open"  # nothing changed


async def test_a_delivery_out_of_order_counts_at_the_event_it_trails(desk: Desk) -> None:
    """Zendesk does not promise order: a priority change from before the pending that was
    already applied is not refused (its help desk would retry it forever) but counts at the
    pending's instant."""
    opened = (datetime.now(UTC) - timedelta(minutes=30)).replace(microsecond=0)
    number = str(uuid.uuid4().int % 10**9)
    created, raised, pending, *_ = zendesk_sequence(number, opened)
    for body in (created, pending, raised):
        assert (await desk.zendesk(body)).status_code == 200
    status = await desk.status(f"ZD-{number}")
    entries = {h["event"]: h["happened_at"] for h in status["history"]}
    assert status["severity"] == "major"
    assert entries["reclassified"] == entries["waiting_on_customer"]
    assert entries["waiting_on_customer"] == pending["time"].replace("+00:00", "Z")


def test_a_mail_is_dated_by_the_mx_that_received_it() -> None:
    mx = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
    sent = mx - timedelta(minutes=3)
    stamp, date = email.utils.format_datetime(mx), email.utils.format_datetime(sent)
    cases = [
        # SendGrid's own line has no ";" before its date; the MX's time wins over the sender's.
        (f"Received: by mx.sendgrid.net with SMTP id x {stamp} (UTC)\nDate: {date}\n", mx),
        (f"Received: from a (b) by c; {stamp}\n", mx),
        (f"Received: garbled\nDate: {date}\n", sent),  # the sender's clock, then
        ("Date: Tue, 01 Jan 2019 09:00:00 +0000\n", None),  # over a year back: now instead
        ("Subject: no dates\n", None),
    ]
    for headers, want in cases:
        assert received_at(email.parser.HeaderParser().parsestr(headers)) == want, headers


async def test_openapi_describes_event_times_withdrawals_and_the_ticket_fields(desk: Desk) -> None:
    schemas = (await desk.http.get("/openapi.json")).json()["components"]["schemas"]
    for event in ("PauseEvent", "ResumeEvent", "ResolveEvent", "ReopenEvent", "CloseEvent"):
        at = schemas[event]["properties"]["at"]
        assert "2 minutes ahead" in at["description"], event
    for event in ("FirstResponseEvent", "ReclassifyEvent"):
        assert "at" in schemas[event]["properties"], event
    assert {"withdrawn_at", "withdrawn_why"} <= set(schemas["Breach"]["properties"])
    assert "happened_at" in schemas["HistoryEntry"]["properties"]
    fields = {"channel", "customer_ref", "subject", "language"}
    assert fields <= set(schemas["TicketStatus"]["properties"])
    assert fields <= set(schemas["OpenTicketInput"]["properties"])


async def test_an_instant_without_a_utc_form_is_a_422_not_a_500(desk: Desk) -> None:
    body = zendesk_sequence(str(uuid.uuid4().int % 10**9), datetime.now(UTC))[0]
    body["time"] = body["detail"]["created_at"] = "0001-01-01T00:00:00+05:00"
    reply = await desk.zendesk(body)
    assert reply.status_code == 422, reply.text
    assert reply.json()["detail"].startswith("time: 0001-01-01T00:00:00+05:00 is out of range")


async def test_an_event_time_at_the_edge_of_the_calendar_is_a_422_naming_at(desk: Desk) -> None:
    ticket_id = f"E-{uuid.uuid4().hex[:8]}"
    assert (
        await desk.post("/v1/tickets", {"tenant": "prokuria", "ticket_id": ticket_id})
    ).is_success
    path = f"/v1/tickets/prokuria/{ticket_id}/events"
    for at in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"):
        reply = await desk.post(path, {"type": "pause", "at": at})
        assert reply.status_code == 422, reply.text
        assert reply.json()["fields"][0]["field"] == "at"
