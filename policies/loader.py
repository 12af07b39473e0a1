"""Load policy files, turning every problem into an error that names file, field and problem."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from policies.clock import holidays_of
from policies.oncall import who
from policies.schema import Policy

BUILTIN_DIR = Path(__file__).parent / "data"
SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Problem:
    file: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else self.file
        # One line per problem, whatever the underlying library put in its message.
        return f"{where}: {' '.join(self.message.split())}"


class PolicyError(Exception):
    """A policy file is missing, malformed or invalid; `problems` says where and why."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def _duplicate_keys(node: yaml.Node, path: str, source: str, seen: set[int]) -> list[Problem]:
    # PyYAML keeps the last of two equal keys; a policy must reject that, naming where it is.
    if id(node) in seen:  # an alias to a node already walked (or a recursive one)
        return []
    seen.add(id(node))
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            child = f"{path}.{key}" if path else key
            line = key_node.start_mark.line + 1
            if key in first:
                problems.append(
                    Problem(
                        source,
                        child,
                        f"duplicate key {key!r} (line {line}; first at line {first[key]})",
                    )
                )
            else:
                first[key] = line
            problems.extend(_duplicate_keys(value_node, child, source, seen))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            problems.extend(_duplicate_keys(item, f"{path}[{i}]", source, seen))
    return problems


def _load_yaml(text: str, source: str) -> Any:
    loader: yaml.SafeLoader | None = None
    try:
        # Compose first and construct second, so duplicate keys are found with their paths.
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        duplicates = _duplicate_keys(node, "", source, set())
        if duplicates:
            raise PolicyError(duplicates)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError([Problem(source, where, f"malformed YAML: {problem}")]) from None
    except ValueError as exc:
        # YAML's own constructors raise plain ValueError, e.g. for a date like 2026-02-30.
        raise PolicyError([Problem(source, "", f"malformed YAML: {exc}")]) from None
    finally:
        if loader is not None:
            loader.dispose()


_PLAIN_KEY = re.compile(r"[\w-]+")


def _key(part: str) -> str:
    # A key that is no plain name (a newline, spaces, punctuation) is shown quoted: the
    # problem must stay one line (found by a random fuzz run: a key "\n" split the message).
    return part if _PLAIN_KEY.fullmatch(part) else json.dumps(part)


def _field(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for a bad mapping key: the key itself says it
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{_key(part)}" if out else _key(part))
    return out


# Validators that check several fields at once start their message with the field path
# ("opens: ...", "ladders.x.steps[0].roles[1]: ..."); it belongs in the problem's field.
_PATH_PREFIX = re.compile(r"^([A-Za-z_][\w-]*(?:\.[\w-]+|\[\d+\])*): (.+)$", re.DOTALL)


def _problem(source: str, loc: tuple[int | str, ...], message: str) -> Problem:
    field = _field(loc)
    match = _PATH_PREFIX.match(message)
    if match:
        inner, message = match.groups()
        field = f"{field}.{inner}" if field else inner
    return Problem(source, field, message)


def parse_policy(text: str, source: str) -> Policy:
    """Parse and validate a policy file's text; `source` names it in errors."""
    data = _load_yaml(text, source)
    if not isinstance(data, dict):
        raise PolicyError([Problem(source, "", "malformed policy: expected a mapping at the top")])
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems: list[Problem] = []
        for err in exc.errors(include_url=False):
            msg = err["msg"].removeprefix("Value error, ")
            problems.extend(_problem(source, err["loc"], part) for part in _split_cross_refs(msg))
        raise PolicyError(problems) from None


def _split_cross_refs(msg: str) -> list[str]:
    # Policy's cross-reference check joins its errors with newlines; give each its own line.
    return [m.strip() for m in msg.split("\n") if m.strip()]


def load_policy_file(path: Path) -> Policy:
    """Load and validate one policy file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError([Problem(str(path), "", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError([Problem(str(path), "", f"cannot read: {exc}")]) from None
    return parse_policy(text, str(path))


def policy_path(name_or_path: str, policy_dir: Path | None = None) -> Path:
    """A tenant name looked up in the policy directory (built-in by default), or a file path."""
    candidate = Path(name_or_path)
    # Only a file counts as a path: a directory in the working directory that happens to share a
    # tenant's name must not shadow the tenant.
    if candidate.suffix in SUFFIXES or "/" in name_or_path or candidate.is_file():
        return candidate
    directory = policy_dir or BUILTIN_DIR
    for suffix in SUFFIXES:
        path = directory / f"{name_or_path}{suffix}"
        if path.exists():
            return path
    known = ", ".join(available_tenants(directory)) or "none"
    raise PolicyError(
        [Problem(str(directory), "", f"unknown policy {name_or_path!r} (known: {known})")]
    )


def load_policy(name_or_path: str, policy_dir: Path | None = None) -> Policy:
    """Load a policy by tenant name (from `policy_dir`) or by file path."""
    return load_policy_file(policy_path(name_or_path, policy_dir))


def available_tenants(policy_dir: Path | None = None) -> list[str]:
    """Tenant names of the policy files in a directory (the built-in one by default)."""
    directory = policy_dir or BUILTIN_DIR
    if not directory.is_dir():
        return []
    return sorted(p.stem for p in directory.iterdir() if p.suffix in SUFFIXES)


def snapshot(policy: Policy, opened_at: datetime, years_ahead: int = 10) -> Policy:
    """The policy as a ticket opened at `opened_at` runs it: public holidays resolved to dates.

    The snapshot goes into the ticket's workflow history, so a later edit of the policy file or
    a newer `holidays` package never changes a running ticket. Holidays are resolved for the
    opening year and `years_ahead` after it (beyond them the clock counts weekends only).
    """
    calendars = {}
    for name, cal in policy.calendars.items():
        if cal.holiday_country and cal.resolved_holidays is None:
            years = range(opened_at.year, opened_at.year + years_ahead + 1)
            cal = cal.model_copy(
                update={"resolved_holidays": {y: holidays_of(cal, y) for y in years}}
            )
        calendars[name] = cal
    # Only the legacy snapshot activity (tickets opened before intake passed the snapshot)
    # takes this path; those tickets' workflows read every role as a list of people, so their
    # schedules become whoever was on call at opening. Intake's snapshot keeps the schedules
    # (policies/snapshot.py) and the escalation resolves them when it pages.
    roles = policy.roles | {name: who(policy, name, opened_at).people for name in policy.schedules}
    return policy.model_copy(update={"calendars": calendars, "roles": roles, "schedules": {}})
