"""Email intake on the real stack: SendGrid Inbound Parse posts open tickets, replies join them."""

from __future__ import annotations

import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.helpdesk_fixtures import Desk, mails


async def test_a_mail_opens_a_ticket_and_a_reply_in_its_thread_does_not(desk: Desk) -> None:
    mail = mails(uuid.uuid4().hex[:8])
    first = await desk.email(mail["01-new-mail"])
    assert first.status_code == 200, first.text
    assert first.json()["events"] == ["open"]
    ticket_id = first.json()["ticket_id"]
    assert ticket_id.startswith("MAIL-")
    status = await desk.status(ticket_id)
    assert status["severity"] == "critical"  # the subject says "Outage": the policy's rule
    reply = await desk.email(mail["02-reply-in-thread"])
    assert reply.status_code == 200
    assert (reply.json()["ticket_id"], reply.json()["events"]) == (ticket_id, [])
    assert reply.json()["ignored"] == "a reply in the ticket's thread"
    again = await desk.email(mail["01-new-mail"])  # SendGrid's retry of the first post
    assert again.json()["duplicate"] is True
    # A subdomain of an allowed domain may write; no rule matches: the default class.
    question = await desk.email(mail["03-question"])
    assert question.json()["events"] == ["open"]
    assert (await desk.status(question.json()["ticket_id"]))["severity"] == "minor"


async def test_a_mail_from_outside_the_allowed_domains_is_logged_not_ticketed(
    desk: Desk, capsys: pytest.CaptureFixture[str]
) -> None:
    reply = await desk.email(mails(uuid.uuid4().hex[:8])["04-outside-domain"])
    assert reply.status_code == 200  # 2xx: SendGrid must not retry it
    assert reply.json() == {
        "ticket_id": None,
        "events": [],
        "ignored": "sender's domain is not allowed for this tenant",
        "duplicate": False,
        "status": None,
    }
    logged = capsys.readouterr().out
    assert "email_sender_not_allowed" in logged and "spam.example" in logged
    assert "offers@" not in logged  # the domain, never the address


async def test_mail_not_signed_by_sendgrids_key_is_refused(desk: Desk) -> None:
    mail = mails(uuid.uuid4().hex[:8])["01-new-mail"]
    forged = await desk.email(mail, key=ec.generate_private_key(ec.SECP256R1()))
    assert forged.status_code == 401
    assert forged.json()["error"] == "bad_signature"
    unsigned = await desk.http.post("/v1/helpdesk/email/prokuria", files={"to": (None, "x")})
    assert unsigned.status_code == 401
