"""The report as a table for people, CSV for spreadsheets (one row per class), JSON, or HTML."""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Callable
from datetime import datetime
from typing import Any

from activities.records.figures import CHANNELS, ClassFigures, Report, TargetFigures

FORMATS = ("table", "csv", "json", "html")


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


def _target_columns(prefix: str, t: TargetFigures) -> dict[str, Any]:
    return {
        f"{prefix}_met": t.met,
        f"{prefix}_breached": t.breached,
        f"{prefix}_pending": t.pending,
        f"{prefix}_no_target": t.no_target,
        f"{prefix}_met_pct": t.met_pct,
        f"{prefix}_business_median_min": _minutes(t.business_median_s),
        f"{prefix}_business_p90_min": _minutes(t.business_p90_s),
        f"{prefix}_wall_median_min": _minutes(t.wall_median_s),
        f"{prefix}_wall_p90_min": _minutes(t.wall_p90_s),
    }


def class_columns(report: Report, c: ClassFigures) -> dict[str, Any]:
    """One class as a flat row (CSV and the table share it)."""
    row: dict[str, Any] = {
        "tenant": report.tenant,
        "from": report.start.isoformat(),
        "to": report.end.isoformat(),
        "class": c.sla_class,
        "opened": c.opened,
    }
    row |= _target_columns("response", c.response)
    row |= _target_columns("resolution", c.resolution)
    row |= {
        "breaches_acknowledged": c.breaches_acknowledged,
        "ack_median_min": _minutes(c.ack_median_s),
        "ack_p90_min": _minutes(c.ack_p90_s),
    }
    row |= {f"pages_{ch}": c.pages_by_channel.get(ch, 0) for ch in CHANNELS}
    row |= {
        "paused_tickets": c.paused_tickets,
        "paused_business_min": _minutes(c.paused_business_s),
        "paused_wall_min": _minutes(c.paused_wall_s),
        "reclassified_tickets": c.reclassified_tickets,
        "reclassifications": c.reclassifications,
    }
    return row


def to_csv(report: Report) -> str:
    out = io.StringIO()
    rows = [class_columns(report, c) for c in report.classes]
    empty = class_columns(report, ClassFigures(sla_class=""))
    writer = csv.DictWriter(out, fieldnames=list(empty), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def to_json(report: Report) -> str:
    return report.model_dump_json(indent=2)


def _when(at: datetime | None) -> str:
    return "-" if at is None else at.strftime("%Y-%m-%d %H:%M UTC")


def _dur(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes = round(seconds / 60)
    sign = "-" if minutes < 0 else ""
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours}h{mins:02d}" if hours else f"{sign}{mins}m"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:g}%"


def _target_cell(t: TargetFigures) -> str:
    if t.no_target and not (t.met or t.breached or t.pending):
        return "no target"
    return f"{t.met}/{t.breached}/{t.pending} ({_pct(t.met_pct)})"


CLASS_HEADERS = (
    "class",
    "opened",
    "response met/breached/pending",
    "resp median/p90 (business)",
    "resp median/p90 (wall)",
    "resolution met/breached/pending",
    "resol median/p90 (business)",
    "resol median/p90 (wall)",
    "ack median/p90",
    "pages sms/voice/email",
    "paused (business)",
    "reclassified",
)
BREACH_HEADERS = (
    "ticket",
    "class",
    "target",
    "breached",
    "due",
    "late by",
    "withdrawn",
    "acknowledged by",
    "acknowledged",
)


def class_cells(c: ClassFigures) -> list[str]:
    r, s = c.response, c.resolution
    pages = "/".join(str(c.pages_by_channel.get(ch, 0)) for ch in CHANNELS)
    return [
        c.sla_class,
        str(c.opened),
        _target_cell(r),
        f"{_dur(r.business_median_s)} / {_dur(r.business_p90_s)}",
        f"{_dur(r.wall_median_s)} / {_dur(r.wall_p90_s)}",
        _target_cell(s),
        f"{_dur(s.business_median_s)} / {_dur(s.business_p90_s)}",
        f"{_dur(s.wall_median_s)} / {_dur(s.wall_p90_s)}",
        f"{_dur(c.ack_median_s)} / {_dur(c.ack_p90_s)}",
        pages,
        _dur(c.paused_business_s),
        f"{c.reclassified_tickets} ({c.reclassifications}x)",
    ]


def breach_cells(report: Report) -> list[list[str]]:
    return [
        [
            b.ticket_id,
            b.sla_class,
            b.kind.value,
            _when(b.breached_at),
            _when(b.due),
            "open" if b.late_by_s is None and not b.withdrawn else _dur(b.late_by_s),
            "yes" if b.withdrawn else "no",
            f"{b.acknowledged_by} ({b.ack_channel})" if b.acknowledged_by else "-",
            _when(b.acknowledged_at),
        ]
        for b in report.breaches
    ]


def to_table(report: Report, table: Callable[[list[str], list[list[str]]], str]) -> str:
    title = (
        f"SLA report {report.tenant}: tickets opened {_when(report.start)} to {_when(report.end)}"
    )
    parts = [title, "", table(list(CLASS_HEADERS), [class_cells(c) for c in report.classes])]
    parts += ["", f"Breaches ({len(report.breaches)})"]
    if report.breaches:
        parts.append(table(list(BREACH_HEADERS), breach_cells(report)))
    return "\n".join(parts)


def _html_table(headers: tuple[str, ...], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def to_html(report: Report, charts: str = "") -> str:
    """A self-contained page (no scripts, no external resources)."""
    title = html.escape(f"SLA report {report.tenant}")
    period = html.escape(f"tickets opened {_when(report.start)} to {_when(report.end)}")
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{title}</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}"
        "th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;font-size:12px}"
        "th{background:#f3f3f3}</style></head><body>"
        f"<h1>{title}</h1><p>{period}</p>"
        f"<h2>Per class</h2>{_html_table(CLASS_HEADERS, [class_cells(c) for c in report.classes])}"
        f"{charts}"
        f"<h2>Breaches ({len(report.breaches)})</h2>"
        f"{_html_table(BREACH_HEADERS, breach_cells(report))}"
        "<p>Definitions: docs/reports.md</p></body></html>"
    )
