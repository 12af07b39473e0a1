"""Refusing to start, before anything listens or polls: one line per setting to fix, no trace.

`slawatch worker`, `slawatch api` and `slawatch dev` call `refuse_unsafe_start` right after
reading their settings. Exit 2 for settings that may not run here (slawatch/safety.py), exit 1
when Twilio or SendGrid refuse the credentials or cannot be reached (live mode only: the
stand-ins may start after the worker, and they accept whatever the stack configured).
"""

from __future__ import annotations

from collections.abc import Iterable

import typer

from activities.credentials import sendgrid_problem, twilio_problem
from slawatch.safety import Role, production_problems
from slawatch.settings import Settings


def vendor_problems(settings: Settings, roles: Iterable[Role]) -> list[str]:
    """Ask each vendor the roles use whether it accepts our credentials (bounded, ~5 s each)."""
    # The API checks Twilio too: its auth token verifies every webhook, and a wrong one would
    # turn away every acknowledgement with a 403 while looking healthy.
    problems = [twilio_problem(settings)]
    if Role.WORKER in frozenset(roles):
        problems.append(sendgrid_problem(settings))
    return [p for p in problems if p is not None]


def refuse_unsafe_start(settings: Settings, roles: Iterable[Role]) -> None:
    """Return when `roles` may start with these settings; otherwise print why and exit."""
    roles = frozenset(roles)
    problems = production_problems(settings, roles)
    code = 2
    if not problems and settings.notifier_mode == "live":
        problems, code = vendor_problems(settings, roles), 1
    for problem in problems:
        typer.echo(f"error: {problem}", err=True)
    if problems:
        raise typer.Exit(code)
