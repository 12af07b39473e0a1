"""Monthly delivery: on the tenant's first working day of a month, last month's report by email.

The schedule (slawatch/tools/report_schedule.py) starts MonthlyReportWorkflow every day; its one
activity here decides whether the day is the first working day of its month on the tenant's
report calendar and, only then, builds the previous month's report from the record store and
emails it through SendGrid: an HTML body (the report page) and the CSV as an attachment.

Once per tenant and month, whatever triggers it: the send goes through the send ledger under
the key `report/<tenant>/<YYYY-MM>` like every notification, so a second trigger, a retried
activity or a second worker finds the month already sent and sends nothing.

Inputs and results carry the tenant and dates only: addresses, the report and the vendor key
are read by the activity (policy file, record store, settings), never put in a payload.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import structlog
from pydantic import Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.ledger import InFlight, SendLedger
from activities.records.render import to_csv
from activities.records.report import build_report, html_report
from activities.records.store import RecordStore
from activities.vendors import Attachment, Email, Mailer, VendorError
from policies.calendar import Calendar
from policies.clock import clock_for
from policies.loader import load_policy
from policies.schema import Policy
from slawatch.models import TENANT_PATTERN, Payload, SendResult

ACTIVITY = "deliver_monthly_report"
# Retryable: the vendor or the database hiccupped, or another attempt holds the ledger lease.
UNAVAILABLE = "ReportDeliveryUnavailable"

Outcome = Literal["sent", "already_sent", "not_first_working_day", "no_recipients"]


class MonthlyReportInput(Payload):
    tenant: str = Field(pattern=TENANT_PATTERN)
    # The day to decide for. None: the day `at` is on the report calendar (the workflow gives
    # its own clock); set it to deliver (or re-check) a given day by hand or in a test.
    as_of: date | None = None
    at: datetime | None = None


class MonthlyReportResult(Payload):
    tenant: str
    day: date
    outcome: Outcome
    month: str | None = None  # the month reported on (YYYY-MM), when the day was the one
    recipients: int = 0
    provider_id: str | None = None


def first_working_day(calendar: Calendar, year: int, month: int) -> date | None:
    """The first day of the month with working hours on the calendar (None if it has none)."""
    clock = clock_for(calendar)
    day = date(year, month, 1)
    while day.month == month:
        if calendar.always_open or clock.is_working_day(day):
            return day
        day += timedelta(days=1)
    return None


def previous_month(day: date) -> tuple[datetime, datetime, str]:
    """[start, end) of the month before `day`'s, in UTC as the report counts, and its name."""
    end = datetime(day.year, day.month, 1, tzinfo=UTC)
    start = datetime((end - timedelta(days=1)).year, (end - timedelta(days=1)).month, 1, tzinfo=UTC)
    return start, end, f"{start:%Y-%m}"


def report_key(tenant: str, month: str) -> str:
    """The send ledger's key of a tenant's report for a month: one email per key."""
    return f"report/{tenant}/{month}"


def _log() -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger("slawatch.reports")  # type: ignore[no-any-return]


class MonthlyReportActivities:
    """The delivery activity over a record store, a mailer and the send ledger.

    `store` may be a function that opens it: the worker then opens the record store at the
    first delivery, so a record database that is down never stops tickets from being worked.
    """

    def __init__(
        self,
        store: RecordStore | Callable[[], RecordStore],
        mailer: Mailer,
        ledger: SendLedger,
        policy_dir: Path | None,
    ) -> None:
        self._store = store
        self.mailer = mailer
        self.ledger = ledger
        self.policy_dir = policy_dir
        self._lock = threading.Lock()

    def store(self) -> RecordStore:
        with self._lock:
            if not isinstance(self._store, RecordStore):
                self._store = self._store()
            return self._store

    def _email(self, policy: Policy, day: date) -> Email:
        """Last month's report for `day`, ready to send (HTML body, CSV attached)."""
        assert policy.reports is not None
        start, end, month = previous_month(day)
        store = self.store()
        report = build_report(store, policy.tenant, start, end, list(policy.classes))
        last = end - timedelta(days=1)
        page = html_report(store, report)
        name = f"sla-report-{policy.tenant}-{month}"
        return Email(
            to=tuple(policy.reports.recipients),
            subject=f"{policy.name}: SLA report for {month}",
            body=(
                f"The SLA compliance report of {policy.name} for {month} (tickets opened "
                f"{start:%Y-%m-%d} to {last:%Y-%m-%d}, UTC) is the HTML part of this email "
                f"and the attached page; the figures per class are attached as CSV."
            ),
            idempotency_key=report_key(policy.tenant, month),
            html=page,
            attachments=(
                Attachment(f"{name}.csv", "text/csv", to_csv(report).encode()),
                # The same page as a file: mail clients that drop inline (data:) pictures
                # from a message show the charts when it is opened in a browser.
                Attachment(f"{name}.html", "text/html", page.encode()),
            ),
        )

    def deliver_blocking(self, input: MonthlyReportInput) -> MonthlyReportResult:
        """Decide and, on the first working day, send once (blocking; run in a thread)."""
        policy = load_policy(input.tenant, self.policy_dir)
        calendar = policy.report_calendar()
        at = input.at or datetime.now(UTC)
        day = input.as_of or at.astimezone(ZoneInfo(calendar.timezone)).date()
        log = _log().bind(tenant=input.tenant, day=str(day))
        if first_working_day(calendar, day.year, day.month) != day:
            log.info("report.monthly", outcome="not_first_working_day")
            return MonthlyReportResult(
                tenant=input.tenant, day=day, outcome="not_first_working_day"
            )
        month = previous_month(day)[2]
        result = MonthlyReportResult(tenant=input.tenant, day=day, outcome="sent", month=month)
        if policy.reports is None:
            log.info("report.monthly", outcome="no_recipients")
            return result.model_copy(update={"outcome": "no_recipients"})
        key = report_key(input.tenant, month)
        # Built before the ledger's lease is taken: drawing the charts must not eat the lease
        # (20 s) that keeps another attempt from sending meanwhile. A month already sent is not
        # built again.
        state = self.ledger.state(key)
        email = None if state is not None and state[0] == "sent" else self._email(policy, day)
        try:
            prior = self.ledger.begin(key, "email")
        except InFlight:
            raise ApplicationError(
                "another attempt is sending this report", type=UNAVAILABLE
            ) from None
        if prior is not None:
            log.info("report.monthly", outcome="already_sent", month=month)
            return result.model_copy(
                update={"outcome": "already_sent", "provider_id": prior.provider_id}
            )
        try:
            provider_id = self.mailer.send_email(email or self._email(policy, day))
        except VendorError as exc:
            self.ledger.release(key)
            log.warning("report.monthly", outcome="retry", month=month, reason=exc.message)
            raise ApplicationError(str(exc), type=UNAVAILABLE) from None
        except BaseException:
            self.ledger.release(key)
            raise
        self.ledger.mark_sent(
            key, SendResult(ok=True, provider_id=provider_id, detail="report accepted")
        )
        recipients = len(policy.reports.recipients)
        log.info("report.monthly", outcome="sent", month=month, recipients=recipients)
        return result.model_copy(update={"recipients": recipients, "provider_id": provider_id})

    @activity.defn(name=ACTIVITY)
    async def deliver(self, input: MonthlyReportInput) -> MonthlyReportResult:
        """Send last month's report if the day is the tenant's first working day (once)."""
        return await asyncio.to_thread(self.deliver_blocking, input)
