"""Help-desk adapters on the real stack: Zendesk and Jira SM webhooks become ticket events.

A help desk's sequence (tests/fixtures/helpdesk/) must leave the ticket exactly as the same
sequence sent as native events leaves it (tests/helpdesk_fixtures.py runs the stack).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.helpdesk_fixtures import (
    ZENDESK_SECRET,
    Desk,
    clock,
    jira_sequence,
    jira_time,
    opening_time,
    zendesk_sequence,
    zendesk_time,
)


async def _deliver(
    send: Callable[[dict[str, Any]], Awaitable[httpx.Response]], bodies: list[dict[str, Any]]
) -> list[list[str]]:
    """Each webhook in turn (each must be taken): the native events each one became."""
    did = []
    for body in bodies:
        reply = await send(body)
        assert reply.status_code == 200, reply.text
        did.append(reply.json()["events"])
    return did


async def _by_hand(desk: Desk, opened: datetime, reason: str, at: list[str]) -> dict[str, Any]:
    """The status a fresh native ticket ends in after what both help-desk sequences do, each
    event sent with the help desk's instant for it (`at`, in order): raised from minor to major
    (`reason`), paused, resumed, answered by the agent's public comment, resolved."""
    native = f"N-{uuid.uuid4().hex[:8]}"
    events: list[dict[str, Any]] = [
        {"type": "reclassify", "severity": "major", "reason": reason},
        {"type": "pause"},
        {"type": "resume"},
        {"type": "first_response", "by": "Ana Agent"},
        {"type": "resolve"},
    ]
    for event, when in zip(events, at, strict=True):
        event["at"] = when
    await desk.native(native, events, severity="minor", opened_at=opened.isoformat())
    return await desk.status(native)


async def test_a_zendesk_sequence_ends_as_the_same_native_events_leave_it(desk: Desk) -> None:
    opened, number = opening_time(), str(uuid.uuid4().int % 10**9)
    did = await _deliver(desk.zendesk, zendesk_sequence(number, opened))
    assert did == [
        ["open"],
        ["reclassify"],
        ["pause"],
        [],
        ["resume"],
        ["first_response"],
        ["resolve"],
    ]
    via_zendesk = await desk.status(f"ZD-{number}")

    # Raised, pending, open, the agent's reply, solved: at the instants Zendesk gave them.
    bodies = zendesk_sequence(number, opened)
    at = [zendesk_time(bodies[i]) for i in (1, 2, 4, 5, 6)]
    by_hand = await _by_hand(desk, opened, "Zendesk priority NORMAL -> HIGH", at)
    assert clock(via_zendesk) == clock(by_hand)
    assert via_zendesk["phase"] == "resolved" and via_zendesk["response"]["state"] == "met"
    # Exactly, not to the time between requests: the clocks ran on Zendesk's instants.
    assert via_zendesk["resolution"]["met_at"] == at[-1].replace("+00:00", "Z")


async def test_a_jira_sequence_ends_as_the_same_native_events_leave_it(desk: Desk) -> None:
    opened, key = opening_time(), f"SUP-{uuid.uuid4().int % 10**6}"
    did = await _deliver(desk.jira, jira_sequence(key, opened))
    # The internal note (jsdPublic false) is no first response; the public reply is.
    assert did == [
        ["open"],
        ["reclassify"],
        ["pause"],
        ["resume"],
        [],
        ["first_response"],
        ["resolve"],
    ]
    via_jira = await desk.status(key)

    bodies = jira_sequence(key, opened)
    at = [jira_time(bodies[i]) for i in (1, 2, 3, 5, 6)]
    by_hand = await _by_hand(desk, opened, "Jira priority Medium -> High", at)
    assert clock(via_jira) == clock(by_hand)
    assert via_jira["resolution"]["met_at"] == at[-1].replace("+00:00", "Z")


async def test_a_redelivered_webhook_changes_nothing(desk: Desk) -> None:
    opened, number = opening_time(), str(uuid.uuid4().int % 10**9)
    created, raised, *_ = zendesk_sequence(number, opened)
    assert (await desk.zendesk(created)).json()["events"] == ["open"]
    first = await desk.zendesk(raised)
    again = await desk.zendesk(raised)  # Zendesk's retry: the same event id, signed anew
    assert first.json()["events"] == ["reclassify"]
    assert again.status_code == 200 and again.json()["duplicate"] is True
    history = [h["event"] for h in (await desk.status(f"ZD-{number}"))["history"]]
    assert history == ["opened", "reclassified"]
    body = jira_sequence(f"SUP-{uuid.uuid4().int % 10**6}", opened)[0]
    assert (await desk.jira(body, delivery="d-1")).json()["events"] == ["open"]
    assert (await desk.jira(body, delivery="d-1")).json()["duplicate"] is True


async def test_an_event_for_an_unknown_ticket_opens_it_from_the_payload(desk: Desk) -> None:
    # Zendesk does not promise order: a status change may come before the creation.
    opened, number = opening_time(), str(uuid.uuid4().int % 10**9)
    pending = zendesk_sequence(number, opened)[2]
    reply = await desk.zendesk(pending)
    assert reply.json()["events"] == ["open", "pause"]
    status = await desk.status(f"ZD-{number}")
    assert (status["severity"], status["phase"]) == ("major", "waiting_on_customer")


def _stale() -> str:
    return (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    "forge",
    [
        {"secret": "not-the-signing-secret-0123456789"},
        {"stamp": "_stale"},
        {"stamp": "yesterday"},
    ],
)
async def test_zendesk_requests_not_signed_now_by_the_tenants_secret_are_refused(
    desk: Desk, forge: dict[str, str]
) -> None:
    body = zendesk_sequence(str(uuid.uuid4().int % 10**9), opening_time())[0]
    if forge.get("stamp") == "_stale":
        forge = {"stamp": _stale()}
    reply = await desk.zendesk(body, **forge)
    assert reply.status_code == 401
    assert reply.json() == {
        "error": "bad_signature",
        "detail": "invalid X-Zendesk-Webhook-Signature",
    }
    unsigned = await desk.http.post("/v1/helpdesk/zendesk/prokuria", json=body)
    assert unsigned.status_code == 401
    # A tenant without a secret in the environment gets nothing through, signed or not.
    other = await desk.http.post("/v1/helpdesk/jira/cargotask", json=body)
    assert other.status_code == 401


async def test_jira_requests_without_the_shared_secret_are_refused(desk: Desk) -> None:
    body = jira_sequence(f"SUP-{uuid.uuid4().int % 10**6}", opening_time())[0]
    forged = await desk.jira(body, secret="guessed-0123456789abcdef0123456789")
    assert forged.status_code == 401
    assert forged.json()["detail"] == "invalid X-Hub-Signature"
    assert (await desk.http.post("/v1/helpdesk/jira/prokuria", json=body)).status_code == 401


async def test_client_mistakes_are_4xx_naming_the_problem(desk: Desk) -> None:
    body = zendesk_sequence(str(uuid.uuid4().int % 10**9), opening_time())[0]
    del body["detail"]["id"]
    missing = await desk.zendesk(body)
    assert missing.status_code == 422
    assert missing.json()["fields"][0]["field"] == "detail.id"
    odd = await desk.zendesk({**body, "detail": {**body["detail"], "id": "has space"}})
    assert odd.status_code == 422 and "detail.id" in odd.json()["detail"]
    # cargotask has a Zendesk secret but no helpdesk.zendesk section in its policy.
    good = zendesk_sequence(str(uuid.uuid4().int % 10**9), opening_time())[0]
    raw = json.dumps(good).encode()
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = hmac.new(ZENDESK_SECRET.encode(), stamp.encode() + raw, hashlib.sha256).digest()
    headers = {
        "X-Zendesk-Webhook-Signature": base64.b64encode(digest).decode(),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
    }
    unset = await desk.http.post("/v1/helpdesk/zendesk/cargotask", content=raw, headers=headers)
    assert unset.status_code == 404
    assert "no helpdesk.zendesk in its policy" in unset.json()["detail"]
    odd_comment = {**good, "type": "zen:event-type:ticket.comment_added", "event": {"comment": 7}}
    assert (await desk.zendesk(odd_comment)).json()["events"] == ["open"]  # and no first response
    other = await desk.zendesk({**good, "type": "zen:event-type:user.active_changed"})
    assert other.status_code == 200 and other.json()["ignored"].startswith("not a ticket event")


async def test_openapi_describes_the_adapters(desk: Desk) -> None:
    spec = (await desk.http.get("/openapi.json")).json()
    described = {
        "/v1/helpdesk/zendesk/{tenant}": ("application/json", "X-Zendesk-Webhook-Signature"),
        "/v1/helpdesk/jira/{tenant}": ("application/json", "X-Hub-Signature"),
        "/v1/helpdesk/email/{tenant}": (
            "multipart/form-data",
            "X-Twilio-Email-Event-Webhook-Signature",
        ),
    }
    for path, (media, header) in described.items():
        post = spec["paths"][path]["post"]
        assert media in post["requestBody"]["content"], path
        assert header in [p["name"] for p in post["parameters"]], path


async def test_a_jira_comment_created_event_is_a_first_response_once(desk: Desk) -> None:
    key = f"SUP-{uuid.uuid4().int % 10**6}"
    bodies = jira_sequence(key, opening_time())
    assert (await desk.jira(bodies[0])).json()["events"] == ["open"]
    reply = {**bodies[5], "webhookEvent": "comment_created"}
    reply.pop("changelog", None)
    assert (await desk.jira(reply)).json()["events"] == ["first_response"]
    later = await desk.jira(reply)  # another delivery id: a second public reply
    assert later.json()["events"] == [] and later.json()["ignored"].endswith("nothing to change")
    assert (await desk.status(key))["response"]["state"] == "met"
