"""Refusing to start, before anything listens or polls: one line per setting to fix, no trace.

`slawatch worker`, `slawatch api` and `slawatch dev` call `refuse_unsafe_start` right after
reading their settings. Exit 2 for settings that may not run here (slawatch/safety.py).
"""

from __future__ import annotations

from collections.abc import Iterable

import typer

from slawatch.safety import Role, production_problems
from slawatch.settings import Settings


def refuse_unsafe_start(settings: Settings, roles: Iterable[Role]) -> None:
    """Return when `roles` may start with these settings; otherwise print why and exit."""
    problems = production_problems(settings, roles)
    for problem in problems:
        typer.echo(f"error: {problem}", err=True)
    if problems:
        raise typer.Exit(2)
