"""Intake API: ticket events and their rejections, status, and listing through visibility."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from intake.errors import ApiError
from intake.gateway import TicketGateway
from slawatch.models import ReclassifyInput
from slawatch.tools.process import poll_until
from tests.intake_fixtures import TOKEN_PROKURIA, Api, bearer, new_ticket_id


async def opened(api: Api, tenant: str = "prokuria", severity: str = "critical") -> str:
    ticket_id = new_ticket_id()
    body = {"tenant": tenant, "ticket_id": ticket_id, "severity": severity}
    reply = await api.http.post("/v1/tickets", json=body, headers=bearer())
    assert reply.status_code == 201, reply.text
    return ticket_id


async def event(api: Api, ticket_id: str, tenant: str = "prokuria", **body: Any) -> httpx.Response:
    path = f"/v1/tickets/{tenant}/{ticket_id}/events"
    return await api.http.post(path, json=body, headers=bearer())


async def test_events_return_the_new_status(api: Api) -> None:
    tid = await opened(api)
    first = await event(api, tid, type="first_response", by="agent 7")
    assert first.status_code == 200
    assert first.json()["response"]["state"] == "met"
    assert (await event(api, tid, type="pause")).json()["phase"] == "waiting_on_customer"
    assert (await event(api, tid, type="resume")).json()["phase"] == "open"
    moved = await event(api, tid, type="reclassify", severity="major", reason="customer call")
    assert moved.json()["severity"] == "major"
    assert (await event(api, tid, type="resolve", note="fixed")).json()["phase"] == "resolved"
    assert (await event(api, tid, type="reopen")).json()["phase"] == "open"
    got = await api.http.get(f"/v1/tickets/prokuria/{tid}", headers=bearer())
    events = [h["event"] for h in got.json()["history"]]
    assert events[-4:] == ["resume", "reclassify", "resolve", "reopen"]


async def test_invalid_transition_is_409_and_changes_nothing(api: Api) -> None:
    tid = await opened(api)
    reply = await event(api, tid, type="resume")
    assert reply.status_code == 409
    assert reply.json() == {"error": "conflict", "detail": "cannot resume a ticket that is open"}
    status = (await api.http.get(f"/v1/tickets/prokuria/{tid}", headers=bearer())).json()
    assert [h["event"] for h in status["history"]] == ["opened"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"type": "reclassify", "severity": "serious", "reason": "x"}, 422, "severity"),
        ({"type": "reclassify", "severity": "major"}, 422, "reason"),
        ({"type": "explode"}, 422, "type"),
        ({}, 422, "type"),
        ({"type": "pause", "until": "tomorrow"}, 422, "until"),
        (
            {"type": "acknowledge", "breach_id": "b-404", "responder": "x"},
            404,
            None,
        ),
    ],
)
async def test_bad_events_name_the_problem(
    api: Api, body: dict[str, Any], status: int, field: str | None
) -> None:
    tid = await opened(api)
    reply = await event(api, tid, **body)
    assert reply.status_code == status, reply.text
    if field:
        assert field in [f["field"] for f in reply.json()["fields"]]


async def test_workflow_rejections_map_to_statuses(api: Api) -> None:
    tid = await opened(api)
    gateway = TicketGateway(api.client, api.settings.ticket_task_queue)
    bad = ReclassifyInput(severity="bogus", reason="the workflow, not the API, must refuse")
    with pytest.raises(ApiError) as caught:
        await gateway.update("prokuria", tid, "reclassify", bad)
    assert (caught.value.status, caught.value.field) == (422, "severity")


async def test_unknown_and_closed_tickets(api: Api) -> None:
    missing = await event(api, "T-never-opened", type="pause")
    assert missing.status_code == 404
    assert "no ticket 'T-never-opened' for tenant 'prokuria'" in missing.json()["detail"]
    assert (await api.http.get("/v1/tickets/prokuria/nope", headers=bearer())).status_code == 404
    tid = await opened(api)
    assert (await event(api, tid, type="close")).status_code == 200
    after = await event(api, tid, type="reopen")
    assert after.status_code == 409
    assert "no longer running (completed)" in after.json()["detail"]


async def test_scoped_token_cannot_touch_other_tenants(api: Api) -> None:
    tid = await opened(api, tenant="cargotask", severity="serious")
    path = f"/v1/tickets/cargotask/{tid}"
    assert (await api.http.get(path, headers=bearer(TOKEN_PROKURIA))).status_code == 403
    reply = await api.http.post(
        f"{path}/events", json={"type": "close"}, headers=bearer(TOKEN_PROKURIA)
    )
    assert reply.status_code == 403
    assert (await api.http.get(path, headers=bearer())).json()["phase"] == "open"


async def listed(api: Api, token: str = "tok-all", **params: str) -> set[str]:
    reply = await api.http.get(
        "/v1/tickets", params={**params, "limit": "1000"}, headers=bearer(token)
    )
    assert reply.status_code == 200, reply.text
    return {t["ticket_id"] for t in reply.json()["tickets"]}


async def test_list_filters_by_tenant_state_and_class(api: Api) -> None:
    crit, minor = await opened(api), await opened(api, severity="minor")
    cargo = await opened(api, tenant="cargotask", severity="standard")
    await event(api, minor, type="pause")

    await poll_until(
        "the list to show it", lambda: _has(api, crit, tenant="prokuria", severity="critical")
    )
    await poll_until(
        "the list to show it", lambda: _has(api, minor, tenant="prokuria", state="paused")
    )
    critical = await listed(api, tenant="prokuria", severity="critical")
    assert crit in critical and minor not in critical
    assert minor not in await listed(api, tenant="prokuria", state="on_track")
    await poll_until("the list", lambda: _has(api, cargo, tenant="cargotask"))
    scoped = await listed(api, token=TOKEN_PROKURIA)
    assert crit in scoped and cargo not in scoped


async def _has(api: Api, ticket_id: str, **params: str) -> bool:
    return ticket_id in await listed(api, **params)


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"state": "sleepy"}, 422, "state"),
        ({"severity": "x' OR '1'='1"}, 422, "severity"),
        ({"limit": "0"}, 422, "limit"),
        ({"tenant": "cargotask"}, 403, None),
    ],
)
async def test_list_rejects_bad_filters(
    api: Api, params: dict[str, str], status: int, field: str | None
) -> None:
    reply = await api.http.get("/v1/tickets", params=params, headers=bearer(TOKEN_PROKURIA))
    assert reply.status_code == status
    if field:
        assert field in [f["field"] for f in reply.json()["fields"]]
