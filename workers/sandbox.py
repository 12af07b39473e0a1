"""The workflow sandbox as slawatch runs it: what is passed through, and the workflow modules'
code compiled once per worker process instead of once per workflow run.

The Temporal sandbox re-imports every module that is not passed through for every workflow it
runs (and every replay), so that workflow code gets fresh globals and the restricted
`datetime`, `random`, `os`... proxies. Re-importing means reading the module's `.pyc` from
disk and unmarshalling its code objects again: for `workflows/ticket.py` that was ~76 KB of
code objects held by every cached ticket, and most of the CPU of starting one
(docs/benchmarks.md, "The sandbox where it earns its keep").

`CodeCache` keeps the sandbox's semantics and drops that copy. It is a meta path finder for
the sandboxed packages only (`workflows`): it finds the module as Python would and hands the
sandbox a loader whose `get_code` returns the code object compiled when the worker started.
Code objects are immutable and hold no globals, so one is safe to execute in many module
namespaces; every run still executes the module body in its own namespace, through the
sandbox's `__import__`, and gets the restricted modules. As a side effect a worker runs the
workflow code it started with, not whatever a deploy has since written to disk.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import CodeType, ModuleType

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

# Modules shared with the sandbox instead of re-imported per workflow run. Each is safe because
# workflow code only calls into it with values it already has (workflow.now(), its input):
# - pydantic, pydantic_core: model classes and validators; pure, and the bulk of import time.
# - policies: the policy schema, snapshots and the business clock (deadline arithmetic on the
#   instants it is given; no clock, no I/O at run time).
# - slawatch: models, settings names, paging and search-attribute helpers, telemetry counters
#   (metrics are side effects outside workflow state and go through workflow.metric_meter()).
# - activities: only for the activity definitions and message builders workflow code names;
#   the activities themselves run outside the sandbox.
# - holidays: its country data is expanded into each policy snapshot at intake; workflow code
#   never calls it, and passing it through keeps its large tables out of every run.
# - phonenumbers, yaml, structlog: imported by the modules above; deterministic or unused at
#   run time in workflow code.
# - the workflow helpers (WORKFLOW_HELPERS): see there.
PASSTHROUGH = (
    "pydantic",
    "pydantic_core",
    "policies",
    # The foundation modules the workflows import, by name: not the CLI and stand-ins
    # (slawatch/tools/), which no workflow needs.
    "slawatch.messages",
    "slawatch.models",
    "slawatch.outbound",
    "slawatch.paging",
    "slawatch.search_attributes",
    "slawatch.settings",
    "slawatch.telemetry",
    "activities",
    "holidays",
    "phonenumbers",
    "yaml",
    "structlog",
)
# The modules that define workflows. The module of the workflow a run runs is executed afresh in
# that run's sandbox, so the clock, randomness, I/O and threads stay caught in workflow code
# (tests/test_sandbox.py). A ticket run takes `workflows.escalation` passed through, for the
# child's definition and the two helpers it shares with the ticket (`draw_codes`, `wait_of`).
WORKFLOW_MODULES = ("workflows.ticket", "workflows.escalation", "workflows.report")
# The helpers that workflow code calls: functions over the values the workflow passes them,
# workflow API calls (`workflow.now()`, activities, timers) and constants. Passed through, as
# the workflow modules have always imported them (`imports_passed_through`): one shared copy,
# not one per run (a run executing them all costs ~2.5 ms more CPU per ticket, measured with
# benchmarks/first_task.py). What the sandbox would catch in them, tests/test_sandbox.py checks
# in their source instead: no clock but `workflow.now()`, no randomness, I/O, environment or
# threads, no `global`, no module-level value changed after import.
WORKFLOW_HELPERS = (
    "workflows.dispatch",
    "workflows.grouping",
    "workflows.notices",
    "workflows.notify_options",
    "workflows.oncall",
    "workflows.outbound",
    "workflows.records_sink",
    "workflows.search",
    "workflows.sla",
    "workflows.ticket_rules",
    "workflows.timers",
    "workflows.versions",
)
# Compiled once per worker process (CodeCache): what runs afresh in each sandbox.
SANDBOXED = ("workflows",)


class _CachedLoader(importlib.machinery.SourceFileLoader):
    def __init__(self, fullname: str, path: str, cache: dict[str, CodeType]) -> None:
        super().__init__(fullname, path)
        self._cache = cache

    def get_code(self, fullname: str) -> CodeType:
        code = self._cache.get(self.path)
        if code is None:
            code = super().get_code(fullname)
            assert code is not None, f"no code for {fullname}"
            self._cache[self.path] = code
        return code


class CodeCache(importlib.abc.MetaPathFinder):
    """Finds modules of `packages` as the default path finder does, with a code-caching loader."""

    def __init__(self, packages: Sequence[str]) -> None:
        self.packages = tuple(packages)
        self.code: dict[str, CodeType] = {}

    def covers(self, name: str) -> bool:
        return any(name == p or name.startswith(p + ".") for p in self.packages)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not self.covers(fullname):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and type(spec.loader) is importlib.machinery.SourceFileLoader:
            assert spec.origin is not None
            spec.loader = _CachedLoader(fullname, spec.origin, self.code)
        return spec


_installed: CodeCache | None = None


def code_cache() -> CodeCache:
    """The process's CodeCache, first on sys.meta_path (installed once)."""
    global _installed
    if _installed is None:
        _installed = CodeCache(SANDBOXED)
        sys.meta_path.insert(0, _installed)
    return _installed


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandboxed runner every slawatch worker uses."""
    code_cache()
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(
            *PASSTHROUGH, *WORKFLOW_HELPERS
        )
    )
