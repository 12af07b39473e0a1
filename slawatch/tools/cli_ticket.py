"""`slawatch ticket open|event|status|list`, `slawatch outbox` and `slawatch api`.

The ticket commands talk to the intake API over HTTP rather than to Temporal: the API is where
tokens, tenant scopes and policy checks live, so a script gets exactly what an intake system gets.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Annotated, Any

import httpx
import typer

from intake.server import serve_api
from slawatch.logging import configure_logging
from slawatch.models import EventType
from slawatch.safety import Role
from slawatch.tools.cli_output import fail, load_settings, print_outbox, print_status, print_tickets
from slawatch.tools.process import exit_now
from slawatch.tools.standins.outbox import outbox_dir, read_outboxes
from slawatch.tools.startup import refuse_unsafe_start

ticket_app = typer.Typer(help="Open tickets, send their events, read their SLA status.")
# Acknowledging is for people paged (SMS, call, API with a responder), not a ticket event here.
EVENTS = tuple(e.value for e in EventType if e is not EventType.ACKNOWLEDGE)

ApiUrl = Annotated[
    str | None, typer.Option("--api-url", envvar="SLAWATCH_API_URL", help="Default: from settings")
]
Token = Annotated[
    str | None,
    typer.Option("--token", envvar="SLAWATCH_API_TOKEN", help="Default: the first API token"),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the API's JSON for scripts")]


def _request(method: str, path: str, url: str | None, token: str | None, **kw: Any) -> Any:
    settings = load_settings()
    base = url or f"http://{settings.api_host}:{settings.api_port}"
    if token is None:
        # Local default: the first configured token (dev-token on the embedded defaults).
        first = settings.api_tokens.get_secret_value().split(";")[0]
        token = first.partition("=")[0].strip()
    try:
        reply = httpx.request(
            method, f"{base}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30, **kw
        )
    except httpx.HTTPError as exc:
        fail(f"cannot reach the API at {base} ({type(exc).__name__}); is `slawatch dev` running?")
    try:
        body = reply.json()
    except ValueError:
        fail(f"the API answered {reply.status_code} without JSON")
    if reply.status_code >= 400:
        problems = [f"{f['field']}: {f['problem']}" for f in body.get("fields") or []]
        fail(f"{reply.status_code} {body.get('detail', '')}", problems, code=2)
    return body


def _show(status: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(status, indent=2))
    else:
        print_status(status)


@ticket_app.command("open")
def open_ticket(
    tenant: str,
    ticket_id: str,
    severity: Annotated[str | None, typer.Option(help="Class; default from the policy")] = None,
    category: Annotated[str | None, typer.Option()] = None,
    subject: Annotated[str | None, typer.Option()] = None,
    channel: Annotated[
        str | None, typer.Option(help="Where it came from: email, phone, ...")
    ] = None,
    customer_ref: Annotated[str | None, typer.Option(help="The customer's reference")] = None,
    language: Annotated[str | None, typer.Option(help="BCP 47 code: en, ro, pt-BR")] = None,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Open a ticket (a repeat joins the existing one, never a second clock)."""
    body = {"tenant": tenant, "ticket_id": ticket_id, "severity": severity}
    body |= {"category": category, "subject": subject, "channel": channel}
    body |= {"customer_ref": customer_ref, "language": language}
    data = {k: v for k, v in body.items() if v is not None}
    status = _request("POST", "/v1/tickets", api_url, token, json=data)
    _show(status, as_json)


@ticket_app.command("event")
def send_event(
    tenant: str,
    ticket_id: str,
    event: Annotated[str, typer.Argument(help="One of: " + ", ".join(EVENTS))],
    severity: Annotated[str | None, typer.Option(help="reclassify: the new class")] = None,
    reason: Annotated[str | None, typer.Option(help="reclassify/pause/reopen: why")] = None,
    note: Annotated[str | None, typer.Option(help="resolve: a note")] = None,
    by: Annotated[str | None, typer.Option(help="first_response: who answered")] = None,
    at: Annotated[
        str | None,
        typer.Option(help="When it happened, e.g. 2026-12-08T10:59:00Z (default: now)"),
    ] = None,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Send one event and print the new SLA status."""
    if event not in EVENTS:
        fail(f"event: unknown event {event!r} (one of: {', '.join(EVENTS)})", code=2)
    if at is not None:
        at = _instant(at)
    fields = {"severity": severity, "reason": reason, "note": note, "by": by, "at": at}
    body = {"type": event} | {k: v for k, v in fields.items() if v is not None}
    path = f"/v1/tickets/{tenant}/{ticket_id}/events"
    status = _request("POST", path, api_url, token, json=body)
    _show(status, as_json)


def _instant(value: str) -> str:
    """`--at` as an ISO 8601 instant with its offset (Z or +01:00), else one line and exit 2."""
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        fail(f"at: {value!r} is not an instant (e.g. 2026-12-08T10:59:00Z)", code=2)
    if parsed.tzinfo is None:
        fail(f"at: {value!r} has no offset; add Z or +01:00", code=2)
    return parsed.isoformat()


@ticket_app.command("status")
def ticket_status(
    tenant: str,
    ticket_id: str,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """A ticket's targets, deadlines, breaches, acknowledgements and history."""
    status = _request("GET", f"/v1/tickets/{tenant}/{ticket_id}", api_url, token)
    _show(status, as_json)


@ticket_app.command("list")
def list_tickets(
    tenant: Annotated[str | None, typer.Option()] = None,
    state: Annotated[str | None, typer.Option(help="on_track, at_risk, breached, ...")] = None,
    severity: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    api_url: ApiUrl = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Tickets from Temporal visibility, filtered by tenant, SLA state and class."""
    params = {"tenant": tenant, "state": state, "severity": severity, "limit": str(limit)}
    query = {k: v for k, v in params.items() if v is not None}
    listing = _request("GET", "/v1/tickets", api_url, token, params=query)
    if as_json:
        typer.echo(json.dumps(listing, indent=2))
    else:
        print_tickets(listing["tickets"])


def outbox(as_json: AsJson = False) -> None:
    """Every SMS, call and email the local stand-ins received (nothing left the machine)."""
    records = read_outboxes(outbox_dir(load_settings().data_dir))
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in records], indent=2))
    else:
        print_outbox(records)


def api() -> None:
    """Serve the intake API and Twilio webhooks (settings from SLAWATCH_* variables)."""
    settings = load_settings()
    refuse_unsafe_start(settings, {Role.API})
    configure_logging(settings.log_format, settings.log_level)
    # Errors exit without interpreter finalization, which the Temporal core's threads can abort
    # (SIGABRT instead of the exit code) once a client was tried; see slawatch/tools/process.py.
    try:
        asyncio.run(serve_api(settings))
    except ValueError as exc:  # a malformed SLAWATCH_API_TOKENS, named by the parser
        typer.echo(f"error: {exc}", err=True)
        exit_now(2)
    except RuntimeError as exc:  # Client.connect: the server is not there
        typer.echo(
            f"error: cannot connect to Temporal at {settings.temporal_address}: {exc}", err=True
        )
        exit_now(1)
