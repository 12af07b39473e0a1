"""On-call API: overrides created, listed and deleted per tenant token, who is on call, the feed.

The real app over a real Temporal dev server (tests/intake_fixtures.py), with a policy
directory whose Prokuria `primary` is a schedule, and the real override store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import icalendar
import pytest
from pydantic import SecretStr
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.oncall import OnCallActivities, ResolveRolesInput
from activities.overrides import (
    OverrideActivities,
    ReadOverridesInput,
    SqliteOverrideStore,
)
from intake.app import create_app
from intake.oncall_feed import feed_key
from slawatch.settings import Settings
from tests.intake_fixtures import TOKEN_ALL, TOKEN_PROKURIA, bearer
from tests.oncall_policies import write_policies

BUCHAREST = ZoneInfo("Europe/Bucharest")
FEED_SECRET = "test-feed-secret-0123456789"


def settings_for(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        policy_dir=write_policies(tmp_path / "policies"),
        api_tokens=SecretStr(f"{TOKEN_ALL}=*;{TOKEN_PROKURIA}=prokuria"),
        oncall_feed_secret=SecretStr(FEED_SECRET),
        public_base_url="https://slawatch.example.test",
    )


@pytest.fixture
async def http(dev_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings_for(tmp_path), dev_env.client)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield client


def tomorrow() -> str:
    return (datetime.now(BUCHAREST) + timedelta(days=1)).date().isoformat()


def day_after(days: int) -> str:
    return (datetime.now(BUCHAREST) + timedelta(days=days)).date().isoformat()


def cover(**fields: Any) -> dict[str, Any]:
    """Bogdan instead of Ana, tomorrow 18:00 to the day after 09:00, Bucharest wall clock."""
    body = {
        "role": "primary",
        "person": "bogdan",
        "replaces": "ana",
        "starts_at": f"{tomorrow()}T18:00",
        "ends_at": f"{day_after(3)}T09:00",
        "timezone": "Europe/Bucharest",
    }
    return {k: v for k, v in (body | fields).items() if v is not None}


async def test_an_override_is_created_listed_honoured_and_deleted(
    http: httpx.AsyncClient, tmp_path: Path
) -> None:
    # Tomorrow 19:00 in Bucharest the `days` layer has Ana or Bogdan on call, by the week.
    at = datetime.fromisoformat(f"{tomorrow()}T19:00").replace(tzinfo=BUCHAREST).isoformat()
    path = "/v1/oncall/prokuria/primary"
    scheduled = (await http.get(path, params={"at": at}, headers=bearer())).json()
    assert scheduled["layer"] == "days" and scheduled["overrides"] == []
    (on_call,) = scheduled["people"]
    other = {"ana": "bogdan", "bogdan": "ana"}[on_call]
    body = cover(person=other, replaces=on_call)
    made = await http.post("/v1/oncall/prokuria/overrides", json=body, headers=bearer())
    assert made.status_code == 201, made.text
    override = made.json()
    start = datetime.fromisoformat(override["starts_at"])
    assert start.astimezone(BUCHAREST).strftime("%H:%M") == "18:00"
    assert override["created_by"] == "api:token#1"

    listed = await http.get("/v1/oncall/prokuria/overrides", headers=bearer())
    assert [o["id"] for o in listed.json()["overrides"]] == [override["id"]]

    answer = (await http.get(path, params={"at": at}, headers=bearer())).json()
    assert (answer["people"], answer["overrides"]) == ([other], [override["id"]])
    assert answer["why"].endswith(f"override {override['id']}: {other} instead of {on_call}")

    # The activity an escalation step will call reads the same store.
    store = SqliteOverrideStore(tmp_path / "data" / "oncall.sqlite3")
    read = await OverrideActivities(store).read_overrides(
        ReadOverridesInput(tenant="prokuria", role="primary", at=start)
    )
    assert [o.id for o in read.overrides] == [override["id"]]
    before = ReadOverridesInput(tenant="prokuria", role="primary", at=start - timedelta(seconds=1))
    assert (await OverrideActivities(store).read_overrides(before)).overrides == []

    gone = await http.delete(f"/v1/oncall/prokuria/overrides/{override['id']}", headers=bearer())
    assert gone.status_code == 204
    again = await http.delete(f"/v1/oncall/prokuria/overrides/{override['id']}", headers=bearer())
    assert again.status_code == 404
    listed = await http.get("/v1/oncall/prokuria/overrides", headers=bearer())
    assert listed.json()["overrides"] == []


async def test_overrides_survive_a_restart_of_the_api(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    made_by: list[str] = []
    for _ in range(2):  # two processes in turn over the same data directory
        app = create_app(settings_for(tmp_path), dev_env.client)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            if not made_by:
                made = await client.post(
                    "/v1/oncall/prokuria/overrides", json=cover(), headers=bearer()
                )
                made_by.append(made.json()["id"])
                continue
            listed = await client.get("/v1/oncall/prokuria/overrides", headers=bearer())
            assert [o["id"] for o in listed.json()["overrides"]] == made_by


async def test_overrides_are_scoped_by_the_tenant_token(http: httpx.AsyncClient) -> None:
    made = await http.post(
        "/v1/oncall/prokuria/overrides", json=cover(), headers=bearer(TOKEN_PROKURIA)
    )
    assert made.status_code == 201
    theirs = cover(person="mart", replaces="kadri")
    refused = await http.post(
        "/v1/oncall/cargotask/overrides", json=theirs, headers=bearer(TOKEN_PROKURIA)
    )
    assert refused.status_code == 403
    for path in ("/v1/oncall/cargotask/overrides", "/v1/oncall/cargotask/primary"):
        assert (await http.get(path, headers=bearer(TOKEN_PROKURIA))).status_code == 403
    assert (await http.get("/v1/oncall/prokuria/overrides")).status_code == 401
    # Another tenant's path never reaches this tenant's override, even with a token for both.
    other = await http.delete(
        f"/v1/oncall/cargotask/overrides/{made.json()['id']}", headers=bearer()
    )
    assert other.status_code == 404
    mine = await http.get("/v1/oncall/prokuria/overrides", headers=bearer())
    assert len(mine.json()["overrides"]) == 1


@pytest.mark.parametrize(
    ("fields", "field", "needle"),
    [
        ({"role": "tertiary"}, "role", "unknown role 'tertiary'"),
        ({"person": "dan"}, "person", "unknown responder 'dan'"),
        ({"replaces": "carmen", "role": "secondary"}, "replaces", "never on call for role"),
        ({"replaces": "bogdan"}, "replaces", "cannot cover for themself"),
        ({"ends_at": f"{day_after(1)}T17:00"}, "ends_at", "must end after it starts"),
        ({"timezone": None}, "starts_at", "give a UTC offset"),
        ({"timezone": "Europe/Cluj"}, "timezone", "unknown time zone 'Europe/Cluj'"),
        ({"ends_at": f"{day_after(200)}T09:00"}, "ends_at", "at most 92 days"),
        (
            {"starts_at": "2020-01-01T00:00Z", "ends_at": "2020-01-02T00:00Z"},
            "ends_at",
            "in the past",
        ),
        ({"starts_at": "soon"}, "starts_at", "datetime"),
        ({"colour": "red"}, "colour", "Extra inputs"),
        ({"person": "Bogdan!"}, "person", "pattern"),
        ({"starts_at": "9999-12-31T00:00"}, "starts_at", "between 2000 and 2099"),
    ],
)
async def test_bad_overrides_are_422_naming_the_field(
    http: httpx.AsyncClient, fields: dict[str, Any], field: str, needle: str
) -> None:
    reply = await http.post("/v1/oncall/prokuria/overrides", json=cover(**fields), headers=bearer())
    assert reply.status_code == 422, reply.text
    body = reply.json()
    assert [f["field"] for f in body["fields"]] == [field]
    assert needle in body["detail"]


async def test_wall_clock_times_that_dst_skips_or_repeats_are_refused(
    http: httpx.AsyncClient,
) -> None:
    # Bucharest skips 03:00-04:00 on the last Sunday of March and repeats it in October.
    skipped = cover(starts_at="2027-03-28T03:30", ends_at="2027-03-29T09:00")
    reply = await http.post("/v1/oncall/prokuria/overrides", json=skipped, headers=bearer())
    assert (
        reply.status_code == 422 and "does not exist in Europe/Bucharest" in reply.json()["detail"]
    )
    twice = cover(starts_at="2027-10-31T03:30", ends_at="2027-11-01T09:00")
    reply = await http.post("/v1/oncall/prokuria/overrides", json=twice, headers=bearer())
    assert reply.status_code == 422 and "happens twice" in reply.json()["detail"]
    offset = cover(starts_at="2027-10-31T03:30+02:00", ends_at="2027-11-01T09:00+02:00")
    assert (
        await http.post("/v1/oncall/prokuria/overrides", json=offset, headers=bearer())
    ).status_code == 201


async def test_the_calendar_feed_lists_the_shifts_and_parses(http: httpx.AsyncClient) -> None:
    window = {"from": "2026-03-02T00:00:00+02:00", "to": "2026-03-16T00:00:00+02:00"}
    reply = await http.get("/v1/oncall/prokuria/primary.ics", params=window, headers=bearer())
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/calendar")
    feed = icalendar.Calendar.from_ical(reply.content)
    events = list(feed.walk("VEVENT"))
    # The rotation started on 5 January with Ana: Monday 2 March 09:00 hands over to her.
    assert [str(e["SUMMARY"]) for e in events[:2]] == ["primary: bogdan", "primary: ana"]
    assert events[0].decoded("DTSTART") == datetime(2026, 3, 2, tzinfo=BUCHAREST)
    assert events[0].decoded("DTEND") == datetime(2026, 3, 2, 9, tzinfo=BUCHAREST)
    assert events[0]["DTSTART"].to_ical() == b"20260301T220000Z"
    nights = [e for e in events if e["SUMMARY"] == "primary: carmen"]
    assert len(nights) == 10  # ten weeknights in two weeks
    assert len({str(e["UID"]) for e in events}) == len(events)
    # Week two of the rotation is Bogdan's: he is on call Monday 9 March at noon.
    noon = datetime(2026, 3, 9, 12, tzinfo=BUCHAREST)
    holding = [e for e in events if e.decoded("DTSTART") <= noon < e.decoded("DTEND")]
    assert [str(e["SUMMARY"]) for e in holding] == ["primary: bogdan"]


@pytest.mark.parametrize(
    ("path", "params", "status", "needle"),
    [
        ("/v1/oncall/prokuria/tertiary.ics", {}, 404, "unknown role 'tertiary'"),
        ("/v1/oncall/prokuria/primary.ics", {"from": "2026-03-02T00:00"}, 422, "UTC offset"),
        (
            "/v1/oncall/prokuria/primary.ics",
            {"from": "2026-03-02T00:00Z", "to": "2026-03-01T00:00Z"},
            422,
            "after",
        ),
        (
            "/v1/oncall/prokuria/primary.ics",
            {"from": "2026-01-01T00:00Z", "to": "2028-01-01T00:00Z"},
            422,
            "366 days",
        ),
        ("/v1/oncall/nobody/primary.ics", {}, 422, "unknown tenant"),
        ("/v1/oncall/prokuria/primary", {"at": "yesterday"}, 422, "datetime"),
        ("/v1/oncall/prokuria/tertiary", {}, 404, "unknown role"),
        # Instants at the ends of `datetime` overflow in a zone: refused, never a 500.
        ("/v1/oncall/prokuria/primary", {"at": "9999-12-31T23:59:59Z"}, 422, "between 2000"),
        ("/v1/oncall/prokuria/primary.ics", {"from": "0001-01-01T00:00Z"}, 422, "between 2000"),
    ],
)
async def test_feed_and_who_refuse_bad_input_clearly(
    http: httpx.AsyncClient, path: str, params: dict[str, str], status: int, needle: str
) -> None:
    reply = await http.get(path, params=params, headers=bearer())
    assert reply.status_code == status, reply.text
    assert needle in reply.json()["detail"]


async def test_who_answers_with_the_layer_that_decided(http: httpx.AsyncClient) -> None:
    at = datetime(2026, 3, 4, 22, tzinfo=BUCHAREST).astimezone(UTC).isoformat()
    reply = await http.get("/v1/oncall/prokuria/primary", params={"at": at}, headers=bearer())
    assert reply.status_code == 200
    body = reply.json()
    assert (body["people"], body["layer"], body["overrides"]) == (["carmen"], "nights", [])
    fixed = await http.get("/v1/oncall/prokuria/secondary", headers=bearer())
    assert (fixed.json()["people"], fixed.json()["why"]) == (["bogdan"], "fixed list")


async def test_the_page_time_activity_reads_the_current_policy_and_the_overrides(
    http: httpx.AsyncClient, tmp_path: Path
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    body = cover(
        replaces=None, starts_at=start.isoformat(), ends_at=(start + timedelta(hours=2)).isoformat()
    )
    made = (await http.post("/v1/oncall/prokuria/overrides", json=body, headers=bearer())).json()
    store = SqliteOverrideStore(tmp_path / "data" / "oncall.sqlite3")
    activities = OnCallActivities(tmp_path / "policies", store)
    env = ActivityEnvironment()
    ask = ResolveRolesInput(tenant="prokuria", roles=["primary", "team", "gone"], at=start)
    result = await env.run(activities.resolve_roles, ask)
    primary, team = result.answers
    assert (primary.people, primary.overrides) == (["bogdan"], [made["id"]])
    assert (team.people, team.why) == (["ana", "bogdan", "carmen"], "fixed list")
    assert result.missing == ["gone"]
    # An edit of the schedule reaches the next resolution (the snapshot stays pinned). At noon
    # the `days` layer decides: Ana or Bogdan before the edit, Carmen after it.
    noon = datetime.fromisoformat(f"{day_after(4)}T12:00").replace(tzinfo=BUCHAREST)
    later = ResolveRolesInput(tenant="prokuria", roles=["primary"], at=noon)
    (before,) = (await env.run(activities.resolve_roles, later)).answers
    assert before.layer == "days" and before.people in (["ana"], ["bogdan"])
    policy_file = tmp_path / "policies" / "prokuria.yaml"
    policy_file.write_text(policy_file.read_text().replace("[ana, bogdan]", "[carmen]"))
    (after,) = (await env.run(activities.resolve_roles, later)).answers
    assert (after.layer, after.people) == ("days", ["carmen"])


async def test_a_calendar_app_reads_the_feed_by_its_secret_url_and_nothing_else(
    http: httpx.AsyncClient,
) -> None:
    asked = await http.get("/v1/oncall/prokuria/primary/feed", headers=bearer(TOKEN_PROKURIA))
    assert asked.status_code == 200, asked.text
    url = httpx.URL(asked.json()["url"])
    assert (url.host, url.path) == ("slawatch.example.test", "/v1/oncall/prokuria/primary.ics")
    key = url.params["key"]
    assert len(key) == 32 and FEED_SECRET not in asked.text
    # No Authorization header, as a calendar app fetches it.
    feed = await http.get(url.path, params={"key": key})
    assert feed.status_code == 200, feed.text
    assert list(icalendar.Calendar.from_ical(feed.content).walk("VEVENT"))
    # A wrong key, another role's key, and no key at all read nothing.
    wrong = key[:-1] + ("0" if key[-1] != "0" else "1")
    assert (await http.get(url.path, params={"key": wrong})).status_code == 404
    secondary = await http.get("/v1/oncall/prokuria/secondary/feed", headers=bearer())
    other_key = httpx.URL(secondary.json()["url"]).params["key"]
    assert other_key != key
    assert (await http.get(url.path, params={"key": other_key})).status_code == 404
    assert (await http.get(url.path)).status_code == 401
    # The URL is handed out only within the token's tenants.
    refused = await http.get("/v1/oncall/cargotask/primary/feed", headers=bearer(TOKEN_PROKURIA))
    assert refused.status_code == 403


async def test_without_a_feed_secret_no_key_opens_a_feed(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path).model_copy(update={"oncall_feed_secret": SecretStr("")})
    app = create_app(settings, dev_env.client)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        asked = await client.get("/v1/oncall/prokuria/primary/feed", headers=bearer())
        assert asked.status_code == 409 and "SLAWATCH_ONCALL_FEED_SECRET" in asked.text
        # The key of the empty secret (what an attacker could compute) opens nothing either.
        empty_key = feed_key("", "prokuria", "primary")
        feed = await client.get("/v1/oncall/prokuria/primary.ics", params={"key": empty_key})
        assert feed.status_code == 404
