"""The worker's sandbox (workers/sandbox.py): workflow modules are compiled once per process
and still run sandboxed; what is passed through is what docs/design.md lists."""

from __future__ import annotations

import contextlib
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import CodeType
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import tests.sandbox_probe as probe
from workers.sandbox import PASSTHROUGH, SANDBOXED, CodeCache, code_cache, workflow_runner


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
    assert set(PASSTHROUGH) <= passthrough and "workflows" not in passthrough


def test_design_doc_says_why_each_passed_through_module_is_safe() -> None:
    design = (Path(__file__).resolve().parents[1] / "docs" / "design.md").read_text()
    section = design.split("### The sandbox", 1)[1].split("\n## ", 1)[0]
    for module in PASSTHROUGH:
        assert f"`{module}`" in section, module
