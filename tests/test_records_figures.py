"""The record's rows and the report's figure definitions (docs/reports.md), without Temporal."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from matplotlib.image import imread
from pydantic import SecretStr, ValidationError
from temporalio.exceptions import ApplicationError

from activities.records import records_target
from activities.records.activities import POLICY_MISSING, RecordMilestoneInput, record_milestone
from activities.records.build import build_record, policy_hash, snapshot_key
from activities.records.charts import charts
from activities.records.figures import compute_report, percentile
from activities.records.render import to_csv, to_html
from activities.records.report import PeriodError, parse_period
from activities.records.rows import BREACHED, MET, PENDING, BreachRow, TicketRecord, TicketRow
from activities.records.store import RecordStore
from policies.loader import load_policy, snapshot
from policies.schema import Policy
from slawatch.models import (
    Acknowledgement,
    Breach,
    HistoryEntry,
    SentNotification,
    TargetKind,
    TargetState,
    TargetStatus,
    TicketPhase,
    TicketStatus,
)
from slawatch.settings import Settings
from tests.browser import ARTIFACTS, chromium

BERLIN = ZoneInfo("Europe/Berlin")
PROKURIA = load_policy("prokuria")


def _berlin(day: int, hour: int, minute: int = 0) -> datetime:
    # December 2026: Friday the 4th, Monday the 7th (no Romanian holiday in between).
    return datetime(2026, 12, day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


def _status(
    severity: str,
    opened: datetime,
    history: list[tuple[datetime, str, str]],
    response: TargetStatus,
    resolution: TargetStatus,
    phase: TicketPhase = TicketPhase.OPEN,
    breaches: list[Breach] | None = None,
    acknowledgements: list[Acknowledgement] | None = None,
    sent: list[SentNotification] | None = None,
) -> TicketStatus:
    return TicketStatus(
        tenant="prokuria",
        ticket_id="T-1",
        workflow_id="ticket/prokuria/T-1",
        severity=severity,
        category=None,
        phase=phase,
        opened_at=opened,
        sla_state="x",
        response=response,
        resolution=resolution,
        escalation_level=0,
        breaches=breaches or [],
        acknowledgements=acknowledgements or [],
        sent=sent or [],
        history=[HistoryEntry(at=at, event=e, detail=d) for at, e, d in history],
    )


def test_business_and_wall_time_on_a_working_hours_class() -> None:
    """Opened Friday 17:00 Berlin, answered Monday 08:00: 2 business hours, 63 wall hours; a
    wait on the customer over the weekend costs no business time."""
    opened, answered = _berlin(4, 17), _berlin(7, 8)
    status = _status(
        "major",
        opened,
        [
            (opened, "opened", "class major"),
            (_berlin(4, 17, 30), "waiting_on_customer", ""),
            (_berlin(7, 7, 30), "resumed", ""),
            (answered, "first_response", "agent"),
        ],
        TargetStatus(kind=TargetKind.RESPONSE, state=TargetState.BREACHED, met_at=answered),
        TargetStatus(kind=TargetKind.RESOLUTION, state=TargetState.ON_TRACK),
    )
    row = build_record(status, snapshot(PROKURIA, opened)).ticket
    assert row.response_verdict == BREACHED  # 120 business minutes against 90
    assert row.response_business_s == 2 * 3600
    assert row.response_wall_s == 63 * 3600
    assert row.response_due == _berlin(7, 8) - timedelta(minutes=30)
    # Friday 17:30-18:00 and Monday 07:00-07:30 are business time; the weekend is not.
    assert row.paused_business_s == 3600
    assert row.paused_wall_s == (_berlin(7, 7, 30) - _berlin(4, 17, 30)).total_seconds()
    assert row.resolution_verdict == PENDING and row.resolved_at is None


def _critical_response_breach(n: int, at: datetime, outcome: str) -> Breach:
    return Breach(
        breach_id=f"response-{n}",
        kind=TargetKind.RESPONSE,
        at=at,
        severity="critical",
        escalation_workflow_id=f"x-{n}",
        outcome=outcome,
    )


def test_a_downgrade_withdraws_the_breach_and_a_later_one_stands() -> None:
    opened = datetime(2026, 12, 4, 10, tzinfo=UTC)
    first, second = opened + timedelta(minutes=60), opened + timedelta(minutes=130)
    breaches = [
        _critical_response_breach(1, first, "stopped"),
        _critical_response_breach(2, second, "acknowledged"),
    ]
    downgraded = first + timedelta(minutes=3)
    status = _status(
        "critical",
        opened,
        [
            (opened, "opened", "class critical"),
            (first, "breached", ""),
            (downgraded, "reclassified", "critical -> major: subset"),
            (second - timedelta(minutes=1), "reclassified", "major -> critical: worse"),
            (second, "breached", ""),
        ],
        TargetStatus(kind=TargetKind.RESPONSE, state=TargetState.BREACHED, breached_at=second),
        TargetStatus(kind=TargetKind.RESOLUTION, state=TargetState.ON_TRACK),
        breaches=breaches,
        acknowledgements=[
            Acknowledgement(breach_id="response-2", responder="ana", channel="sms", at=second)
        ],
        sent=[
            SentNotification(
                breach_id="response-2",
                key="k1",
                channel="sms",
                to="+40721555101",
                recipient="ana",
                at=second,
                ok=True,
            ),
            SentNotification(
                breach_id="warning-response-50",
                key="w",
                channel="email",
                to="a@example.com",
                recipient="team",
                at=opened + timedelta(minutes=30),
                ok=True,
            ),
        ],
    )
    record = build_record(status, PROKURIA)
    assert [(b.breach_id, b.withdrawn) for b in record.breaches] == [
        ("response-1", True),
        ("response-2", False),
    ]
    assert record.breaches[0].withdrawn_at == downgraded
    assert record.breaches[1].acknowledged_by == "ana"
    assert record.ticket.opened_class == "critical" and record.ticket.reclassifications == 2
    # The warning email is a milestone, not a page.
    assert [p.key for p in record.pages] == ["k1"]
    assert ("warned", "response 50%") in [(e.event, e.detail) for e in record.events]


def test_policy_identity_ignores_the_holidays_a_snapshot_resolved() -> None:
    early = snapshot(PROKURIA, datetime(2026, 1, 5, tzinfo=UTC))
    late = snapshot(PROKURIA, datetime(2027, 6, 1, tzinfo=UTC))
    assert policy_hash(early) == policy_hash(late) == policy_hash(PROKURIA)
    changed = PROKURIA.model_copy(update={"name": "Prokuria, amended"})
    assert policy_hash(changed) != policy_hash(PROKURIA)


def _row(
    ticket_id: str, sla_class: str, response: str, wall: float | None, **kw: object
) -> TicketRow:
    fields: dict[str, object] = {
        "tenant": "prokuria",
        "ticket_id": ticket_id,
        "workflow_id": f"ticket/prokuria/{ticket_id}",
        "sla_class": sla_class,
        "opened_class": sla_class,
        "phase": "open",
        "policy_tenant": "prokuria",
        "policy_hash": "h",
        "opened_at": datetime(2026, 12, 1, tzinfo=UTC),
        "response_verdict": response,
        "response_wall_s": wall,
        "response_business_s": wall,
        "resolution_verdict": PENDING,
    }
    return TicketRow.model_validate(fields | kw)


def test_met_percent_counts_decided_targets_and_percentiles_are_nearest_rank() -> None:
    rows = [
        _row("A", "critical", MET, 600),
        _row("B", "critical", MET, 1200),
        _row("C", "critical", BREACHED, 4800),
        _row("D", "critical", PENDING, None),
        _row("E", "critical", "none", None),
    ]
    start, end = datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    report = compute_report("prokuria", start, end, rows, [], [], ["critical", "major"])
    crit, major = report.classes
    assert (crit.opened, crit.response.met, crit.response.breached) == (5, 2, 1)
    assert (crit.response.pending, crit.response.no_target) == (1, 1)
    assert crit.response.met_pct == 66.7  # pending and no-target tickets are not decided
    assert crit.response.wall_median_s == 1200
    assert crit.response.wall_p90_s == 4800
    assert major.opened == 0 and major.response.met_pct is None  # a class without tickets
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90) == 9
    assert percentile([5], 90) == 5 and percentile([], 90) is None


def test_the_csv_has_one_row_per_class_under_one_header() -> None:
    rows = [_row("A", "critical", MET, 600), _row("B", "minor", BREACHED, 90000)]
    start, end = parse_period("2026-12", None, None)
    report = compute_report("prokuria", start, end, rows, [], [], ["critical", "major", "minor"])
    lines = to_csv(report).splitlines()
    assert len(lines) == 4
    assert lines[0].split(",")[:5] == ["tenant", "from", "to", "class", "opened"]
    assert [line.split(",")[3] for line in lines[1:]] == ["critical", "major", "minor"]


def test_periods_are_utc_months_or_inclusive_days_and_errors_name_the_field() -> None:
    assert parse_period("2026-12", None, None) == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert parse_period(None, "2026-12-01", "2026-12-01")[1] == datetime(2026, 12, 2, tzinfo=UTC)
    for args, field in [
        (("2026-13", None, None), "month"),
        (("2026-12", "2026-12-01", None), "month"),
        ((None, "2026-12-01", None), "to"),
        ((None, "yesterday", "2026-12-01"), "from"),
        ((None, "2026-12-02", "2026-12-01"), "to"),
    ]:
        with pytest.raises(PeriodError) as raised:
            parse_period(*args)
        assert raised.value.field == field


def test_a_stale_write_never_overwrites_a_newer_one_and_migrations_run_once(
    tmp_path: Path,
) -> None:
    store = RecordStore(tmp_path / "r.sqlite3")
    assert store.migrate() == [] and store.schema_version() == 2
    newer = _row("A", "critical", MET, 600, version=5)
    older = _row("A", "critical", PENDING, None, version=3)
    for row in (newer, older, newer):
        store.write(build_only(row))
    [kept] = store.tickets(
        "prokuria", datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    )
    assert kept == newer
    assert store.counts()["sla_ticket"] == 1


def test_a_policy_snapshot_is_kept_once_and_named_by_its_key(tmp_path: Path) -> None:
    store = RecordStore(tmp_path / "r.sqlite3")
    opened = _berlin(4, 9)
    status = _status(
        "major",
        opened,
        [(opened, "opened", "class major")],
        TargetStatus(kind=TargetKind.RESPONSE, state=TargetState.ON_TRACK),
        TargetStatus(kind=TargetKind.RESOLUTION, state=TargetState.ON_TRACK),
    )
    snap = snapshot(PROKURIA, status.opened_at)
    key = snapshot_key(snap)
    assert key == snapshot_key(Policy.model_validate_json(snap.model_dump_json()))
    # Another year's snapshot of the same terms: the same policy_hash, another key.
    later = snapshot(PROKURIA, status.opened_at + timedelta(days=800))
    assert policy_hash(later) == policy_hash(snap) and snapshot_key(later) != key

    carried = RecordMilestoneInput(milestone="opened", status=status, policy=snap, policy_key=key)
    record_milestone(store, carried)
    assert store.policy(key) == snap.model_dump_json()
    assert store.policy("other") is None
    # A later write names it; the caller passes what the store holds.
    named = RecordMilestoneInput(milestone="closed", status=status, policy_key=key)
    record_milestone(store, named, Policy.model_validate_json(store.policy(key) or ""))
    assert record_milestone(store, carried).ticket_id == status.ticket_id  # kept once: no error

    with pytest.raises(ApplicationError) as missing:
        record_milestone(store, named.model_copy(update={"policy_key": "gone"}))
    assert missing.value.type == POLICY_MISSING and missing.value.non_retryable
    assert "policy_key" in str(missing.value)
    with pytest.raises(ValidationError, match="policy or the policy's key"):
        RecordMilestoneInput(milestone="opened", status=status)


def build_only(row: TicketRow) -> TicketRecord:
    return TicketRecord(ticket=row)


def test_the_records_url_setting(tmp_path: Path) -> None:
    assert records_target(Settings(data_dir=tmp_path)) == tmp_path / "records.sqlite3"
    ledger = "postgresql://u:secret@db:5432/x"
    assert records_target(Settings(ledger_url=SecretStr(ledger))) == ledger
    own = Settings(ledger_url=SecretStr(ledger), records_url=SecretStr("sqlite:///tmp/r.db"))
    assert records_target(own) == Path("tmp/r.db")
    with pytest.raises(ValidationError) as raised:
        Settings(records_url=SecretStr("mysql://u:hunter2@db/x"))
    assert "records_url" in str(raised.value) and "hunter2" not in str(raised.value)


def _month_of_rows() -> tuple[list[TicketRow], list[BreachRow]]:
    """Forty tickets over December 2026 in three classes, every fifth one breached."""
    rows, breaches = [], []
    for i in range(40):
        opened = datetime(2026, 12, 1, tzinfo=UTC) + timedelta(hours=18 * i)
        name = ("critical", "major", "minor")[i % 3]
        late = i % 5 == 0
        rows.append(
            _row(f"T{i}", name, BREACHED if late else MET, 600.0 + 300 * (i % 7), opened_at=opened)
        )
        if late:
            breaches.append(
                BreachRow(
                    tenant="prokuria",
                    ticket_id=f"T{i}",
                    breach_id="response-1",
                    kind=TargetKind.RESPONSE,
                    sla_class=name,
                    breached_at=opened + timedelta(hours=1),
                    withdrawn=i % 10 == 0,
                )
            )
    return rows, breaches


def test_the_html_report_shows_its_charts_in_headless_chromium(tmp_path: Path) -> None:
    rows, breaches = _month_of_rows()
    start, end = parse_period("2026-12", None, None)
    report = compute_report(
        "prokuria", start, end, rows, breaches, [], ["critical", "major", "minor"]
    )
    assert {w.week for w in report.weekly} >= {date(2026, 11, 30), date(2026, 12, 28)}
    page = to_html(report, charts(report, rows))
    assert page.count('src="data:image/svg+xml;base64,') == 3
    assert "<script" not in page and "http" not in page.replace("http://www.w3.org", "")

    source = tmp_path / "sla-report.html"
    source.write_text(page, encoding="utf-8")
    shot = ARTIFACTS / "sla-report.png"  # kept for people to look at
    ARTIFACTS.mkdir(exist_ok=True)
    chromium(tmp_path, "--window-size=1100,2200", f"--screenshot={shot}", source.as_uri())
    pixels = imread(str(shot))[:, :, :3]
    # Pixels of the first class's colour (#0072B2): the charts draw it, the tables do not.
    target = np.array([0x00, 0x72, 0xB2]) / 255
    blue = np.abs(pixels - target).max(axis=2) < 0.08
    rows_with_blue = np.flatnonzero(blue.any(axis=1))
    assert blue.sum() > 500
    # All of it below the class table: the pictures drew it, in the order the page gives.
    assert rows_with_blue.min() > 250
