"""The HTML report's pictures, drawn on the server with matplotlib as inline SVG data URIs.

Self-contained: no scripts, no CDN, text drawn as paths (no font needed by the reader). Figures
are built with matplotlib's object API (no pyplot global state), so reports drawn on several
threads at once do not share a figure.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from activities.records.figures import Report
from activities.records.rows import TicketRow
from slawatch.models import TargetKind

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# One colour per class, in report order (colour-blind safe: Okabe-Ito).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")


def _colour(classes: Sequence[str], name: str) -> str:
    return PALETTE[list(classes).index(name) % len(PALETTE)] if name in classes else "#777777"


def _img(fig: Figure, alt: str) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    data = base64.b64encode(buffer.getvalue()).decode()
    return (
        f'<figure><img alt="{html.escape(alt)}" src="data:image/svg+xml;base64,{data}">'
        f"<figcaption>{html.escape(alt)}</figcaption></figure>"
    )


def _dates(ax: Axes, start: datetime, end: datetime, ticks: int = 6) -> None:
    """Day labels on an axis of date2num values (matplotlib.dates is untyped)."""
    step = max((end - start) / ticks, timedelta(hours=1))
    at = [start + step * i for i in range(ticks + 1)]
    ax.set_xticks([date2num(a) for a in at], [a.strftime("%m-%d %H:%M") for a in at])
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)


def date2num(at: date | datetime) -> float:
    """Matplotlib's date axis unit: days since its epoch, 1970-01-01 UTC."""
    if not isinstance(at, datetime):
        at = datetime.combine(at, time(), UTC)
    return (at - EPOCH).total_seconds() / 86400


def met_per_week(report: Report) -> str:
    classes = [c.sla_class for c in report.classes]
    fig = Figure(figsize=(8, 3.2))
    ax = fig.subplots()
    for name in classes:
        points = [
            w for w in report.weekly if w.sla_class == name and w.response_met_pct is not None
        ]
        if points:
            ax.plot(
                # A week that began before the period is drawn from the period's start.
                [max(date2num(p.week), date2num(report.start)) for p in points],
                [p.response_met_pct or 0.0 for p in points],  # None was filtered out above
                marker="o",
                color=_colour(classes, name),
                label=name,
            )
    _dates(ax, report.start, report.end)
    ax.set_xlim(date2num(report.start), date2num(report.end))
    ax.set_ylim(-5, 105)
    ax.set_ylabel("response met %")
    ax.set_xlabel("week of opening (Monday, UTC)")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower left", fontsize=8)
    return _img(fig, "Response target met, per class and week")


def breach_timeline(report: Report) -> str:
    classes = [c.sla_class for c in report.classes]
    fig = Figure(figsize=(8, 0.6 + 0.5 * max(len(classes), 1)))
    ax = fig.subplots()
    for b in report.breaches:
        marker = "o" if b.kind is TargetKind.RESPONSE else "s"
        colour = _colour(classes, b.sla_class)
        face = "none" if b.withdrawn else colour
        row = classes.index(b.sla_class) if b.sla_class in classes else -1
        ax.scatter(
            [date2num(b.breached_at)],
            [row],
            marker=marker,
            s=60,
            edgecolors=colour,
            facecolors=face,
        )
    _dates(ax, report.start, report.end)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_ylim(-0.7, len(classes) - 0.3)
    ax.set_xlim(date2num(report.start), date2num(report.end))
    ax.set_xlabel("breached at (UTC): circle response, square resolution, hollow withdrawn")
    ax.grid(axis="x", alpha=0.3)
    return _img(fig, f"Breaches on a timeline ({len(report.breaches)})")


def response_distribution(report: Report, tickets: Sequence[TicketRow]) -> str:
    classes = [c.sla_class for c in report.classes]
    fig = Figure(figsize=(8, 3.2))
    ax = fig.subplots()
    series, colours, labels = [], [], []
    for name in classes:
        minutes = [
            t.response_business_s / 60
            for t in tickets
            if t.sla_class == name and t.response_business_s is not None
        ]
        if minutes:
            series.append(minutes)
            colours.append(_colour(classes, name))
            labels.append(name)
    if series:
        ax.hist(series, bins=20, color=colours, label=labels, stacked=True)
        ax.legend(fontsize=8)
    ax.set_xlabel("time to first response, business minutes")
    ax.set_ylabel("tickets")
    ax.grid(alpha=0.3)
    return _img(fig, "Time to first response (business time), per class")


def charts(report: Report, tickets: Sequence[TicketRow]) -> str:
    """The three pictures as HTML, for render.to_html(report, charts=...)."""
    return (
        "<h2>Pictures</h2>"
        + met_per_week(report)
        + breach_timeline(report)
        + response_distribution(report, tickets)
    )
