"""`GET /v1/reports/{tenant}`: the SLA compliance report, scoped by the caller's token."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from typing import Annotated, Literal

import psycopg
from fastapi import APIRouter, Path, Query, Request, Response

from activities.records import open_records
from activities.records.figures import Report
from activities.records.render import to_csv
from activities.records.report import PeriodError, build_report, html_report, parse_period
from activities.records.store import RecordStore
from intake.auth import require_tenant
from intake.errors import ApiError
from intake.tickets import ERRORS, CallerDep
from slawatch.models import TENANT_PATTERN
from slawatch.settings import Settings

router = APIRouter(prefix="/v1/reports", tags=["reports"])


class Records:
    """The record store, opened on the first report: most API processes never serve one."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._store: RecordStore | None = None
        self._lock = threading.Lock()

    def store(self) -> RecordStore:
        with self._lock:
            if self._store is None:
                self._store = open_records(self._settings)
            return self._store


OK = {"model": Report, "content": {"text/csv": {}, "text/html": {}}}


@router.get("/{tenant}", responses={200: OK, **ERRORS})
async def tenant_report(
    request: Request,
    who: CallerDep,
    tenant: Annotated[str, Path(pattern=TENANT_PATTERN)],
    month: Annotated[str | None, Query(description="YYYY-MM")] = None,
    start: Annotated[str | None, Query(alias="from", description="YYYY-MM-DD (UTC)")] = None,
    end: Annotated[str | None, Query(alias="to", description="YYYY-MM-DD, inclusive")] = None,
    format: Literal["json", "csv", "html"] = "json",
) -> Response:
    """Per class: tickets opened in the period, targets met/breached/pending, times, pages."""
    require_tenant(who, tenant)
    try:
        first, after = parse_period(month, start, end)
    except PeriodError as exc:
        raise ApiError(422, exc.problem, field=exc.field) from None
    records: Records = request.app.state.records
    classes = None
    # No (loadable) policy now: its records still make a report, with the classes found.
    with contextlib.suppress(ApiError):
        classes = list(request.app.state.policies.get(tenant).classes)
    try:
        report = await asyncio.to_thread(
            lambda: build_report(records.store(), tenant, first, after, classes)
        )
        page = (
            await asyncio.to_thread(html_report, records.store(), report)
            if format == "html"
            else ""
        )
    except (RuntimeError, OSError, sqlite3.Error, psycopg.Error) as exc:
        # The database is unreachable or broken: ours to fix, not the caller's.
        raise ApiError(503, f"the SLA records cannot be read: {type(exc).__name__}") from None
    if format == "csv":
        name = f"sla-report-{tenant}-{first:%Y-%m-%d}.csv"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        return Response(to_csv(report), media_type="text/csv", headers=headers)
    if format == "html":
        return Response(page, media_type="text/html")
    return Response(report.model_dump_json(), media_type="application/json")
