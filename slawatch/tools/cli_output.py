"""Readable output for the ticket and outbox commands: aligned tables, one error line."""

from __future__ import annotations

import io
from collections.abc import Collection, Sequence
from typing import Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console, JustifyMethod
from rich.table import Table
from rich.text import Text

from slawatch.settings import Settings
from slawatch.tools.standins.outbox import OutboxRecord


def fail(message: str, details: Sequence[str] = (), code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    for line in details:
        typer.echo(f"  {line}", err=True)
    raise typer.Exit(code)


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    upper: bool = True,
    right: Collection[str] = (),
) -> str:
    """Rows as plain text in aligned columns, two spaces apart, under a header line.

    Rendered by rich (column widths by display width, so wide characters align too) without
    borders, colours or markup: cells are printed as they are, `[x]` included, and no line is
    wrapped, so scripts and `grep` see one row per line. Columns named in `right` are
    right-aligned (figures).
    """
    grid = Table(box=None, pad_edge=False, show_edge=False, header_style="")
    for header in headers:
        justify: JustifyMethod = "right" if header in right else "left"
        grid.add_column(header.upper() if upper else header, justify=justify)
    for row in rows:
        grid.add_row(*(Text("" if c is None else str(c)) for c in row))
    return render(grid)


def render(renderable: Any) -> str:
    """A rich renderable as plain text: no colour, no markup, no wrapping, no trailing spaces."""
    console = Console(
        file=io.StringIO(),
        width=_UNWRAPPED,
        color_system=None,
        markup=False,
        emoji=False,
        highlight=False,
    )
    with console.capture() as captured:
        console.print(renderable)
    return "\n".join(line.rstrip() for line in captured.get().splitlines())


# Wide enough that rich never wraps or truncates a cell: a table is as wide as its content.
_UNWRAPPED = 100_000


def _when(value: str | None) -> str:
    # ISO instants are exact but long; minutes are what a person reads.
    return value[:16].replace("T", " ") + " UTC" if value else "-"


def _message(page: dict[str, Any]) -> str:
    """The message that paged: its SID, or the outage group's digest that carried the page."""
    if not page["ok"]:
        return "-"
    sid = str(page.get("detail") or "-")
    return f"digest {sid}" if page.get("folded") else sid


def print_status(s: dict[str, Any]) -> None:
    typer.echo(f"{s['tenant']}/{s['ticket_id']}  class {s['severity']}  phase {s['phase']}")
    typer.echo(f"SLA state {s['sla_state']}, escalation level {s['escalation_level']}")
    rows = [
        (t["kind"], t["state"], _when(t.get("due")), _when(t.get("met_at")))
        for t in (s["response"], s["resolution"])
    ]
    typer.echo(table(["target", "state", "due", "met"], rows))
    if s.get("delivery") == "failing":
        typer.echo("DELIVERY FAILING: " + "; ".join(s.get("delivery_problems", [])))
    if s.get("sent"):
        # Who was paged, when, through what, and what became of it.
        typer.echo("pages:")
        pages = [
            (
                _when(n["at"]),
                n["breach_id"],
                n["channel"],
                n["recipient"],
                _message(n),
                n.get("outcome") or ("sent" if n["ok"] else f"not sent ({n.get('failure')})"),
            )
            for n in s["sent"]
        ]
        lines = table(["at", "breach", "via", "to", "message", "outcome"], pages).splitlines()
        typer.echo("\n".join(f"  {line}" for line in lines))
    if s["acknowledgements"]:
        typer.echo("acknowledged:")
        for a in s["acknowledgements"]:
            typer.echo(f"  {_when(a['at'])}  {a['responder']} via {a['channel']}")
    typer.echo("history:")
    for h in s["history"]:
        # An event sent with `at` happened earlier than it was recorded: say both.
        happened = f"(happened {_when(h['happened_at'])})  " if h.get("happened_at") else ""
        typer.echo(f"  {_when(h['at'])}  {h['event']}  {happened}{h.get('detail', '')}".rstrip())


def print_tickets(tickets: list[dict[str, Any]]) -> None:
    if not tickets:
        typer.echo("no tickets")
        return
    rows = [
        (
            t["tenant"],
            t["ticket_id"],
            t.get("severity"),
            t.get("sla_state"),
            _when(t.get("response_due")),
            _when(t.get("resolution_due")),
            t.get("escalation_level"),
            t["run_status"],
        )
        for t in tickets
    ]
    headers = ["tenant", "ticket", "class", "sla", "response due", "resolution due", "lvl", "run"]
    typer.echo(table(headers, rows))


def print_outbox(records: list[OutboxRecord]) -> None:
    if not records:
        typer.echo("the outbox is empty")
        return
    rows = [
        (
            _when(r.at.isoformat()),
            r.channel,
            ", ".join(r.to),
            r.status,
            r.text[:70].replace("\n", " "),
        )
        for r in records
    ]
    typer.echo(table(["at", "channel", "to", "http", "text"], rows))


def load_settings() -> Settings:
    """Settings from the environment, or exit 2 naming each bad SLAWATCH_* variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = [
            f"SLAWATCH_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors(include_url=False)
        ]
        fail("invalid settings", problems, code=2)
