"""`slawatch report TENANT` and `slawatch records backfill`: the SLA record, read and filled.

Both talk to the record store directly (SLAWATCH_RECORDS_URL): reports are an operator's task,
like the worker, and need no API token.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

# typer 0.29 carries its own click; its Context is what TyperGroup.parse_args takes.
from typer._click.core import Context as ClickContext
from typer.core import TyperGroup

from activities.records import describe, open_records
from activities.records.backfill import backfill
from activities.records.render import FORMATS, to_csv, to_json, to_table
from activities.records.report import PeriodError, build_report, html_report, parse_period
from policies.loader import PolicyError, load_policy
from slawatch.models import TENANT_NAME
from slawatch.settings import Settings
from slawatch.tools.cli_output import fail, load_settings, table

if TYPE_CHECKING:
    from temporalio.client import Client

records_app = typer.Typer(help="The SLA record: tickets, breaches and pages beyond retention.")


class _ReportGroup(TyperGroup):
    """`slawatch report TENANT ...` builds a report; `slawatch report schedule TENANT` is the
    monthly delivery. Anything but a sub-command's name is a tenant for the (hidden) `show`."""

    def parse_args(self, ctx: ClickContext, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["show", *args]
        return super().parse_args(ctx, args)


report_app = typer.Typer(
    cls=_ReportGroup,
    help="The SLA compliance report: `report TENANT --month YYYY-MM`, `report schedule TENANT`.",
    no_args_is_help=True,
)


def _tenant(tenant: str, name: str = "TENANT") -> str:
    if not TENANT_NAME.fullmatch(tenant):
        fail(f"{name}: {tenant!r} is not a tenant name", code=2)
    return tenant


def policy_classes(settings: Settings, tenant: str) -> list[str] | None:
    """The tenant's classes in policy order, so a class without tickets still has its row."""
    try:
        return list(load_policy(tenant, settings.policy_dir).classes)
    except PolicyError:
        return None  # a tenant whose file is gone still has its records


async def _client(settings: Settings) -> Client | None:
    """A Temporal client; None, with one line on stderr, when the server cannot be reached."""
    # Loaded on use: the report needs neither Temporal nor its client.
    from slawatch.temporal import connect

    try:
        return await connect(settings)
    except Exception as exc:  # unreachable server, bad TLS files: one line, not a trace
        typer.echo(f"error: cannot reach Temporal at {settings.temporal_address}: {exc}", err=True)
        return None


@report_app.command("show", hidden=True)
def report(
    tenant: str,
    month: Annotated[str | None, typer.Option(help="YYYY-MM: tickets opened in that month")] = None,
    start: Annotated[str | None, typer.Option("--from", help="YYYY-MM-DD (UTC)")] = None,
    end: Annotated[str | None, typer.Option("--to", help="YYYY-MM-DD, inclusive")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json or html")] = "table",
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout")] = None,
) -> None:
    """The SLA compliance report of the tickets a tenant opened in a period (docs/reports.md)."""
    _tenant(tenant)
    if fmt not in FORMATS:
        fail(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}", code=2)
    try:
        first, after = parse_period(month, start, end)
    except PeriodError as exc:
        option = {"month": "--month", "from": "--from", "to": "--to"}[exc.field]
        fail(f"{option}: {exc.problem}", code=2)
    settings = load_settings()
    try:
        store = open_records(settings)
        try:
            built = build_report(store, tenant, first, after, policy_classes(settings, tenant))
            if fmt == "csv":
                text = to_csv(built)
            elif fmt == "json":
                text = to_json(built)
            elif fmt == "html":
                text = html_report(store, built)
            else:
                text = to_table(built, table)
        finally:
            store.close()
    except RuntimeError as exc:  # PostgreSQL refused: the message names where, never a password
        fail(str(exc))
    except (OSError, sqlite3.Error) as exc:
        fail(f"SLA records at {describe(settings)}: {exc}")
    if output is None:
        typer.echo(text.rstrip("\n"))
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}")


@records_app.command("backfill")
def backfill_command(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's tickets")] = None,
) -> None:
    """Write the records of every ticket still in Temporal (idempotent: run it any time)."""
    if tenant is not None:
        _tenant(tenant, "--tenant")
    settings = load_settings()
    # Loaded for this command only: the report needs neither Temporal nor process helpers.
    from slawatch.tools.process import exit_now

    async def run() -> int:
        client = await _client(settings)
        if client is None:
            return 1
        try:
            store = open_records(settings)
            try:
                done = await backfill(client, store, tenant)
            finally:
                store.close()
        except RuntimeError as exc:  # PostgreSQL refused: names where, never a password
            typer.echo(f"error: {exc}", err=True)
            return 1
        except (OSError, sqlite3.Error) as exc:
            typer.echo(f"error: SLA records at {describe(settings)}: {exc}", err=True)
            return 1
        for workflow_id, why in sorted(done.skipped.items()):
            typer.echo(f"skipped {workflow_id}: {why}", err=True)
        typer.echo(
            f"{len(done.written)} tickets written to {describe(settings)},"
            f" {len(done.skipped)} skipped"
        )
        return 0

    # Like the worker and the doctor: a Temporal client's threads may abort a finalizing
    # interpreter, which would turn a clean run into exit 134.
    exit_now(asyncio.run(run()))


def _fires(spec: Any) -> str:
    """When a schedule spec fires: the server turns cron strings into calendar specs."""
    times = list(spec.cron_expressions)
    for cal in spec.calendars:
        hours = ",".join(f"{r.start:02d}" for r in cal.hour)
        minutes = ",".join(f"{r.start:02d}" for r in cal.minute)
        times.append(f"daily at {hours}:{minutes}")
    return ", ".join(times) or "never"


@report_app.command("schedule")
def schedule_command(
    tenant: str,
    create: Annotated[
        bool, typer.Option("--create", help="Create the schedule, or update it to the policy")
    ] = False,
    delete: Annotated[bool, typer.Option("--delete", help="Delete the schedule")] = False,
) -> None:
    """The monthly delivery of TENANT's report: shown, or created/updated (--create) or deleted."""
    _tenant(tenant)
    if create and delete:
        fail("--create and --delete: give one of them", code=2)
    settings = load_settings()
    try:
        policy = load_policy(tenant, settings.policy_dir)
    except PolicyError as exc:
        fail(str(exc).splitlines()[0], code=2)
    if create and policy.reports is None:
        fail(f"{tenant}: the policy has no reports.recipients (docs/reports.md)", code=2)
    # Loaded for this command only, like the backfill's.
    from temporalio.service import RPCError, RPCStatusCode

    # (the same reason)
    from slawatch.tools.process import exit_now

    # (the same reason)
    from slawatch.tools.report_schedule import handle, put_schedule, schedule_id

    async def run() -> int:
        client = await _client(settings)
        if client is None:
            return 1
        name = schedule_id(tenant)
        if create:
            created = await put_schedule(client, policy, settings.ticket_task_queue)
            typer.echo(f"{'created' if created else 'updated'} schedule {name}")
        elif delete:
            try:
                await handle(client, tenant).delete()
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise
                typer.echo(f"error: no schedule {name}", err=True)
                return 1
            typer.echo(f"deleted schedule {name}")
            return 0
        try:
            described = await handle(client, tenant).describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            typer.echo(f"no schedule {name} (create it with --create)")
            return 0 if not create else 1
        spec = described.schedule.spec
        state = described.schedule.state
        info = described.info
        recipients = policy.reports.recipients if policy.reports is not None else []
        rows = [
            ("schedule", name),
            ("fires", f"{_fires(spec)} ({spec.time_zone_name or 'UTC'})"),
            ("sends", "on the first working day of the month, the previous month's report"),
            ("calendar timezone", policy.report_calendar().timezone),
            ("recipients", ", ".join(recipients) or "none (the policy has no reports section)"),
            ("paused", "yes" if state.paused else "no"),
            ("next runs", ", ".join(f"{t:%Y-%m-%d %H:%M %Z}" for t in info.next_action_times[:3])),
            ("recent runs", str(info.num_actions)),
        ]
        for label, value in rows:
            typer.echo(f"{label:<18} {value}")
        return 0

    exit_now(asyncio.run(run()))
