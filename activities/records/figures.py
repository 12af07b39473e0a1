"""The compliance report's figures from SLA records (pure; docs/reports.md defines each one).

A report covers the tickets a tenant opened in [start, end) and counts each under its final
class, with the verdicts its workflow reached under that class. Percentiles are nearest-rank.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from activities.records.rows import BREACHED, MET, NO_TARGET, PENDING, BreachRow, PageRow, TicketRow
from slawatch.models import TargetKind

CHANNELS = ("sms", "voice", "email")


class Figures(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TargetFigures(Figures):
    met: int = 0
    breached: int = 0
    pending: int = 0
    no_target: int = 0
    # met / (met + breached) in percent; None while nothing is decided.
    met_pct: float | None = None
    business_median_s: float | None = None
    business_p90_s: float | None = None
    wall_median_s: float | None = None
    wall_p90_s: float | None = None


class ClassFigures(Figures):
    sla_class: str
    opened: int = 0
    response: TargetFigures = Field(default_factory=TargetFigures)
    resolution: TargetFigures = Field(default_factory=TargetFigures)
    breaches_acknowledged: int = 0
    ack_median_s: float | None = None
    ack_p90_s: float | None = None
    pages_by_channel: dict[str, int] = Field(default_factory=lambda: dict.fromkeys(CHANNELS, 0))
    paused_tickets: int = 0
    paused_business_s: float = 0.0
    paused_wall_s: float = 0.0
    reclassified_tickets: int = 0
    reclassifications: int = 0


class BreachLine(Figures):
    ticket_id: str
    sla_class: str
    kind: TargetKind
    breached_at: datetime
    due: datetime | None
    # How late the target was met (its first response or resolution minus the due time); None
    # while it is still open or when the breach was withdrawn.
    late_by_s: float | None
    withdrawn: bool
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    ack_channel: str | None


class WeekFigures(Figures):
    """Response verdicts of one class's tickets opened in one ISO week (Monday, UTC)."""

    week: date
    sla_class: str
    opened: int
    response_met: int
    response_breached: int
    response_met_pct: float | None


class Report(Figures):
    tenant: str
    start: datetime
    end: datetime
    classes: list[ClassFigures]
    breaches: list[BreachLine]
    weekly: list[WeekFigures] = Field(default_factory=list)


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest rank: the smallest value with at least pct% of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(pct / 100 * len(ordered)), 1) - 1]


def _target(rows: list[TicketRow], kind: TargetKind) -> TargetFigures:
    prefix = kind.value
    verdicts = Counter(getattr(t, f"{prefix}_verdict") for t in rows)
    business = [v for t in rows if (v := getattr(t, f"{prefix}_business_s")) is not None]
    wall = [v for t in rows if (v := getattr(t, f"{prefix}_wall_s")) is not None]
    decided = verdicts[MET] + verdicts[BREACHED]
    return TargetFigures(
        met=verdicts[MET],
        breached=verdicts[BREACHED],
        pending=verdicts[PENDING],
        no_target=verdicts[NO_TARGET],
        met_pct=round(100 * verdicts[MET] / decided, 1) if decided else None,
        business_median_s=median(business),
        business_p90_s=percentile(business, 90),
        wall_median_s=median(wall),
        wall_p90_s=percentile(wall, 90),
    )


def compute_report(
    tenant: str,
    start: datetime,
    end: datetime,
    tickets: list[TicketRow],
    breaches: list[BreachRow],
    pages: list[PageRow],
    classes: list[str] | None = None,
) -> Report:
    """The report of `tickets` (opened in [start, end)) with their breaches and pages."""
    by_class: dict[str, list[TicketRow]] = defaultdict(list)
    for t in tickets:
        by_class[t.sla_class].append(t)
    by_id = {t.ticket_id: t for t in tickets}
    class_of = {t.ticket_id: t.sla_class for t in tickets}
    names = list(classes or []) + sorted(set(by_class) - set(classes or []))
    first_page: dict[tuple[str, str], datetime] = {}
    for p in pages:
        if p.ok:
            key = (p.ticket_id, p.breach_id)
            first_page[key] = min(first_page.get(key, p.sent_at), p.sent_at)
    acks: dict[str, list[float]] = defaultdict(list)
    acked: Counter[str] = Counter()
    for b in breaches:
        paged = first_page.get((b.ticket_id, b.breach_id))
        if b.acknowledged_at is not None and b.ticket_id in class_of:
            acked[class_of[b.ticket_id]] += 1
            if paged is not None:
                acks[class_of[b.ticket_id]].append((b.acknowledged_at - paged).total_seconds())
    sent: dict[str, Counter[str]] = defaultdict(Counter)
    for p in pages:
        if p.ok and p.ticket_id in class_of:
            sent[class_of[p.ticket_id]][p.channel] += 1

    result = []
    for name in names:
        rows = by_class.get(name, [])
        paused = [t for t in rows if t.paused_wall_s > 0]
        channels = dict.fromkeys(CHANNELS, 0) | dict(sent[name])
        result.append(
            ClassFigures(
                sla_class=name,
                opened=len(rows),
                response=_target(rows, TargetKind.RESPONSE),
                resolution=_target(rows, TargetKind.RESOLUTION),
                breaches_acknowledged=acked[name],
                ack_median_s=median(acks[name]),
                ack_p90_s=percentile(acks[name], 90),
                pages_by_channel=channels,
                paused_tickets=len(paused),
                paused_business_s=sum(t.paused_business_s for t in rows),
                paused_wall_s=sum(t.paused_wall_s for t in rows),
                reclassified_tickets=sum(1 for t in rows if t.reclassifications),
                reclassifications=sum(t.reclassifications for t in rows),
            )
        )
    return Report(
        tenant=tenant,
        start=start,
        end=end,
        classes=result,
        breaches=[_line(b, by_id[b.ticket_id]) for b in breaches if b.ticket_id in by_id],
        weekly=_weekly(tickets, names),
    )


def _weekly(tickets: list[TicketRow], names: list[str]) -> list[WeekFigures]:
    weeks: dict[tuple[date, str], list[TicketRow]] = defaultdict(list)
    for t in tickets:
        day = t.opened_at.astimezone(UTC).date()
        weeks[(day - timedelta(days=day.weekday()), t.sla_class)].append(t)
    result = []
    for (week, name), rows in sorted(weeks.items(), key=lambda k: (k[0][0], names.index(k[0][1]))):
        verdicts = Counter(t.response_verdict for t in rows)
        decided = verdicts[MET] + verdicts[BREACHED]
        result.append(
            WeekFigures(
                week=week,
                sla_class=name,
                opened=len(rows),
                response_met=verdicts[MET],
                response_breached=verdicts[BREACHED],
                response_met_pct=round(100 * verdicts[MET] / decided, 1) if decided else None,
            )
        )
    return result


def _line(b: BreachRow, ticket: TicketRow) -> BreachLine:
    met: Any = ticket.first_response_at if b.kind is TargetKind.RESPONSE else ticket.resolved_at
    late = None
    if not b.withdrawn and met is not None and b.due is not None:
        late = (met - b.due).total_seconds()
    return BreachLine(
        ticket_id=b.ticket_id,
        sla_class=b.sla_class,
        kind=b.kind,
        breached_at=b.breached_at,
        due=b.due,
        late_by_s=late,
        withdrawn=b.withdrawn,
        acknowledged_by=b.acknowledged_by,
        acknowledged_at=b.acknowledged_at,
        ack_channel=b.ack_channel,
    )
