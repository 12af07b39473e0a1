"""Trust boundary, tenants and the API: each probe of issue 10 that once got through.

The real ticket workflow on a real Temporal dev server, the real intake app in front of it.
"""

from __future__ import annotations

from slawatch.models import legacy_workflow_id
from tests.security_fixtures import ANA, Stack


async def test_tenants_sharing_a_prefix_never_reach_each_others_tickets(stack: Stack) -> None:
    # acme-eu's ticket "1" and acme's "eu-1" once had one workflow id: ticket-acme-eu-1.
    await stack.open("acme-eu", "1")
    read = await stack.http.get("/v1/tickets/acme/eu-1", headers=stack.bearer("acme"))
    assert read.status_code == 404, read.text
    paused = await stack.http.post(
        "/v1/tickets/acme/eu-1/events", json={"type": "pause"}, headers=stack.bearer("acme")
    )
    assert paused.status_code == 404, paused.text
    assert (await stack.status("acme-eu", "1")).phase.value == "open"
    # acme's own "eu-1" is a new ticket with its own clock, not a join of acme-eu's.
    _, mine = await stack.open("acme", "eu-1")
    assert (mine.tenant, mine.ticket_id) == ("acme", "eu-1")
    assert mine.workflow_id == "ticket/acme/eu-1"


async def test_a_ticket_under_the_legacy_id_stays_reachable_by_its_tenant_only(
    stack: Stack,
) -> None:
    legacy = legacy_workflow_id("acme-eu", "7")
    assert legacy == legacy_workflow_id("acme", "eu-7")  # the ambiguity being guarded against
    handle = await stack.start_legacy(legacy, "acme-eu", "7")
    own = await stack.http.get("/v1/tickets/acme-eu/7", headers=stack.bearer("acme-eu"))
    assert own.status_code == 200, own.text
    assert own.json()["workflow_id"] == legacy
    # acme's "eu-7" maps onto the same legacy id: the workflow's own tenant says no.
    other = await stack.http.get("/v1/tickets/acme/eu-7", headers=stack.bearer("acme"))
    assert other.status_code == 404
    squat = await stack.http.post(
        "/v1/tickets/acme/eu-7/events", json={"type": "pause"}, headers=stack.bearer("acme")
    )
    assert squat.status_code == 404
    # Its own tenant's events and repeat opens reach it; no second clock starts.
    paused = await stack.http.post(
        "/v1/tickets/acme-eu/7/events", json={"type": "pause"}, headers=stack.bearer("acme-eu")
    )
    assert paused.status_code == 200, paused.text
    body = {"tenant": "acme-eu", "ticket_id": "7", "severity": "critical"}
    again = await stack.http.post("/v1/tickets", json=body, headers=stack.bearer("acme-eu"))
    assert again.status_code == 200, again.text
    assert again.json()["workflow_id"] == legacy
    assert again.json()["phase"] == "waiting_on_customer"
    new_form = stack.client.get_workflow_handle("ticket/acme-eu/7")
    runs = [w async for w in stack.client.list_workflows(f"WorkflowId = '{new_form.id}'")]
    assert runs == []
    await handle.terminate("test finished")


async def test_api_acknowledgements_are_the_tokens_not_any_name(stack: Stack) -> None:
    ticket_id, _ = await stack.open("paging")
    await stack.paged(ticket_id, ANA)
    url = f"/v1/tickets/paging/{ticket_id}/events"
    spoof = {"type": "acknowledge", "responder": "ana", "channel": "sms"}
    refused = await stack.http.post(url, json=spoof, headers=stack.bearer("paging"))
    assert refused.status_code == 422 and refused.json()["fields"][0]["field"] == "channel"
    said = {"type": "acknowledge", "responder": "duty desk"}
    done = await stack.http.post(url, json=said, headers=stack.bearer("paging"))
    assert done.status_code == 200, done.text
    (ack,) = done.json()["acknowledgements"]
    assert ack["channel"] == "api"
    assert ack["responder"].startswith("api:token#") and ack["responder"].endswith(": duty desk")


async def test_status_shows_responders_by_id_never_numbers_or_codes(stack: Stack) -> None:
    ticket_id, _ = await stack.open("paging")
    await stack.paged(ticket_id, ANA)
    status = await stack.http.get(f"/v1/tickets/paging/{ticket_id}", headers=stack.bearer("paging"))
    sent = status.json()["sent"]
    assert sent, status.text
    assert {s["to"] for s in sent} <= {"ana", "emergency_line"}
    assert all(s["code"] is None for s in sent)
    assert "+40" not in status.text


async def test_a_trailing_newline_never_reaches_a_visibility_query(stack: Stack) -> None:
    listed = await stack.http.get(
        "/v1/tickets", params={"tenant": "acme\n"}, headers=stack.bearer("*")
    )
    assert listed.status_code == 422, listed.text
    assert listed.json()["fields"][0]["field"] == "tenant"
    severity = await stack.http.get(
        "/v1/tickets", params={"severity": "critical\n"}, headers=stack.bearer("*")
    )
    assert severity.status_code == 422, severity.text


async def test_an_unknown_tenant_is_refused_without_listing_the_others(stack: Stack) -> None:
    body = {"tenant": "nobody", "ticket_id": "1"}
    answer = await stack.http.post("/v1/tickets", json=body, headers=stack.bearer("*"))
    assert answer.status_code == 422
    assert answer.json()["fields"][0]["field"] == "tenant"
    for tenant in ("acme", "acme-eu", "paging"):
        assert tenant not in answer.text
