"""Load policy files, turning every problem into an error that names file, field and problem."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from policies.clock import holidays_of
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
        return f"{where}: {self.message}"


class PolicyError(Exception):
    """A policy file is missing, malformed or invalid; `problems` says where and why."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's default loader keeps the last of two equal keys; a policy must reject that."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (line {key_node.start_mark.line + 1})",
                key_node.start_mark,
            )
        seen[key] = True
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,  # type: ignore[arg-type]
)


def _field(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_policy(text: str, source: str) -> Policy:
    """Parse and validate a policy file's text; `source` names it in errors."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError([Problem(source, where, f"malformed YAML: {problem}")]) from None
    if not isinstance(data, dict):
        raise PolicyError([Problem(source, "", "malformed policy: expected a mapping at the top")])
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            msg = err["msg"].removeprefix("Value error, ")
            problems.extend(
                Problem(source, _field(err["loc"]), part) for part in _split_cross_refs(msg)
            )
        raise PolicyError(problems) from None


def _split_cross_refs(msg: str) -> list[str]:
    # Cross-reference errors come joined in one message; give each its own line.
    return [m.strip() for m in msg.split("; ")] if "; " in msg else [msg]


def load_policy_file(path: Path) -> Policy:
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
    if candidate.suffix in SUFFIXES or candidate.exists():
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
    return load_policy_file(policy_path(name_or_path, policy_dir))


def available_tenants(policy_dir: Path | None = None) -> list[str]:
    directory = policy_dir or BUILTIN_DIR
    if not directory.is_dir():
        return []
    return sorted(p.stem for p in directory.iterdir() if p.suffix in SUFFIXES)


def snapshot(policy: Policy, opened_at: datetime, years_ahead: int = 2) -> Policy:
    """The policy as a ticket opened at `opened_at` runs it: public holidays resolved to dates.

    The snapshot goes into the ticket's workflow history, so a later edit of the policy file or
    a newer `holidays` package never changes a running ticket. Holidays are resolved for the
    opening year and `years_ahead` after it; beyond that the clock falls back to the package.
    """
    calendars = {}
    for name, cal in policy.calendars.items():
        if cal.holiday_country and cal.resolved_holidays is None:
            years = range(opened_at.year, opened_at.year + years_ahead + 1)
            cal = cal.model_copy(
                update={"resolved_holidays": {y: holidays_of(cal, y) for y in years}}
            )
        calendars[name] = cal
    return policy.model_copy(update={"calendars": calendars})
