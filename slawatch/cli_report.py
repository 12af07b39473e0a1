"""`slawatch report TENANT` and `slawatch records backfill`: the SLA record, read and filled.

Both talk to the record store directly (SLAWATCH_RECORDS_URL): reports are an operator's task,
like the worker, and need no API token.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Annotated

import typer

from activities.records import describe, open_records
from activities.records.backfill import backfill
from activities.records.render import FORMATS, to_csv, to_json, to_table
from activities.records.report import PeriodError, build_report, html_report, parse_period
from policies.loader import PolicyError, load_policy
from slawatch.cli_output import fail, load_settings, table
from slawatch.models import TENANT_NAME
from slawatch.settings import Settings

records_app = typer.Typer(help="The SLA record: tickets, breaches and pages beyond retention.")


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
    from slawatch.process import exit_now

    # (the same reason)
    from slawatch.temporal import connect

    async def run() -> int:
        try:
            client = await connect(settings)
        except Exception as exc:  # unreachable server, bad TLS files: one line, not a trace
            typer.echo(
                f"error: cannot reach Temporal at {settings.temporal_address}: {exc}", err=True
            )
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
