"""Trust boundary, Twilio webhooks: only the right person stops a page, once.

Each test drives the real ticket and escalation workflows on a real Temporal dev server through
the real intake app; the webhook requests are signed exactly as Twilio signs them.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowUpdateFailedError

from intake import webhooks
from intake.twilio_guard import check_pin
from intake.webhook_store import (
    PIN_MAX_FAILURES,
    PIN_WINDOW,
    REPLAY_TTL,
    PostgresWebhookStore,
    SqliteWebhookStore,
    WebhookStore,
)
from intake.webhooks import PIN_PATH, SMS_PATH
from slawatch.messages import GATHER_PATH
from slawatch.models import AcknowledgeInput, TicketStatus
from tests.postgres_fixtures import store_pair
from tests.security_fixtures import ANA, BOB, BOB_PIN, EMERGENCY, Stack, code_of


def acked(status: TicketStatus) -> list[str]:
    return [a.breach_id for a in status.acknowledgements]


async def test_a_replayed_bare_1_acknowledges_nothing_more(stack: Stack) -> None:
    first, _ = await stack.open("paging")
    await stack.paged(first, ANA)
    captured = {"From": ANA, "Body": "1", "MessageSid": "SMcaptured0001"}
    reply = await stack.twilio(SMS_PATH, captured)
    assert "acknowledged paging/" in reply.text
    assert acked(await stack.status("paging", first)) == ["response-1"]
    # Later another ticket pages Ana; the captured, validly signed request comes again.
    second, _ = await stack.open("paging")
    await stack.paged(second, ANA)
    replay = await stack.twilio(SMS_PATH, captured)
    assert replay.status_code == 200 and "<Message>" not in replay.text
    assert acked(await stack.status("paging", second)) == []


async def test_a_reply_never_stops_a_page_sent_after_it_arrived(stack: Stack) -> None:
    ticket_id, opened = await stack.open("paging")
    await stack.paged(ticket_id, ANA)
    handle = stack.client.get_workflow_handle(opened.workflow_id)
    early = AcknowledgeInput(
        responder="ana",
        channel="sms",
        phone=ANA,
        received_at=opened.opened_at - timedelta(minutes=1),
    )
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("acknowledge", early, result_type=TicketStatus)
    assert "not paged" in str(refused.value.cause)
    assert acked(await stack.status("paging", ticket_id)) == []


async def test_a_bare_1_finds_a_page_however_many_tickets_are_breached(stack: Stack) -> None:
    # The first version looked through the 20 newest breached tickets only.
    oldest, _ = await stack.open("paging")
    await stack.paged(oldest, ANA)
    newer = [(await stack.open("paging"))[0] for _ in range(21)]
    for ticket_id in newer:
        await stack.paged(ticket_id, ANA)
    first_reply = await stack.twilio(SMS_PATH, {"From": ANA, "Body": "1"})
    # All 22 paged Ana: a bare "1" lists instead of guessing (the first few, and how many).
    assert "22 pages wait for you" in first_reply.text, first_reply.text
    assert "and 17 more" in first_reply.text
    code = code_of(await stack.paged(oldest, ANA))
    reply = await stack.twilio(SMS_PATH, {"From": ANA, "Body": code})
    assert f"acknowledged paging/{oldest}" in reply.text
    assert acked(await stack.status("paging", oldest)) == ["response-1"]
    for ticket_id in newer[:3]:
        assert acked(await stack.status("paging", ticket_id)) == []


async def test_two_pages_waiting_a_bare_1_lists_them_and_the_code_picks_one(
    stack: Stack,
) -> None:
    one, _ = await stack.open("paging")
    two, _ = await stack.open("paging")
    code_one = code_of(await stack.paged(one, ANA))
    code_two = code_of(await stack.paged(two, ANA))
    reply = await stack.twilio(SMS_PATH, {"From": ANA, "Body": "1"})
    assert "2 pages wait for you" in reply.text
    assert f"{code_one} for paging/{one}" in reply.text
    assert f"{code_two} for paging/{two}" in reply.text
    assert acked(await stack.status("paging", one)) == []
    assert acked(await stack.status("paging", two)) == []
    chosen = await stack.twilio(SMS_PATH, {"From": ANA, "Body": code_two})
    assert f"acknowledged paging/{two}" in chosen.text
    assert acked(await stack.status("paging", two)) == ["response-1"]
    assert acked(await stack.status("paging", one)) == []


async def test_a_code_from_another_number_or_for_another_page_stops_nothing(
    stack: Stack,
) -> None:
    ticket_id, _ = await stack.open("paging")
    code = code_of(await stack.paged(ticket_id, ANA))
    # Bob is a known responder of the tenant, but the page went to Ana.
    stolen = await stack.twilio(SMS_PATH, {"From": BOB, "Body": code})
    assert "no page with code" in stolen.text
    wrong = "1000" if code != "1000" else "1001"
    guessed = await stack.twilio(SMS_PATH, {"From": ANA, "Body": wrong})
    assert "no page with code" in guessed.text
    assert acked(await stack.status("paging", ticket_id)) == []


async def test_caller_id_of_a_responder_not_paged_is_no_credential(stack: Stack) -> None:
    ticket_id, _ = await stack.open("paging")
    await stack.paged(ticket_id, ANA)
    for body in ("1", f"ACK paging/{ticket_id}"):
        reply = await stack.twilio(SMS_PATH, {"From": BOB, "Body": body})
        assert "acknowledged" not in reply.text, body
    assert acked(await stack.status("paging", ticket_id)) == []


async def test_the_public_emergency_line_stops_only_a_breach_it_was_paged_for(
    stack: Stack,
) -> None:
    # acme's ladder pages only the emergency line, which the tenant shares with `paging`... a
    # number printed in a customer-facing SLA. An acme ticket that has not breached yet:
    quiet, _ = await stack.open("acme")
    reply = await stack.twilio(SMS_PATH, {"From": EMERGENCY, "Body": f"ACK acme/{quiet}"})
    assert "acknowledged" not in reply.text
    # A paging breach that did page the emergency line: the line may stop that one.
    ticket_id, _ = await stack.open("paging")
    await stack.paged(ticket_id, EMERGENCY)
    ok = await stack.twilio(SMS_PATH, {"From": EMERGENCY, "Body": f"ACK paging/{ticket_id}"})
    assert f"acknowledged paging/{ticket_id}" in ok.text
    (ack,) = (await stack.status("paging", ticket_id)).acknowledgements
    assert (ack.responder, ack.channel) == ("emergency_line", "sms")


async def test_webhooks_for_another_account_are_refused(stack: Stack) -> None:
    ticket_id, _ = await stack.open("paging")
    await stack.paged(ticket_id, ANA)
    other = {"From": ANA, "Body": "1", "AccountSid": "AC" + "1" * 32}
    refused = await stack.twilio(SMS_PATH, other)
    assert refused.status_code == 403
    assert acked(await stack.status("paging", ticket_id)) == []


async def test_a_replayed_key_press_does_not_acknowledge_a_later_breach(stack: Stack) -> None:
    ticket_id, opened = await stack.open("paging")
    call = await stack.paged(ticket_id, ANA, channel="voice")
    query = {"wf": opened.workflow_id, "breach": "response-1", "key": call.key}
    press = {"Digits": "1", "To": ANA, "Direction": "outbound-api", "CallSid": "CAcaptured01"}
    first = await stack.twilio(GATHER_PATH, press, query)
    assert "Acknowledged" in first.text
    again = await stack.twilio(GATHER_PATH, press, query)
    assert "already answered" in again.text


async def test_pin_locks_out_after_repeated_failures_and_a_right_pin_is_not_replayable(
    stack: Stack,
) -> None:
    ticket_id, opened = await stack.open("paging")
    await stack.paged(ticket_id, ANA)
    query = {"wf": opened.workflow_id, "breach": "response-1", "key": "k"}
    callee = {"To": BOB, "Direction": "outbound-api"}
    entered = {**callee, "Digits": BOB_PIN, "CallSid": "CApin0001"}
    right = await stack.twilio(PIN_PATH, entered, query)
    assert "Escalation level" in right.text, right.text  # a twenty-digit PIN works
    replay = await stack.twilio(PIN_PATH, entered, query)
    assert "Escalation level" not in replay.text
    for n in range(PIN_MAX_FAILURES):
        wrong = await stack.twilio(PIN_PATH, {**callee, "Digits": f"{n}1111"}, query)
        assert "not correct" in wrong.text
    locked = await stack.twilio(PIN_PATH, {**callee, "Digits": BOB_PIN}, query)
    assert "locked" in locked.text and "Escalation level" not in locked.text


async def test_pin_hashing_runs_off_the_event_loop(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticket_id, opened = await stack.open("paging")
    await stack.paged(ticket_id, ANA)
    threads: list[int] = []

    def recording(pin_hash: str | None, pin: str) -> bool:
        threads.append(threading.get_ident())
        return check_pin(pin_hash, pin)

    monkeypatch.setattr(webhooks, "check_pin", recording)
    query = {"wf": opened.workflow_id, "breach": "response-1", "key": "k"}
    form = {"To": BOB, "Direction": "outbound-api", "Digits": BOB_PIN}
    assert "Escalation level" in (await stack.twilio(PIN_PATH, form, query)).text
    assert threads and threading.get_ident() not in threads


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[WebhookStore, WebhookStore]:
    """Two stores over one backend, as two API replicas would open it."""
    return store_pair(request, SqliteWebhookStore, PostgresWebhookStore, tmp_path / "w.sqlite3")


def test_replay_store_is_shared_by_replicas_and_forgets_after_its_ttl(
    stores: tuple[WebhookStore, WebhookStore],
) -> None:
    store, replica = stores
    now = datetime.now(UTC)
    assert store.first_sighting("sms:SM1", now)
    assert not replica.first_sighting("sms:SM1", now + timedelta(hours=1))
    replica.forget("sms:SM1")  # handling failed on our side: Twilio's retry gets through
    assert store.first_sighting("sms:SM1", now)
    # Past the TTL the row is gone (Twilio no longer delivers a message that old).
    assert store.first_sighting("sms:SM1", now + REPLAY_TTL + timedelta(seconds=1))


def test_pin_lockout_is_shared_by_replicas_and_ends_after_its_window(
    stores: tuple[WebhookStore, WebhookStore],
) -> None:
    store, replica = stores
    now = datetime.now(UTC)
    for n in range(PIN_MAX_FAILURES):
        (store if n % 2 else replica).pin_failed("paging:bob", now)
    assert store.pin_locked("paging:bob", now) and replica.pin_locked("paging:bob", now)
    assert not store.pin_locked("paging:ana", now)
    assert not replica.pin_locked("paging:bob", now + PIN_WINDOW + timedelta(seconds=1))
    store.pin_succeeded("paging:bob")
    assert not replica.pin_locked("paging:bob", now)
