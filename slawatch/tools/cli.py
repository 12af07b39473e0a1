"""The `slawatch` command: policy tools, the worker, the API, the local stack, the doctor."""

from __future__ import annotations

import typer

from slawatch.tools.cli_oncall import oncall_app
from slawatch.tools.cli_policy import policy_app
from slawatch.tools.cli_report import records_app, report_app
from slawatch.tools.cli_ticket import api, outbox, ticket_app
from slawatch.tools.dev import dev
from slawatch.tools.doctor import doctor
from workers.cli import worker

app = typer.Typer(
    name="slawatch",
    help="SLA escalation engine: every support ticket a durable Temporal workflow.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    """Put together the command groups (`policy`, `ticket`, `oncall`, `report`, `records`) and
    the single commands, each defined in the module that implements it."""
    app.add_typer(policy_app, name="policy")
    app.add_typer(ticket_app, name="ticket")
    app.add_typer(oncall_app, name="oncall")
    app.command("outbox")(outbox)
    app.command("api")(api)
    app.command("dev")(dev)
    app.command("doctor")(doctor)
    app.command("worker")(worker)
    app.add_typer(report_app, name="report")
    app.add_typer(records_app, name="records")


_register()


def main() -> None:
    app()
