"""A tenant's report for a period: the period from what people type, figures from the store."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from activities.records.figures import Report, compute_report
from activities.records.render import to_html
from activities.records.store import RecordStore

_MONTH = re.compile(r"(\d{4})-(\d{2})")


class PeriodError(ValueError):
    """A period that cannot be read; `field` names the option or parameter."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def _day(field: str, text: str) -> datetime:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise PeriodError(field, f"{text!r} is not a date (YYYY-MM-DD)") from None
    return datetime.combine(day, time(), UTC)


def parse_period(
    month: str | None, start: str | None, end: str | None
) -> tuple[datetime, datetime]:
    """[start, end) in UTC: a month (YYYY-MM), or --from/--to days (--to inclusive)."""
    if month is not None:
        if start is not None or end is not None:
            raise PeriodError("month", "give either a month or from/to, not both")
        matched = _MONTH.fullmatch(month)
        if not matched or not 1 <= int(matched[2]) <= 12:
            raise PeriodError("month", f"{month!r} is not a month (YYYY-MM)")
        year, number = int(matched[1]), int(matched[2])
        first = datetime(year, number, 1, tzinfo=UTC)
        after = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)
        return first, after
    if start is None or end is None:
        raise PeriodError("month" if start is None else "to", "give a month or both from and to")
    first, last = _day("from", start), _day("to", end)
    if last < first:
        raise PeriodError("to", f"{end} is before {start}")
    return first, last + timedelta(days=1)


def build_report(
    store: RecordStore,
    tenant: str,
    start: datetime,
    end: datetime,
    classes: list[str] | None = None,
) -> Report:
    """The figures of the tenant's tickets opened in [start, end)."""
    return compute_report(
        tenant,
        start,
        end,
        store.tickets(tenant, start, end),
        store.breaches(tenant, start, end),
        store.pages(tenant, start, end),
        classes,
    )


def html_report(store: RecordStore, report: Report) -> str:
    """The report as a self-contained HTML page with its pictures (matplotlib, loaded here)."""
    # Here, not at the top: matplotlib is loaded only when a page with pictures is drawn.
    from activities.records.charts import charts

    tickets = store.tickets(report.tenant, report.start, report.end)
    return to_html(report, charts(report, tickets))
