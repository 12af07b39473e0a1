"""Garbage collection in a worker that keeps thousands of workflows cached.

CPython's full collection (generation 2) walks every tracked object, and it runs whenever the
objects that survived younger collections reach a quarter of those that survived the last full
one. A worker that caches 10,000 tickets tracks ~4.5 million objects (~450 per cached ticket,
most of them the sandbox's per-run module namespaces and functions), so a full collection
stops the event loop and every workflow task for ~3 s, and each cached ticket that opens or
grows its state brings the next one nearer. Measured in the 10,000-ticket lag benchmark, one
landed in the breach window and made every page behind it seconds late (docs/benchmarks.md,
"Full collections and replays at 10,000 open").

Nearly all of that walk is wasted: a cached ticket's objects live until the ticket leaves the
cache, and until then no collection can free them. So `Collector` freezes the survivors of
every full collection (`gc.freeze()`: moved to the permanent generation, which collections do
not walk), and the next full collection walks only what became old since. Frozen objects that
become garbage (the namespaces of a workflow that left the cache, closed or evicted) are not
freed until they are unfrozen: the worker counts workflows leaving its cache, and after
`evictions_per_full` of them it unfreezes everything, so that the next full collection walks
and frees all of it (and then freezes the survivors again). With the default of a quarter of
the cache, the memory held by evicted workflows stays below a quarter of what the cache holds,
which is CPython's own proportion, counted in garbage instead of growth.

`SLAWATCH_WORKER_GC=python` leaves collection to CPython's defaults.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from typing import Any

import temporalio.bridge.proto.workflow_activation
import temporalio.bridge.proto.workflow_completion
import temporalio.workflow
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails, WorkflowRunner

# Below this many evictions between full walks the unfreezing would be more frequent than
# CPython's own full collections of a small worker: never fewer.
MIN_EVICTIONS_PER_FULL = 100


def evictions_per_full(max_cached_workflows: int) -> int:
    """Workflows that may leave the cache before everything is walked again: a quarter."""
    return max(MIN_EVICTIONS_PER_FULL, max_cached_workflows // 4)


class Collector:
    """Full collections that walk only what became old since the last one (module docstring).

    `install()` once a process has imported what it runs; `evicted()` for every workflow that
    leaves a worker's cache (`EvictionCountingRunner`)."""

    def __init__(self, evictions_per_full: int) -> None:
        if evictions_per_full < 1:
            raise ValueError("evictions_per_full must be at least 1")
        self.evictions_per_full = evictions_per_full
        self.evictions = 0  # since the last unfreeze
        self.full_collections = 0
        self.unfreezes = 0
        self._installed = False
        # Workflow activations run in the worker's threads; evictions are counted under a lock.
        self._lock = threading.Lock()

    def install(self) -> None:
        """Collect and freeze what the process has imported, then freeze after every full
        collection."""
        if self._installed:
            return
        gc.collect()
        gc.freeze()
        gc.callbacks.append(self._on_collection)
        self._installed = True

    def uninstall(self) -> None:
        """Stop freezing and give everything frozen back to the collector."""
        if not self._installed:
            return
        gc.callbacks.remove(self._on_collection)
        gc.unfreeze()
        self._installed = False

    def evicted(self) -> None:
        """A workflow left the cache: its objects, frozen perhaps, are garbage now."""
        with self._lock:
            self.evictions += 1
            if self.evictions < self.evictions_per_full:
                return
            self.evictions = 0
            self.unfreezes += 1
        # The next full collection (CPython's, when it is due) walks everything again.
        gc.unfreeze()

    def _on_collection(self, phase: str, info: dict[str, Any]) -> None:
        # At "stop" of a full collection, generations 0 and 1 are empty and generation 2 holds
        # exactly its survivors: freezing now freezes only objects that are alive.
        if phase == "stop" and info["generation"] == 2 and self._installed:
            self.full_collections += 1
            gc.freeze()


class EvictionCountingRunner(WorkflowRunner):
    """`inner`, with `on_evicted()` called whenever a workflow leaves the worker's cache (the
    eviction activation every cached run gets: completed, continued as new, or pushed out)."""

    def __init__(self, inner: WorkflowRunner, on_evicted: Callable[[], None]) -> None:
        self.inner = inner
        self.on_evicted = on_evicted

    def prepare_workflow(self, defn: temporalio.workflow._Definition) -> None:
        self.inner.prepare_workflow(defn)

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _CountingInstance(self.inner.create_instance(det), self.on_evicted)

    def set_worker_level_failure_exception_types(self, types: Any) -> None:
        self.inner.set_worker_level_failure_exception_types(types)


class _CountingInstance(WorkflowInstance):
    def __init__(self, inner: WorkflowInstance, on_evicted: Callable[[], None]) -> None:
        self.inner = inner
        self.on_evicted = on_evicted

    def activate(
        self, act: temporalio.bridge.proto.workflow_activation.WorkflowActivation
    ) -> temporalio.bridge.proto.workflow_completion.WorkflowActivationCompletion:
        completion = self.inner.activate(act)
        if any(job.HasField("remove_from_cache") for job in act.jobs):
            self.on_evicted()
        return completion

    def get_serialization_context(self, command_info: Any) -> Any:
        return self.inner.get_serialization_context(command_info)

    def get_external_store_context(self, command_info: Any) -> Any:
        return self.inner.get_external_store_context(command_info)

    def get_info(self) -> temporalio.workflow.Info:
        return self.inner.get_info()

    def get_thread_id(self) -> int | None:
        return self.inner.get_thread_id()
