"""Intake API: opening tickets (201 vs 200, one clock), auth scopes, client mistakes as JSON."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.intake_fixtures import TOKEN_PROKURIA, Api, bearer, new_ticket_id


def ticket(**fields: Any) -> dict[str, Any]:
    return {"tenant": "prokuria", "ticket_id": new_ticket_id(), "severity": "critical", **fields}


async def test_open_creates_then_repeat_returns_existing(api: Api) -> None:
    body = ticket(category="incident")
    first = await api.http.post("/v1/tickets", json=body, headers=bearer())
    assert first.status_code == 201, first.text
    status = first.json()
    assert status["workflow_id"] == f"ticket/prokuria/{body['ticket_id']}"
    assert (status["severity"], status["category"]) == ("critical", "incident")

    again = await api.http.post("/v1/tickets", json=body, headers=bearer())
    assert again.status_code == 200
    # The repeat joined the first clock: same opening, same class, one "opened" entry.
    # (A repeat naming another class is a 409: tests/test_api_idempotency.py.)
    assert again.json()["opened_at"] == status["opened_at"]
    assert again.json()["severity"] == "critical"
    assert [h["event"] for h in again.json()["history"]] == ["opened"]


async def test_concurrent_opens_start_exactly_one_workflow(api: Api) -> None:
    body = ticket()
    replies = await asyncio.gather(
        *(api.http.post("/v1/tickets", json=body, headers=bearer()) for _ in range(8))
    )
    assert sorted(r.status_code for r in replies) == [200] * 7 + [201]
    query = f"WorkflowId = 'ticket/prokuria/{body['ticket_id']}'"
    runs: list[object] = []
    for _ in range(50):  # visibility lags the start by a little
        runs = [wf async for wf in api.client.list_workflows(query)]
        if runs:
            break
        await asyncio.sleep(0.1)
    assert len(runs) == 1


async def test_repeat_of_a_closed_ticket_does_not_restart_its_clock(api: Api) -> None:
    body = ticket()
    assert (await api.http.post("/v1/tickets", json=body, headers=bearer())).status_code == 201
    path = f"/v1/tickets/prokuria/{body['ticket_id']}/events"
    closed = await api.http.post(path, json={"type": "close"}, headers=bearer())
    assert closed.json()["phase"] == "closed"
    again = await api.http.post("/v1/tickets", json=body, headers=bearer())
    assert again.status_code == 200
    assert again.json()["phase"] == "closed"


@pytest.mark.parametrize(
    ("headers", "status", "needle"),
    [
        ({}, 401, "missing bearer token"),
        ({"Authorization": "Basic abc"}, 401, "missing bearer token"),
        ({"Authorization": "Bearer nope"}, 401, "invalid bearer token"),
        (bearer(TOKEN_PROKURIA), 403, "'cargotask'"),
    ],
)
async def test_tokens_are_checked_and_scoped_to_tenants(
    api: Api, headers: dict[str, str], status: int, needle: str
) -> None:
    reply = await api.http.post("/v1/tickets", json=ticket(tenant="cargotask"), headers=headers)
    assert reply.status_code == status
    assert needle in reply.json()["detail"]
    scoped = await api.http.post("/v1/tickets", json=ticket(), headers=bearer(TOKEN_PROKURIA))
    assert scoped.status_code == 201


@pytest.mark.parametrize(
    ("change", "field", "needle"),
    [
        ({"tenant": "acme"}, "tenant", "unknown tenant 'acme'"),
        ({"tenant": "Bad Tenant"}, "tenant", "pattern"),
        ({"severity": "serious"}, "severity", "unknown class 'serious' for prokuria"),
        ({"category": "rumour"}, "category", "unknown category 'rumour'"),
        ({"ticket_id": "has space"}, "ticket_id", "pattern"),
        ({"opened_at": "2026-01-01T10:00:00"}, "opened_at", "timezone"),
        ({"colour": "red"}, "colour", "Extra inputs"),
    ],
)
async def test_bad_fields_are_422_naming_the_field(
    api: Api, change: dict[str, Any], field: str, needle: str
) -> None:
    reply = await api.http.post("/v1/tickets", json=ticket(**change), headers=bearer())
    assert reply.status_code == 422, reply.text
    body = reply.json()
    assert body["error"] == "invalid"
    assert field in [f["field"] for f in body["fields"]]
    assert needle in body["detail"]


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[]", b"null", b'{"tenant": 7}', '{"ticket_id": "\u00e9"}'.encode(), b""],
)
async def test_malformed_bodies_are_client_errors(api: Api, raw: bytes) -> None:
    headers = {**bearer(), "Content-Type": "application/json"}
    reply = await api.http.post("/v1/tickets", content=raw, headers=headers)
    assert reply.status_code == 422
    assert reply.json()["error"] == "invalid"


async def test_oversized_body_is_refused(api: Api) -> None:
    big = ticket(subject="x" * 70_000)
    reply = await api.http.post("/v1/tickets", json=big, headers=bearer())
    assert reply.status_code == 413
    assert reply.json() == {"error": "body_too_large", "detail": "request body over 65536 bytes"}


async def test_openapi_is_served(api: Api) -> None:
    spec = (await api.http.get("/openapi.json")).json()
    assert {"/v1/tickets", "/v1/tickets/{tenant}/{ticket_id}/events"} <= set(spec["paths"])
    assert (await api.http.get("/docs")).status_code == 200
