"""`slawatch worker`: run the Temporal workers for tickets and notifications."""

from __future__ import annotations

import typer
from pydantic import ValidationError

from slawatch.safety import Role
from slawatch.settings import Settings
from slawatch.tools.process import exit_now
from slawatch.tools.startup import refuse_unsafe_start

PROCESSES_HELP = (
    "Worker processes on this host, each its own Temporal client and share of the workflow "
    'cache (one per core the worker may use; README, "Several worker processes on one host").'
)


def worker(
    processes: int = typer.Option(1, "--processes", min=1, max=64, help=PROCESSES_HELP),
) -> None:
    """Run the ticket and notification workers until Ctrl-C or SIGTERM."""
    # Here, not at the top: the worker wiring (temporalio's worker, the workflows) loads only
    # when this command runs, not for every `slawatch` command.
    from workers.processes import run_in_this_process, supervise

    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = "SLAWATCH_" + "_".join(str(p) for p in first["loc"]).upper()
        typer.echo(f"error: {field}: {first['msg']}", err=True)
        raise typer.Exit(2) from None
    refuse_unsafe_start(settings, {Role.WORKER})
    if processes == 1:
        run_in_this_process(settings)
    exit_now(supervise(settings, processes))
