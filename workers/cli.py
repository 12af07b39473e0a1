"""`slawatch worker`: run the Temporal workers for tickets and notifications."""

from __future__ import annotations

import asyncio

import typer
from pydantic import ValidationError

from slawatch.logging import configure_logging
from slawatch.safety import Role
from slawatch.settings import Settings
from slawatch.tools.process import exit_now
from slawatch.tools.startup import refuse_unsafe_start
from workers.worker import run_worker


def worker() -> None:
    """Run the ticket and notification workers until Ctrl-C or SIGTERM."""
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = "SLAWATCH_" + "_".join(str(p) for p in first["loc"]).upper()
        typer.echo(f"error: {field}: {first['msg']}", err=True)
        raise typer.Exit(2) from None
    refuse_unsafe_start(settings, {Role.WORKER})
    configure_logging(settings.log_format, settings.log_level)
    try:
        asyncio.run(run_worker(settings))
    except (ValueError, OSError, RuntimeError) as exc:
        # Unreachable server, bad TLS files, a port in use: one line, not a traceback. And no
        # interpreter finalization: the Temporal core's threads abort it about one time in five
        # once a client was tried, turning exit 1 into SIGABRT and a fatal-error dump.
        typer.echo(f"error: {exc}", err=True)
        exit_now(1)
    exit_now(0)
