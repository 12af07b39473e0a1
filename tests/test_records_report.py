"""The SLA record and the compliance report, end to end on the real dev server and worker.

Tickets of both tenants are opened with their opening in the past (as intake does for tickets
from a help desk), so targets are met, breached, withdrawn and acknowledged in seconds of real
time. The backfill fills SQLite and PostgreSQL stores through visibility and the tickets' own
statuses; the report's figures must equal the ones this test computes from its own log.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import statistics
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from activities.records.activities import (
    RecordActivities,
    RecordMilestoneInput,
    record_milestone,
)
from activities.records.backfill import backfill
from activities.records.figures import Report
from activities.records.report import build_report
from activities.records.store import RecordStore
from intake.app import create_app
from policies.loader import load_policy
from slawatch.models import (
    TICKET_WORKFLOW_TYPE,
    AcknowledgeInput,
    CloseInput,
    FirstResponseInput,
    OpenTicketInput,
    PauseInput,
    ReclassifyInput,
    ResolveInput,
    ResumeInput,
    TicketStatus,
    TicketWorkflowInput,
    ticket_workflow_id,
)
from slawatch.settings import Settings
from slawatch.tools.cli import app as cli
from tests.harness import StandInNotifier
from tests.postgres_fixtures import PostgresServer
from tests.temporal_fixtures import slawatch_cli
from workers.worker import notify_worker, ticket_worker
from workflows.ticket import TicketSlaWorkflow

ANA = "+40721555101"  # Prokuria's primary on call (policies/data/prokuria.yaml)


@dataclass
class Log:
    """What the test did and what each step answered: the independent source of the figures."""

    client: Client
    queue: str
    notifier: StandInNotifier
    handles: dict[str, WorkflowHandle[Any, Any]] = field(default_factory=dict)
    # Every status an event answered, in order: what live milestone writes would carry.
    statuses: list[TicketStatus] = field(default_factory=list)

    async def open(self, tenant: str, ticket_id: str, ago: timedelta, severity: str) -> None:
        opened_at = datetime.now(UTC) - ago
        handle = await self.client.start_workflow(
            TicketSlaWorkflow.run,
            TicketWorkflowInput(
                ticket=OpenTicketInput(
                    tenant=tenant, ticket_id=ticket_id, severity=severity, opened_at=opened_at
                )
            ),
            id=ticket_workflow_id(tenant, ticket_id),
            task_queue=self.queue,
        )
        self.handles[ticket_id] = handle
        self.statuses.append(await self.status(ticket_id))

    async def status(self, ticket_id: str) -> TicketStatus:
        for _ in range(200):
            try:
                status: TicketStatus = await self.handles[ticket_id].query(
                    "status", result_type=TicketStatus
                )
                return status
            except Exception:  # still starting: its policy snapshot is not in yet
                await asyncio.sleep(0.05)
        raise TimeoutError(ticket_id)

    async def event(self, ticket_id: str, name: str, arg: Any) -> TicketStatus:
        status: TicketStatus = await self.handles[ticket_id].execute_update(
            name, arg, result_type=TicketStatus
        )
        self.statuses.append(status)
        return status

    async def paged(self, ticket_id: str, count: int) -> TicketStatus:
        """Wait until the ticket's status holds `count` pages (the first step's SMS)."""
        for _ in range(300):
            status = await self.status(ticket_id)
            pages = [s for s in status.sent if not s.breach_id.startswith("warning-")]
            if len(pages) >= count:
                return status
            await asyncio.sleep(0.05)
        raise TimeoutError(f"{ticket_id} was not paged")

    def pages(self, ticket_id: str) -> list[Any]:
        wf = self.handles[ticket_id].id
        return [s for s in self.notifier.sent if s.key.startswith(wf) and "/warning-" not in s.key]


def _minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


async def _scenario(log: Log) -> dict[str, datetime]:
    """Seven tickets; returns the instants the figures depend on beyond the statuses."""
    at: dict[str, datetime] = {}
    # P1 critical: responded 30 min after opening (before its 60), resolved now.
    await log.open("prokuria", "P1", _minutes(50), "critical")
    first = datetime.now(UTC) - _minutes(20)
    await log.event("P1", "first_response", FirstResponseInput(at=first, by="agent 1"))
    await log.event("P1", "resolve", ResolveInput())
    # P2 critical: opened 90 min ago, so breached at once; paged, acknowledged by SMS, answered.
    await log.open("prokuria", "P2", _minutes(90), "critical")
    await log.paged("P2", 2)
    ack = AcknowledgeInput(responder="ana", channel="sms", phone=ANA, received_at=datetime.now(UTC))
    await log.event("P2", "acknowledge", ack)
    await log.event("P2", "first_response", FirstResponseInput(by="agent 2"))
    await log.event("P2", "resolve", ResolveInput())
    # P3 critical: answered in 5 min, waits on the customer for a moment, resolved.
    await log.open("prokuria", "P3", _minutes(10), "critical")
    await log.event("P3", "first_response", FirstResponseInput(at=datetime.now(UTC) - _minutes(5)))
    await log.event("P3", "pause", PauseInput(reason="customer"))
    await asyncio.sleep(0.5)
    await log.event("P3", "resume", ResumeInput())
    await log.event("P3", "resolve", ResolveInput())
    # P4 critical, 65 min old: breached; reclassified down to major (90 business minutes, of
    # which at most 65 have passed), which withdraws the breach; then answered in time.
    await log.open("prokuria", "P4", _minutes(65), "critical")
    await log.paged("P4", 2)
    await log.event("P4", "reclassify", ReclassifyInput(severity="major", reason="subset only"))
    await log.event("P4", "first_response", FirstResponseInput(by="agent 4"))
    # P5 minor: just opened, nothing due yet.
    await log.open("prokuria", "P5", _minutes(1), "minor")
    # CargoTASK: C1 answered in 15 min and resolved (no resolution target); C2 breached,
    # paged, never acknowledged, closed.
    await log.open("cargotask", "C1", _minutes(30), "critical")
    first = datetime.now(UTC) - _minutes(15)
    await log.event("C1", "first_response", FirstResponseInput(at=first))
    await log.event("C1", "resolve", ResolveInput())
    await log.open("cargotask", "C2", timedelta(hours=2), "serious")
    await log.paged("C2", 2)
    await log.event("C2", "close", CloseInput())
    at["now"] = datetime.now(UTC)
    return at


def _when(status: TicketStatus, event: str) -> datetime:
    return next(e.at for e in status.history if e.event == event)


def _check_report(report: Report, final: dict[str, TicketStatus], log: Log) -> None:
    """Every figure against what the test itself did (24x7 classes: business = wall)."""
    by_class = {(c.sla_class): c for c in report.classes}
    assert [c.sla_class for c in report.classes] == ["critical", "major", "minor"]
    p1, p2, p3, p4 = (final[t] for t in ("P1", "P2", "P3", "P4"))

    crit = by_class["critical"]
    assert crit.opened == 3
    assert (crit.response.met, crit.response.breached, crit.response.pending) == (2, 1, 0)
    assert crit.response.met_pct == round(100 * 2 / 3, 1)
    responses = [s.response.met_at - s.opened_at for s in (p1, p2, p3)]  # type: ignore[operator]
    seconds = sorted(r.total_seconds() for r in responses)
    assert crit.response.wall_median_s == pytest.approx(statistics.median(seconds))
    assert crit.response.wall_p90_s == pytest.approx(seconds[-1])  # nearest rank of 3: the 3rd
    assert crit.response.business_median_s == pytest.approx(statistics.median(seconds))
    assert (crit.resolution.met, crit.resolution.breached, crit.resolution.pending) == (3, 0, 0)
    pause = _when(p3, "resumed") - _when(p3, "waiting_on_customer")
    resolution_wall = sorted(
        (_when(s, "resolved") - s.opened_at).total_seconds() for s in (p1, p2, p3)
    )
    assert crit.resolution.wall_median_s == pytest.approx(resolution_wall[1])
    business = sorted(
        (_when(s, "resolved") - s.opened_at - (pause if s is p3 else timedelta())).total_seconds()
        for s in (p1, p2, p3)
    )
    assert crit.resolution.business_median_s == pytest.approx(business[1])
    assert crit.resolution.business_p90_s == pytest.approx(business[2])
    assert crit.paused_tickets == 1
    assert crit.paused_wall_s == pytest.approx(pause.total_seconds())
    assert crit.paused_business_s == pytest.approx(pause.total_seconds())
    assert crit.pages_by_channel == {"sms": len(log.pages("P2")), "voice": 0, "email": 0}
    assert crit.breaches_acknowledged == 1
    ack_at = p2.acknowledgements[0].at
    first_page = min(s.at for s in p2.sent if s.ok and not s.breach_id.startswith("warning-"))
    assert crit.ack_median_s == pytest.approx((ack_at - first_page).total_seconds())

    major = by_class["major"]
    assert major.opened == 1 and major.reclassified_tickets == 1 and major.reclassifications == 1
    assert (major.response.met, major.response.breached) == (1, 0)
    assert (major.resolution.met, major.resolution.breached, major.resolution.pending) == (0, 0, 1)
    assert major.response.wall_median_s == pytest.approx(
        (_when(p4, "first_response") - p4.opened_at).total_seconds()
    )
    assert major.pages_by_channel["sms"] == len(log.pages("P4"))
    minor = by_class["minor"]
    assert (minor.opened, minor.response.pending, minor.resolution.pending) == (1, 1, 1)

    lines = {(b.ticket_id, b.withdrawn): b for b in report.breaches}
    assert set(lines) == {("P2", False), ("P4", True)}
    p2_line = lines[("P2", False)]
    due = p2.opened_at + timedelta(minutes=60)
    assert p2_line.due == due
    assert p2_line.late_by_s == pytest.approx((p2.response.met_at - due).total_seconds())  # type: ignore[operator]
    assert (p2_line.acknowledged_by, p2_line.ack_channel) == ("ana", "sms")
    assert lines[("P4", True)].sla_class == "critical" and lines[("P4", True)].late_by_s is None


def _dump(store: RecordStore, tenants: list[str]) -> dict[str, Any]:
    wide = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
    rows: dict[str, Any] = {}
    for tenant in tenants:
        rows[tenant] = (
            [t.model_dump() for t in store.tickets(tenant, *wide)],
            [b.model_dump() for b in store.breaches(tenant, *wide)],
            [p.model_dump() for p in store.pages(tenant, *wide)],
            [
                e.model_dump()
                for t in store.tickets(tenant, *wide)
                for e in store.events(tenant, t.ticket_id)
            ],
        )
    return rows


async def test_backfill_and_report_match_what_was_done_on_sqlite_and_postgresql(
    fresh_dev_env: WorkflowEnvironment, tmp_path: Path, postgres: PostgresServer
) -> None:
    queue = f"records-{uuid.uuid4().hex[:8]}"
    log = Log(fresh_dev_env.client, queue, StandInNotifier(fresh_dev_env))
    # The tickets write their records live into PostgreSQL as they go.
    live_database = postgres.create_database()
    live_pg = RecordStore(postgres.url(live_database))
    async with (
        ticket_worker(fresh_dev_env.client, queue, None, RecordActivities(live_pg)),
        notify_worker(fresh_dev_env.client, queue, log.notifier.activities(), None),
    ):
        await _scenario(log)
        final = {t: await log.status(t) for t in log.handles}
        # Visibility lags the starts by a moment: wait until it lists all seven.
        query = f"WorkflowType = '{TICKET_WORKFLOW_TYPE}'"
        for _ in range(100):
            if len([w async for w in fresh_dev_env.client.list_workflows(query)]) == 7:
                break
            await asyncio.sleep(0.1)
        # SlaBreached stays true once breached, also for P4 whose breach a downgrade withdrew.
        breached = {log.handles[t].id for t in ("P2", "P4", "C2")}
        for _ in range(100):
            found = {w.id async for w in fresh_dev_env.client.list_workflows("SlaBreached = true")}
            if found == breached:
                break
            await asyncio.sleep(0.1)
        assert found == breached
        unbreached = {
            w.id async for w in fresh_dev_env.client.list_workflows("SlaBreached = false")
        }
        assert len(unbreached) == 4

        database = postgres.create_database()
        stores = {
            "sqlite": RecordStore(tmp_path / "records.sqlite3"),
            "postgresql": RecordStore(postgres.url(database)),
        }
        try:
            for name, store in stores.items():
                done = await backfill(fresh_dev_env.client, store, "prokuria")
                assert sorted(done.written) == sorted(
                    log.handles[t].id for t in ("P1", "P2", "P3", "P4", "P5")
                ), name
                done = await backfill(fresh_dev_env.client, store)
                assert len(done.written) == 7 and not done.skipped, (name, done.skipped)
                before = (store.counts(), _dump(store, ["prokuria", "cargotask"]))
                await backfill(fresh_dev_env.client, store)  # a second run changes nothing
                assert (store.counts(), _dump(store, ["prokuria", "cargotask"])) == before
            period = (datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(days=1))
            classes = list(load_policy("prokuria").classes)
            reports = [build_report(s, "prokuria", *period, classes) for s in stores.values()]
            _check_report(reports[0], final, log)
            assert reports[1] == reports[0]
            assert _dump(stores["postgresql"], ["prokuria"]) == _dump(
                stores["sqlite"], ["prokuria"]
            )

            # The live writes (PostgreSQL) hold exactly the rows the backfill wrote: each ticket's
            # last write carried what its status says now (the writes run beside the clock, so
            # the last may land a moment after the event that caused it).
            both = ["prokuria", "cargotask"]
            for _ in range(100):
                if _dump(live_pg, both) == _dump(stores["sqlite"], both):
                    break
                await asyncio.sleep(0.1)
            assert _dump(live_pg, both) == _dump(stores["sqlite"], both)
            assert build_report(live_pg, "prokuria", *period, classes) == reports[0]

            cargo = build_report(stores["sqlite"], "cargotask", *period, ["critical", "serious"])
            c = {x.sla_class: x for x in cargo.classes}
            assert (c["critical"].response.met, c["critical"].resolution.no_target) == (1, 1)
            assert c["serious"].response.breached == 1
            assert c["serious"].pages_by_channel["sms"] == len(log.pages("C2"))
            assert [b.ticket_id for b in cargo.breaches] == ["C2"]
            assert cargo.breaches[0].late_by_s is None  # closed unanswered: still open

            # Live writes: every status an event answered, in order, then a stale retry of
            # the first one, give exactly the rows the backfill wrote.
            live = RecordStore(tmp_path / "live.sqlite3")
            policies = {t: load_policy(t) for t in ("prokuria", "cargotask")}
            pictures = [*log.statuses, *final.values(), log.statuses[0]]
            for status in pictures:
                for _ in range(2):  # a retried activity
                    record_milestone(
                        live,
                        RecordMilestoneInput(
                            milestone="test", status=status, policy=policies[status.tenant]
                        ),
                    )
            assert _dump(live, ["prokuria", "cargotask"]) == _dump(
                stores["sqlite"], ["prokuria", "cargotask"]
            )

            # `slawatch records backfill` itself, in a process of its own (the worker runs in
            # this event loop and answers its queries meanwhile).
            cli_env = dict(os.environ)
            cli_env |= {
                "SLAWATCH_TEMPORAL_ADDRESS": fresh_dev_env.client.service_client.config.target_host,
                "SLAWATCH_RECORDS_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
            }
            said = await slawatch_cli(cli_env, "records", "backfill", "--tenant", "cargotask")
            assert said.startswith("2 tickets written to "), said
            by_cli = RecordStore(tmp_path / "cli.sqlite3")
            assert _dump(by_cli, ["cargotask"]) == _dump(stores["sqlite"], ["cargotask"])
            by_cli.close()

            # The CLI's CSV: one row per class, the same figures.
            env = {"SLAWATCH_RECORDS_URL": f"sqlite:///{tmp_path / 'records.sqlite3'}"}
            day = datetime.now(UTC).date()
            args = ["report", "prokuria", "--from", str(day - timedelta(days=1))]
            args += ["--to", str(day + timedelta(days=1)), "--format", "csv"]
            out = CliRunner().invoke(cli, args, env=env)
            assert out.exit_code == 0, out.output
            rows = list(csv.DictReader(io.StringIO(out.output)))
            assert [r["class"] for r in rows] == ["critical", "major", "minor"]
            assert [int(r["opened"]) for r in rows] == [3, 1, 1]
            assert rows[0]["response_breached"] == "1" and rows[0]["response_met_pct"] == "66.7"

            # The API: token-scoped, the same report as JSON.
            settings = Settings(
                api_tokens=SecretStr("tok-p=prokuria;tok-all=*"),
                records_url=SecretStr(env["SLAWATCH_RECORDS_URL"]),
                data_dir=tmp_path,
            )
            api = create_app(settings, fresh_dev_env.client)
            transport = httpx.ASGITransport(app=api)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                params = {"from": args[3], "to": args[5]}
                got = await http.get(
                    "/v1/reports/prokuria", params=params, headers={"Authorization": "Bearer tok-p"}
                )
                assert got.status_code == 200, got.text
                answered = Report.model_validate_json(got.text)
                # A wider period (whole days) over the same tickets: the same figures.
                assert (answered.classes, answered.breaches) == (
                    reports[0].classes,
                    reports[0].breaches,
                )
                page = await http.get(
                    "/v1/reports/prokuria",
                    params=params | {"format": "html"},
                    headers={"Authorization": "Bearer tok-p"},
                )
                assert page.headers["content-type"].startswith("text/html")
                assert page.text.count('src="data:image/svg+xml;base64,') == 3
                assert "P2" in page.text and "ana (sms)" in page.text
                denied = await http.get(
                    "/v1/reports/cargotask",
                    params=params,
                    headers={"Authorization": "Bearer tok-p"},
                )
                assert denied.status_code == 403
                bad = await http.get(
                    "/v1/reports/prokuria",
                    params={"month": "2026-13"},
                    headers={"Authorization": "Bearer tok-all"},
                )
                assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "month"
        finally:
            for store in [*stores.values(), live_pg]:
                store.close()
            postgres.drop_database(database)
    postgres.drop_database(live_database)
