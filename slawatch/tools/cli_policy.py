"""`slawatch policy ...`: check policy files, show a policy, and ask when a ticket is due."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, NoReturn
from zoneinfo import ZoneInfo

import typer
from pydantic import ValidationError

from policies.clock import ClockError, deadline
from policies.loader import PolicyError, load_policy, load_policy_file, policy_path
from policies.schema import Calendar, Duration, Policy
from slawatch.settings import Settings

policy_app = typer.Typer(
    help="Check SLA policy files, show a policy, and compute deadlines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# Exit codes: 1 = a policy file is invalid; 2 = the command was given something unusable.
INVALID = 1
USAGE = 2
TARGETS = ("response", "resolution")


def _fail(message: str, code: int = USAGE) -> NoReturn:
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    raise typer.Exit(code)


def _policy_dir() -> Path | None:
    try:
        return Settings().policy_dir
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        name = "SLAWATCH_" + str(err["loc"][0]).upper() if err["loc"] else "settings"
        _fail(f"{name}: {err['msg']}")


def _load(name_or_path: str) -> Policy:
    try:
        return load_policy(name_or_path, _policy_dir())
    except PolicyError as exc:
        for problem in exc.problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(USAGE) from None


def _parse_instant(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        _fail(f"--opened-at: {text!r} is not an ISO-8601 date-time (e.g. 2026-11-27T17:00+01:00)")
    if at.tzinfo is None or at.utcoffset() is None:
        _fail(f"--opened-at: {text!r} has no UTC offset (add one, e.g. +01:00 or Z)")
    return at


def _local(at: datetime, zone: str) -> str:
    return at.astimezone(ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M:%S %Z (UTC%z)")


@policy_app.command("check")
def check(
    files: Annotated[list[str], typer.Argument(help="Policy files (or tenant names) to check.")],
) -> None:
    """Validate policy files: one OK line per good file, one stderr line per problem."""
    policy_dir = _policy_dir()
    failed = False
    for name in files:
        try:
            path = policy_path(name, policy_dir)
            policy = load_policy_file(path)
        except PolicyError as exc:
            failed = True
            for problem in exc.problems:
                typer.echo(str(problem), err=True)
            continue
        typer.echo(
            f"{path}: OK (tenant {policy.tenant}: {len(policy.classes)} classes, "
            f"{len(policy.calendars)} calendars, {len(policy.ladders)} ladders)"
        )
    if failed:
        raise typer.Exit(INVALID)


@policy_app.command("deadlines")
def deadlines(
    policy_name: Annotated[str, typer.Argument(metavar="POLICY", help="Tenant name or file.")],
    opened_at: Annotated[
        str, typer.Option("--opened-at", help="When the ticket opened, ISO-8601 with offset.")
    ],
    severity: Annotated[
        str | None, typer.Option("--severity", help="Class; default: the policy's.")
    ] = None,
    category: Annotated[
        str | None, typer.Option("--category", help="Category, which may select the class.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """When a ticket opened at --opened-at is due: response and resolution deadlines."""
    policy = _load(policy_name)
    start = _parse_instant(opened_at)
    if severity is not None and severity not in policy.classes:
        _fail(f"--severity: unknown class {severity!r} (known: {', '.join(policy.classes)})")
    if category is not None and category not in policy.categories:
        known = ", ".join(policy.categories) or "none"
        _fail(f"--category: unknown category {category!r} (known: {known})")
    cls = policy.class_for(severity, category)
    calendar = policy.calendar_for(cls)
    due: dict[str, datetime | None] = {}
    try:
        for kind in TARGETS:
            target = policy.target(cls, kind)
            due[kind] = None if target is None else deadline(calendar, start, target)
    except ClockError as exc:
        _fail(f"{policy.tenant}: {exc}", INVALID)
    if as_json:
        out = {f"{k}_due": (v.isoformat() if v else None) for k, v in due.items()}
        typer.echo(json.dumps(out))
        return
    typer.echo(
        f"{policy.tenant} {cls}, opened {_local(start, calendar.timezone)}; "
        f"calendar: {_describe(calendar)}"
    )
    for kind in TARGETS:
        when = due[kind]
        duration: Duration | None = getattr(policy.classes[cls], kind)
        text = "no target" if when is None else f"{_local(when, calendar.timezone)} [{duration}]"
        typer.echo(f"{kind + ' due':<15} {text}")


def _describe(calendar: Calendar) -> str:
    if calendar.always_open:
        return f"24x7 ({calendar.timezone})"
    assert calendar.opens is not None and calendar.closes is not None
    days = ",".join(d.value for d in calendar.working_days)
    off = f", {calendar.holiday_country} public holidays off" if calendar.holiday_country else ""
    return f"{days} {calendar.opens:%H:%M}-{calendar.closes:%H:%M} {calendar.timezone}{off}"


@policy_app.command("show")
def show(
    policy_name: Annotated[str, typer.Argument(metavar="POLICY", help="Tenant name or file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the policy as JSON.")] = False,
) -> None:
    """Print a policy: classes, targets, calendars, lines and ladders (never PIN hashes)."""
    policy = _load(policy_name)
    if as_json:
        # pin_hash is excluded from every dump, so it cannot leak here.
        typer.echo(policy.model_dump_json(indent=2))
        return
    typer.echo(f"{policy.tenant}: {policy.name} <{policy.support_email}>")
    typer.echo(f"emergency line {policy.emergency_line}; default class {policy.default_class}")
    for name, cls in policy.classes.items():
        targets = ", ".join(f"{k} {getattr(cls, k) or 'none'}" for k in TARGETS)
        flag = " emergency" if cls.emergency else ""
        typer.echo(f"  class {name}:{flag} {targets}; ladder {cls.ladder}; calendar {cls.calendar}")
    for name, calendar in policy.calendars.items():
        typer.echo(f"  calendar {name}: {_describe(calendar)}")
    for category, cls_name in policy.category_classes.items():
        typer.echo(f"  category {category} -> class {cls_name}")
    for name, ladder in policy.ladders.items():
        typer.echo(f"  ladder {name}: {len(ladder.steps)} steps, repeat {ladder.repeat}")
        for step in ladder.steps:
            whom = [*(["emergency line"] if step.emergency_line else []), *step.roles, *step.people]
            via = "+".join(c.value for c in step.via)
            typer.echo(f"    {', '.join(whom)} by {via}, wait {step.wait}")
