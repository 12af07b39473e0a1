"""Intake API: Idempotency-Key (the first answer again, across restarts), and repeat opens."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from starlette.types import Receive, Scope, Send

from intake.app import create_app
from intake.auth import TokenAuth
from intake.idempotency import Idempotency
from intake.idempotency_store import (
    CLAIM_LEASE,
    KEY_TTL,
    Claim,
    IdempotencyStore,
    PostgresIdempotencyStore,
    SqliteIdempotencyStore,
    Stored,
)
from tests.intake_fixtures import TOKEN_PROKURIA, Api, bearer, new_ticket_id
from tests.postgres_fixtures import store_pair


def keyed(key: str, token: str = "tok-all") -> dict[str, str]:
    return {**bearer(token), "Idempotency-Key": key}


async def opened(api: Api, severity: str = "critical") -> str:
    ticket_id = new_ticket_id()
    body = {"tenant": "prokuria", "ticket_id": ticket_id, "severity": severity}
    reply = await api.http.post("/v1/tickets", json=body, headers=bearer())
    assert reply.status_code == 201, reply.text
    return ticket_id


def events(ticket_id: str) -> str:
    return f"/v1/tickets/prokuria/{ticket_id}/events"


async def history(api: Api, ticket_id: str) -> list[str]:
    got = await api.http.get(f"/v1/tickets/prokuria/{ticket_id}", headers=bearer())
    return [h["event"] for h in got.json()["history"]]


async def test_a_retried_event_gets_the_first_answer_and_applies_once(api: Api) -> None:
    tid = await opened(api)
    first = await api.http.post(events(tid), json={"type": "pause"}, headers=keyed("k-pause"))
    assert first.status_code == 200, first.text
    # The same body with its keys in another order and other spacing is the same request.
    again = await api.http.post(
        events(tid),
        content=b'{ "type" : "pause" }',
        headers={**keyed("k-pause"), "Content-Type": "application/json"},
    )
    assert (again.status_code, again.content) == (200, first.content)
    assert again.headers["idempotent-replayed"] == "true"
    # Without a key the same event meets the paused ticket: it was applied once.
    assert (
        await api.http.post(events(tid), json={"type": "pause"}, headers=bearer())
    ).status_code == 409
    assert (await history(api, tid)).count("pause") == 1


async def test_the_same_key_for_another_request_is_a_422_naming_the_header(api: Api) -> None:
    tid = await opened(api)
    ok = await api.http.post(events(tid), json={"type": "pause"}, headers=keyed("k-reused"))
    assert ok.status_code == 200
    other = await api.http.post(events(tid), json={"type": "resume"}, headers=keyed("k-reused"))
    assert other.status_code == 422
    body = other.json()
    assert body["error"] == "idempotency_key_reused"
    assert body["fields"][0]["field"] == "Idempotency-Key"
    assert "another request" in body["detail"]
    elsewhere = await opened(api)
    moved = await api.http.post(
        events(elsewhere), json={"type": "pause"}, headers=keyed("k-reused")
    )
    assert moved.status_code == 422  # the path is part of the request
    assert await history(api, elsewhere) == ["opened"]


async def test_a_failed_request_keeps_nothing_and_may_be_retried_with_its_key(api: Api) -> None:
    tid = await opened(api)
    refused = await api.http.post(events(tid), json={"type": "resume"}, headers=keyed("k-fail"))
    assert refused.status_code == 409
    fixed = await api.http.post(events(tid), json={"type": "pause"}, headers=keyed("k-fail"))
    assert fixed.status_code == 200 and "idempotent-replayed" not in fixed.headers


async def test_keys_belong_to_the_token_that_sent_them(api: Api) -> None:
    body = {"tenant": "prokuria", "ticket_id": new_ticket_id(), "severity": "critical"}
    mine = await api.http.post("/v1/tickets", json=body, headers=keyed("k-open"))
    assert mine.status_code == 201
    theirs = await api.http.post("/v1/tickets", json=body, headers=keyed("k-open", TOKEN_PROKURIA))
    # Another token's key of the same name is its own: a fresh open that joins the ticket.
    assert theirs.status_code == 200 and "idempotent-replayed" not in theirs.headers


@pytest.mark.parametrize("key", ["", "x" * 256, "two words"])
async def test_a_malformed_key_is_a_422(api: Api, key: str) -> None:
    tid = await opened(api)
    headers = {**bearer(), "Idempotency-Key": key}
    reply = await api.http.post(events(tid), json={"type": "pause"}, headers=headers)
    assert reply.status_code == 422
    assert "Idempotency-Key" in [f["field"] for f in reply.json()["fields"]]
    assert await history(api, tid) == ["opened"]


@contextlib.asynccontextmanager
async def restarted(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """A second app over the same settings and data directory: the API after a restart."""
    app = create_app(api.settings, api.client)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
        yield http


async def test_retried_events_with_the_same_key_return_the_same_answer_after_a_restart(
    api: Api,
) -> None:
    body = {"tenant": "prokuria", "ticket_id": new_ticket_id(), "severity": "critical"}
    opened_first = await api.http.post("/v1/tickets", json=body, headers=keyed("k-r-open"))
    assert opened_first.status_code == 201
    tid = body["ticket_id"]
    paused = await api.http.post(events(tid), json={"type": "pause"}, headers=keyed("k-r-pause"))
    assert paused.status_code == 200
    async with restarted(api) as http:
        again = await http.post("/v1/tickets", json=body, headers=keyed("k-r-open"))
        # The first answer, 201 included: not the 200 a fresh repeat open would get.
        assert (again.status_code, again.content) == (201, opened_first.content)
        retried = await http.post(events(tid), json={"type": "pause"}, headers=keyed("k-r-pause"))
        assert (retried.status_code, retried.content) == (200, paused.content)
        assert retried.headers["idempotent-replayed"] == "true"
        reused = await http.post(events(tid), json={"type": "close"}, headers=keyed("k-r-pause"))
        assert reused.status_code == 422
    assert (await history(api, tid)).count("pause") == 1


async def test_a_repeat_open_with_another_class_says_so(api: Api) -> None:
    tid = await opened(api, severity="critical")
    body = {"tenant": "prokuria", "ticket_id": tid}
    same = await api.http.post(
        "/v1/tickets", json={**body, "severity": "critical"}, headers=bearer()
    )
    assert same.status_code == 200
    unsaid = await api.http.post("/v1/tickets", json=body, headers=bearer())
    assert unsaid.status_code == 200  # no class named: a plain repeat
    other = await api.http.post("/v1/tickets", json={**body, "severity": "minor"}, headers=bearer())
    assert other.status_code == 409
    assert other.json()["fields"] == [{"field": "severity", "problem": other.json()["detail"]}]
    assert "already open with class 'critical', not 'minor'" in other.json()["detail"]
    assert "reclassify" in other.json()["detail"]
    status = await api.http.get(f"/v1/tickets/prokuria/{tid}", headers=bearer())
    assert status.json()["severity"] == "critical"


async def test_openapi_documents_the_header(api: Api) -> None:
    spec = (await api.http.get("/openapi.json")).json()
    for path in ("/v1/tickets", "/v1/tickets/{tenant}/{ticket_id}/events"):
        names = [p["name"] for p in spec["paths"][path]["post"]["parameters"]]
        assert "Idempotency-Key" in names, path


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> tuple[IdempotencyStore, IdempotencyStore]:
    """Two stores over one backend, as two API replicas (or a restarted API) would open it."""
    path = tmp_path / "webhooks.sqlite3"
    return store_pair(request, SqliteIdempotencyStore, PostgresIdempotencyStore, path)


def test_keys_are_shared_by_replicas_leased_and_forgotten_after_their_ttl(
    stores: tuple[IdempotencyStore, IdempotencyStore],
) -> None:
    one, two = stores
    now = datetime.now(UTC)
    answer = Stored(200, b'{"ok": true}', "application/json")
    assert one.claim("tok", "k1", "fp", now).kind == "new"
    assert two.claim("tok", "k1", "fp", now).kind == "in_flight"
    assert two.claim("tok", "k1", "other", now).kind == "mismatch"
    assert two.claim("tok2", "k1", "fp", now).kind == "new"  # another token's key
    one.complete("tok", "k1", answer, now)
    replay = two.claim("tok", "k1", "fp", now + timedelta(hours=24))
    assert (replay.kind, replay.stored) == ("replay", answer)
    assert two.claim("tok", "k1", "other", now).kind == "mismatch"
    # A claim whose request died with its process is taken over after the lease.
    assert one.claim("tok", "k2", "fp", now).kind == "new"
    assert two.claim("tok", "k2", "fp", now + CLAIM_LEASE + timedelta(seconds=1)).kind == "new"
    one.release("tok", "k2")
    assert two.claim("tok", "k2", "fp2", now).kind == "new"
    # Past the TTL a kept answer is gone: the key is new again.
    assert one.claim("tok", "k1", "other", now + KEY_TTL + timedelta(minutes=1)).kind == "new"


async def test_replicas_on_postgresql_answer_a_key_alike(api: Api, ledger_url: str) -> None:
    """Two API replicas over one PostgreSQL (SLAWATCH_LEDGER_URL): a retry may reach either."""
    shared = api.settings.model_copy(update={"ledger_url": SecretStr(ledger_url)})
    replicas = [create_app(shared, api.client) for _ in range(2)]
    tid = await opened(api)
    answers = []
    for app in replicas:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
            answers.append(
                await http.post(events(tid), json={"type": "pause"}, headers=keyed("k-pg"))
            )
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[1].content == answers[0].content
    assert answers[1].headers["idempotent-replayed"] == "true"
    assert (await history(api, tid)).count("pause") == 1


class _DownStore:
    def claim(self, *args: object, **kwargs: object) -> Claim:
        raise OSError("disk I/O error")

    def complete(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("never reached")

    def release(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("never reached")


async def test_an_unavailable_key_store_is_a_503_and_the_event_is_not_applied() -> None:
    reached: list[str] = []

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(scope["path"])

    guarded = Idempotency(route, store=_DownStore(), auth=TokenAuth("tok-all=*"))
    transport = httpx.ASGITransport(app=guarded)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
        reply = await http.post("/v1/tickets", json={}, headers=keyed("k-down"))
    assert reply.status_code == 503
    assert reply.json()["detail"] == "the idempotency store is unavailable; retry"
    assert reached == []  # without its key's record the request must not run
