"""Readable output for the ticket and outbox commands: aligned tables, one error line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn

import typer
from pydantic import ValidationError

from slawatch.settings import Settings
from slawatch.standins.outbox import OutboxRecord


def fail(message: str, details: Sequence[str] = (), code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    for line in details:
        typer.echo(f"  {line}", err=True)
    raise typer.Exit(code)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


def _when(value: str | None) -> str:
    # ISO instants are exact but long; minutes are what a person reads.
    return value[:16].replace("T", " ") + " UTC" if value else "-"


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
                n.get("outcome") or ("sent" if n["ok"] else f"not sent ({n.get('failure')})"),
            )
            for n in s["sent"]
        ]
        lines = table(["at", "breach", "via", "to", "outcome"], pages).splitlines()
        typer.echo("\n".join(f"  {line}" for line in lines))
    if s["acknowledgements"]:
        typer.echo("acknowledged:")
        for a in s["acknowledgements"]:
            typer.echo(f"  {_when(a['at'])}  {a['responder']} via {a['channel']}")
    typer.echo("history:")
    for h in s["history"]:
        typer.echo(f"  {_when(h['at'])}  {h['event']}  {h.get('detail', '')}".rstrip())


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
