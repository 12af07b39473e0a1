"""A ticket's first workflow task, in worker CPU: replayed in-process, sandbox against none.

Run: `python -m benchmarks.first_task [--tickets 500] [--rounds 3]`. Smallest
(tests/test_benchmarks_smoke.py): `--tickets 5 --rounds 1`. Prints a table, then one JSON line.

No server: the first task of the committed `typical` history (tests/histories/; the opening:
state, search attributes, the first timer, the opening record write) is replayed `--tickets`
times, each as a ticket of its own, by a Replayer with slawatch's sandbox (workers/sandbox.py)
and by one without a sandbox, in turns for `--rounds` rounds. Each row is the median round's
CPU per ticket of this process. That is the worker's share of an opening without the network
and the dev server that `benchmarks.intake` adds, and it moves far less between runs on a
shared machine, so it tells a few tenths of a millisecond apart.

For the sandbox, the row also splits the time where the SDK spends it: creating the run's
instance (executing the workflow module afresh, `@workflow.defn` and the handler decorators),
its activations (the workflow code, the input's decoding) and the serialization context the
SDK asks of the sandbox for each payload. The split wraps three methods of the SDK's sandbox
runner (`temporalio.worker.workflow_sandbox._runner._Instance`); on an SDK without them it is
left out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, WorkflowRunner

from benchmarks.common import emit
from workers.worker import WORKFLOWS, workflow_runner

HISTORY = (
    Path(__file__).resolve().parents[1] / "tests/histories/typical--ticket+prokuria+H-typical.json"
)
SCHEDULED = "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED"
PARTS = {
    "_create_instance": "create instance",
    "activate": "activations",
    "get_serialization_context": "serialization context",
}


def first_task(path: Path = HISTORY) -> str:
    """The history's events up to its second workflow task, as history JSON."""
    events = json.loads(path.read_text())["events"]
    scheduled = [i for i, e in enumerate(events) if e["eventType"] == SCHEDULED]
    if len(scheduled) < 2:
        raise SystemExit(f"{path}: fewer than two workflow tasks")
    return json.dumps({"events": events[: scheduled[1]]})


async def _histories(text: str, n: int) -> AsyncIterator[WorkflowHistory]:
    for i in range(n):
        yield WorkflowHistory.from_json(f"ticket/prokuria/F{i:06d}", text)


@contextmanager
def split(spent: dict[str, float]) -> Iterator[None]:
    """Adds the CPU spent in each of PARTS to `spent` while it is open (if the SDK has them)."""
    try:
        # Imported here: a private module of the SDK, which may not have it; the split is optional.
        from temporalio.worker.workflow_sandbox._runner import _Instance
    except ImportError:
        yield
        return
    if not all(hasattr(_Instance, name) for name in PARTS):
        yield
        return
    originals: dict[str, Callable[..., Any]] = {name: getattr(_Instance, name) for name in PARTS}

    def timed(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            began = time.process_time()
            try:
                return original(self, *args, **kwargs)
            finally:
                spent[PARTS[name]] = spent.get(PARTS[name], 0.0) + time.process_time() - began

        return wrapper

    for name, original in originals.items():
        setattr(_Instance, name, timed(name, original))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(_Instance, name, original)


async def one_round(runner: WorkflowRunner, text: str, n: int) -> dict[str, float]:
    """CPU ms per ticket for n first tasks (and the split, for the sandbox)."""
    replayer = Replayer(
        workflows=WORKFLOWS, data_converter=pydantic_data_converter, workflow_runner=runner
    )
    spent: dict[str, float] = {}
    with split(spent):
        began = time.process_time()
        results = await replayer.replay_workflows(
            _histories(text, n), raise_on_replay_failure=False
        )
        total = time.process_time() - began
    failures = [r for r in results.replay_failures.values() if r is not None]
    if failures:
        raise SystemExit(f"replay failed: {failures[0]}")
    figures = {"total": total}
    if isinstance(runner, UnsandboxedWorkflowRunner):
        spent.clear()  # the wrappers saw nothing: no sandbox instance ran
    figures |= dict(spent)
    return {k: round(v * 1000 / n, 2) for k, v in figures.items()}


async def main(n: int, rounds: int) -> None:
    text = first_task()
    runners: dict[str, WorkflowRunner] = {
        "sandbox (slawatch)": workflow_runner(),
        "no sandbox": UnsandboxedWorkflowRunner(),
    }
    for runner in runners.values():  # imports, caches and the JIT-free warm-up of both
        await one_round(runner, text, min(n, 20))
    measured: dict[str, list[dict[str, float]]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, runner in runners.items():
            measured[name].append(await one_round(runner, text, n))
    rows: list[list[Any]] = []
    medians: dict[str, dict[str, float]] = {}
    for name, figures in measured.items():
        medians[name] = sorted(figures, key=lambda f: f["total"])[len(figures) // 2]
        rows.append([name, *(medians[name].get(part, "-") for part in ("total", *PARTS.values()))])
    data = {
        name: {"median": medians[name], "totals": [f["total"] for f in figures]}
        for name, figures in measured.items()
    }
    sandbox, bare = (medians[name]["total"] for name in runners)
    emit(
        f"first task, CPU ms per ticket ({n} tickets, median of {rounds} rounds): "
        f"the sandbox costs {sandbox - bare:.2f} ms",
        ["runner", "total", *PARTS.values()],
        rows,
        {"tickets": n, "rounds": rounds, "runners": data, "sandbox_ms": round(sandbox - bare, 2)},
    )


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=500, help="first tasks per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each runner in turn")
    args = parser.parse_args()
    if args.tickets < 1 or args.rounds < 1:
        parser.error("--tickets and --rounds must be at least 1")
    asyncio.run(main(args.tickets, args.rounds))


if __name__ == "__main__":
    cli()
