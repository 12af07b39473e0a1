"""`slawatch oncall who|show|override ...`: who is on call, their shifts, and overrides.

These read the policy directory and the override store directly (SQLite in the data directory
or the PostgreSQL of SLAWATCH_LEDGER_URL), as the workers do: an operator on the host needs no
running API to ask who is on call or to put a cover in place.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, NoReturn
from zoneinfo import ZoneInfo

import typer

from activities.overrides import OverrideStore, new_override_id, open_override_store
from intake.oncall_feed import feed_url
from policies.calendar import known_zone
from policies.loader import PolicyError, load_policy
from policies.oncall import (
    Override,
    OverrideProblem,
    check_override,
    check_range,
    exact_local,
    localize,
    shifts,
    who,
)
from policies.schema import Policy
from slawatch.tools.cli_output import load_settings, table

oncall_app = typer.Typer(
    help="Who is on call, their shifts, and overrides (who covers for whom, when).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
override_app = typer.Typer(help="Create, list and delete overrides.", no_args_is_help=True)
oncall_app.add_typer(override_app, name="override")

USAGE = 2
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Zone = Annotated[
    str | None,
    typer.Option("--zone", help="IANA zone for dates and times without an offset, and output."),
]


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    raise typer.Exit(USAGE)


def _policy(tenant: str) -> Policy:
    try:
        return load_policy(tenant, load_settings().policy_dir)
    except PolicyError as exc:
        for problem in exc.problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(USAGE) from None


def _role(policy: Policy, role: str) -> None:
    if role not in policy.role_names():
        known = ", ".join(policy.role_names()) or "none"
        _fail(f"ROLE: unknown role {role!r} for {policy.tenant} (known: {known})")


def _store() -> OverrideStore:
    try:
        return open_override_store(load_settings())
    except RuntimeError as exc:  # PostgreSQL unreachable: the message names it, never secrets
        _fail(str(exc))


def _zone(policy: Policy, role: str, zone: str | None) -> ZoneInfo:
    """The zone to read and print times in: --zone, else the role's first layer's."""
    if zone is not None:
        try:
            return ZoneInfo(known_zone(zone))
        except ValueError as exc:
            _fail(f"--zone: {exc}")
    if role in policy.schedules:
        return ZoneInfo(policy.schedules[role].layers[0].timezone)
    return ZoneInfo(next(iter(policy.calendars.values())).timezone)


def _scope(tenant: str, role: str, zone: str | None) -> tuple[Policy, ZoneInfo]:
    """The tenant's policy, once ROLE is known to it, and the zone to read and print times in."""
    policy = _policy(tenant)
    _role(policy, role)
    return policy, _zone(policy, role, zone)


def _instant(text: str, option: str, zone: ZoneInfo) -> datetime:
    """An ISO date or date-time; one without an offset is read on `zone`'s wall clock."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        _fail(f"{option}: {text!r} is not an ISO-8601 date or date-time (e.g. 2026-12-24T18:00)")
    try:
        check_range(value if value.tzinfo else value.replace(tzinfo=UTC))
    except ValueError as exc:
        _fail(f"{option}: {exc}")
    if value.tzinfo is not None and value.utcoffset() is not None:
        return value.astimezone(UTC)
    if _is_date(text):  # a day starts when the clock first shows it (even where DST skips 00:00)
        return localize(value, zone)
    try:
        return exact_local(value, zone)
    except ValueError as exc:
        _fail(f"{option}: {exc}")


def _local(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")


@oncall_app.command("who")
def who_cmd(
    tenant: str,
    role: str,
    at: Annotated[str | None, typer.Option("--at", help="ISO-8601 instant; default now.")] = None,
    zone: Zone = None,
    as_json: AsJson = False,
) -> None:
    """Who is on call for ROLE at --at (now by default), and why."""
    policy, tz = _scope(tenant, role, zone)
    instant = datetime.now(UTC) if at is None else _instant(at, "--at", tz)
    found = _store().overlapping(tenant, role, instant, instant + timedelta(seconds=1))
    answer = who(policy, role, instant, found)
    if as_json:
        typer.echo(answer.model_dump_json())
        return
    people = ", ".join(answer.people) or "nobody"
    typer.echo(f"{tenant} {role} at {_local(instant, tz)}: {people}")
    typer.echo(f"why: {answer.why}")


@oncall_app.command("show")
def show(
    tenant: str,
    role: str,
    start: Annotated[str, typer.Option("--from", help="First day (or instant), ISO-8601.")],
    end: Annotated[str, typer.Option("--to", help="Last day, included (or an instant).")],
    zone: Zone = None,
    as_json: AsJson = False,
) -> None:
    """A table of ROLE's shifts from --from to --to, overrides included."""
    policy, tz = _scope(tenant, role, zone)
    first = _instant(start, "--from", tz)
    end = end.strip()
    if _is_date(end):  # a bare date: the whole of that day
        end = (date.fromisoformat(end) + timedelta(days=1)).isoformat()
    last = _instant(end, "--to", tz)
    if last <= first:
        _fail("--to: must be after --from")
    if last - first > timedelta(days=366):
        _fail("--to: show at most 366 days at once")
    listed = shifts(policy, role, first, last, _store().overlapping(tenant, role, first, last))
    if as_json:
        typer.echo(json.dumps([s.model_dump(mode="json") for s in listed], indent=2))
        return
    rows = [
        (
            _local(s.starts_at, tz),
            _local(s.ends_at, tz),
            f"{(s.ends_at - s.starts_at).total_seconds() / 3600:g}",
            ", ".join(s.people) or "nobody",
            s.why,
        )
        for s in listed
    ]
    typer.echo(table(["from", "to", "hours", "on call", "why"], rows))


@oncall_app.command("feed-url")
def feed_url_cmd(tenant: str, role: str) -> None:
    """The secret URL of ROLE's calendar feed, for a calendar app to subscribe to."""
    _scope(tenant, role, None)
    settings = load_settings()
    secret = settings.oncall_feed_secret.get_secret_value()
    if not secret:
        _fail("SLAWATCH_ONCALL_FEED_SECRET is not set: feed URLs are off (bearer tokens only)")
    typer.echo(feed_url(settings.public_base_url, secret, tenant, role))


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text.strip())
    except ValueError:
        return False
    return len(text.strip()) == 10


@override_app.command("add")
def add(
    tenant: str,
    role: str,
    person: str,
    start: Annotated[str, typer.Option("--from", help="Start, ISO-8601.")],
    end: Annotated[str, typer.Option("--to", help="End, ISO-8601.")],
    instead_of: Annotated[
        str | None, typer.Option("--instead-of", help="Whom PERSON covers for; default: all.")
    ] = None,
    zone: Zone = None,
    as_json: AsJson = False,
) -> None:
    """PERSON on call in ROLE from --from to --to (instead of --instead-of, or of everyone)."""
    policy, tz = _scope(tenant, role, zone)
    starts, ends = _instant(start, "--from", tz), _instant(end, "--to", tz)
    try:
        check_override(policy, role, person, instead_of, starts, ends)
    except OverrideProblem as exc:
        option = {"person": "PERSON", "replaces": "--instead-of", "ends_at": "--to"}
        _fail(f"{option.get(exc.field, exc.field)}: {exc}")
    now = datetime.now(UTC)
    if ends <= now:
        _fail("--to: the override ends in the past")
    override = Override(
        id=new_override_id(),
        tenant=tenant,
        role=role,
        person=person,
        replaces=instead_of,
        starts_at=starts,
        ends_at=ends,
        created_at=now,
        created_by="cli",
    )
    _store().add(override)
    if as_json:
        typer.echo(override.model_dump_json())
        return
    typer.echo(f"{override.id}: {_describe(override, tz)}")


def _span(o: Override, tz: ZoneInfo) -> tuple[str, str]:
    return _local(o.starts_at, tz), _local(o.ends_at, tz)


def _describe(o: Override, tz: ZoneInfo) -> str:
    whom = f"instead of {o.replaces}" if o.replaces else "for everyone"
    return f"{o.person} {whom} in {o.role}, {_local(o.starts_at, tz)} to {_local(o.ends_at, tz)}"


@override_app.command("list")
def list_cmd(
    tenant: str,
    role: Annotated[str | None, typer.Option("--role", help="Only this role.")] = None,
    include_past: Annotated[bool, typer.Option("--all", help="Ended ones too.")] = False,
    zone: Zone = None,
    as_json: AsJson = False,
) -> None:
    """The tenant's overrides that have not ended (--all: every one)."""
    policy = _policy(tenant)
    if role is not None:
        _role(policy, role)
    since = datetime.min.replace(tzinfo=UTC) if include_past else datetime.now(UTC)
    found = _store().overlapping(tenant, role, since)
    if as_json:
        typer.echo(json.dumps([o.model_dump(mode="json") for o in found], indent=2))
        return
    if not found:
        typer.echo("no overrides")
        return
    tz = _zone(policy, role or found[0].role, zone)
    rows = [
        (o.id, o.role, o.person, o.replaces or "everyone", *_span(o, tz), o.created_by)
        for o in found
    ]
    typer.echo(table(["id", "role", "on call", "instead of", "from", "to", "by"], rows))


@override_app.command("delete")
def delete(tenant: str, override_id: str) -> None:
    """Remove an override."""
    _policy(tenant)
    if not _store().delete(tenant, override_id):
        _fail(f"OVERRIDE_ID: no override {override_id!r} for {tenant}")
    typer.echo(f"deleted {override_id}")
