"""The worker's sandbox (workers/sandbox.py): workflow modules are compiled once per process
and still run sandboxed; what is passed through is what docs/design.md lists."""

from __future__ import annotations

import ast
import contextlib
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import CodeType
from typing import Any

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

import tests.sandbox_probe as probe
from tests.harness import HISTORIES_DIR, load
from workers.sandbox import (
    PASSTHROUGH,
    SANDBOXED,
    WORKFLOW_HELPERS,
    WORKFLOW_MODULES,
    CodeCache,
    _CachedLoader,
    code_cache,
    workflow_runner,
)
from workers.worker import WORKFLOWS

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def probe_cache() -> Iterator[CodeCache]:
    """A CodeCache for the probe's module, first on sys.meta_path while the test runs."""
    cache = CodeCache(["tests.sandbox_probe"])
    sys.meta_path.insert(0, cache)
    try:
        yield cache
    finally:
        sys.meta_path.remove(cache)


async def test_cached_workflow_code_still_runs_sandboxed(
    fresh_dev_env: WorkflowEnvironment, probe_cache: CodeCache
) -> None:
    queue = f"sandbox-{uuid.uuid4()}"
    results: list[dict[str, Any]] = []
    async with Worker(
        fresh_dev_env.client,
        task_queue=queue,
        workflows=[probe.SandboxProbe],
        workflow_runner=workflow_runner(),
    ):
        for n in range(2):
            results.append(
                await fresh_dev_env.client.execute_workflow(
                    probe.SandboxProbe.run, id=f"probe-{queue}-{n}", task_queue=queue
                )
            )
    [code] = probe_cache.code.values()
    for result in results:
        # The clock is still the sandbox's, and each run had a module namespace of its own...
        assert result["clock"] == "restricted", result
        assert result["runs"] == 1, result
        # ...executing the one code object compiled for the process.
        assert result["code"] == id(nested_code(code, "run")), result


def nested_code(code: CodeType, name: str) -> CodeType:
    """The code object called `name` compiled inside `code` (a function in a class body)."""
    for const in code.co_consts:
        if isinstance(const, CodeType):
            if const.co_name == name:
                return const
            with contextlib.suppress(LookupError):
                return nested_code(const, name)
    raise LookupError(name)


def test_only_the_workflows_package_is_compiled_once_and_it_is_not_passed_through() -> None:
    workflow_runner()
    cache = code_cache()
    assert sys.meta_path[0] is cache and cache.packages == SANDBOXED == ("workflows",)
    assert cache.covers("workflows") and cache.covers("workflows.ticket")
    assert not cache.covers("workflows_extra") and not cache.covers("policies.clock")
    assert not any(cache.covers(p) for p in PASSTHROUGH)
    runner = workflow_runner()
    passthrough = runner.restrictions.passthrough_modules
    assert set(PASSTHROUGH) | set(WORKFLOW_HELPERS) <= passthrough
    assert "workflows" not in passthrough and not set(WORKFLOW_MODULES) & passthrough


def test_design_doc_says_why_each_passed_through_module_is_safe() -> None:
    design = (REPO / "docs" / "design.md").read_text()
    section = design.split("### The sandbox", 1)[1].split("\n## ", 1)[0]
    for module in (*PASSTHROUGH, *WORKFLOW_HELPERS, *WORKFLOW_MODULES):
        assert f"`{module}`" in section, module


@pytest.mark.parametrize(
    ("history", "fresh"),
    [
        ("typical--ticket+prokuria+H-typical", "workflows.ticket"),
        ("critical_ladder--ticket+prokuria+H-ladder-escalation-response-1", "workflows.escalation"),
    ],
)
async def test_a_run_executes_afresh_exactly_its_workflow_module(
    history: str, fresh: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What docs/design.md says runs in each sandbox: the workflow's own module (and the empty
    package above it); every helper is the worker's one copy."""
    code_cache()
    executed: Counter[str] = Counter()
    get_code = _CachedLoader.get_code

    def counting(self: _CachedLoader, fullname: str) -> CodeType:
        executed[fullname] += 1
        return get_code(self, fullname)

    monkeypatch.setattr(_CachedLoader, "get_code", counting)
    # Only this workflow: the replayer's worker also runs each module it serves once, to check it.
    [workflow] = [w for w in WORKFLOWS if w.__module__ == fresh]
    replayer = Replayer(
        workflows=[workflow],
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(),
    )
    result = await replayer.replay_workflow(
        load(HISTORIES_DIR / f"{history}.json"), raise_on_replay_failure=False
    )
    assert result.replay_failure is None, result.replay_failure
    assert set(executed) == {"workflows", fresh}, executed


# What the sandbox would catch at run time, looked for in the helpers' source instead.
UNSAFE_MODULES = {
    "os", "time", "random", "secrets", "uuid", "threading", "multiprocessing", "subprocess",
    "socket", "urllib", "http", "httpx", "requests", "sqlite3", "psycopg", "sqlalchemy",
}  # fmt: skip
CLOCK_CALLS = {"now", "utcnow", "today", "fromtimestamp", "utcfromtimestamp"}
MUTATORS = {"append", "extend", "insert", "add", "update", "setdefault", "pop", "popitem",
            "remove", "discard", "clear", "__setitem__"}  # fmt: skip


def unsafe(source: str) -> list[str]:
    """What in a passed-through module would break determinism or leak between runs."""
    tree = ast.parse(source)
    module_names = {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    }
    found = []
    for node in ast.walk(tree):
        where = f"line {getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [
                a.name for a in node.names
            ]  # fmt: skip
            found += [f"{where}: imports {n}" for n in names if n.split(".")[0] in UNSAFE_MODULES]
        elif isinstance(node, ast.Global):
            found.append(f"{where}: global {', '.join(node.names)}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = ast.unparse(node.func.value)
            if node.func.attr in CLOCK_CALLS and owner != "workflow":
                found.append(f"{where}: {owner}.{node.func.attr}()")
            if node.func.attr in MUTATORS and owner in module_names:
                found.append(f"{where}: changes module-level {owner}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ("open", "input", "exec", "eval"):
                found.append(f"{where}: {node.func.id}()")
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.Delete):
            targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
            for target in targets:
                if isinstance(target, ast.Subscript | ast.Attribute):
                    base = target.value
                    if isinstance(base, ast.Name) and base.id in module_names:
                        found.append(f"{where}: changes module-level {base.id}")
    return sorted(found, key=lambda f: (int(f.split()[1].rstrip(":")), f))


def test_the_unsafe_check_finds_what_the_sandbox_would() -> None:
    source = """
import random
from datetime import datetime
from time import monotonic
SEEN: dict[str, int] = {}
ORDER = []
def f(key):
    global COUNT
    SEEN[key] = datetime.now().second
    ORDER.append(key)
    return open("x")
"""
    assert unsafe(source) == [
        "line 2: imports random",
        "line 4: imports time",
        "line 8: global COUNT",
        "line 9: changes module-level SEEN",
        "line 9: datetime.now()",
        "line 10: changes module-level ORDER",
        "line 11: open()",
    ]
    # The workflow clock, and a local of a module-level name's shape, are fine.
    assert unsafe("from temporalio import workflow\ndef f(d):\n    d[1] = workflow.now()") == []


def test_every_workflows_module_is_sandboxed_or_a_checked_helper() -> None:
    modules = {f"workflows.{p.stem}" for p in (REPO / "workflows").glob("*.py")} - {
        "workflows.__init__"
    }
    assert modules == set(WORKFLOW_MODULES) | set(WORKFLOW_HELPERS)
    assert not set(WORKFLOW_MODULES) & set(WORKFLOW_HELPERS)
    # A ticket run also takes the escalation module passed through: check it as a helper too.
    for module in (*WORKFLOW_HELPERS, "workflows.escalation"):
        path = REPO / (module.replace(".", "/") + ".py")
        assert unsafe(path.read_text()) == [], module
