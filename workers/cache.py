"""How many workflows a worker process keeps cached, from its memory budget.

A cached ticket's timer fires in the worker that holds it; an evicted one is replayed from its
history first (CPU and a history fetch at the moment a page is due). So the cache should hold
every open ticket a process owns, as far as memory allows. The figures are measured with
`make bench-footprint` (docs/benchmarks.md, "The sandbox where it earns its keep"); set
SLAWATCH_WORKER_MAX_CACHED_WORKFLOWS to override the result.
"""

from __future__ import annotations

# Resident memory of an idle `slawatch worker` process (Python, temporalio, pydantic, the
# vendor clients, the Temporal core's buffers): 142 MB measured at 3f4d953.
IDLE_MB = 145
# What each cached open ticket adds while tickets breach, page, are evicted and replayed: a
# worker capped at 2,048 cached tickets reached 573 MB in the 10,000-ticket lag run at 3f4d953,
# (573 - 142) MB / 2,048 = 210 KB. A cache that only fills, never churning, costs less (157 KB a
# ticket in `make bench-footprint`), but the budget must hold under the churn: the replays'
# histories in flight, escalations, and the allocator's fragmentation.
KB_PER_CACHED_TICKET = 210
# Below this a worker replays on nearly every timer: never size the cache smaller.
MIN_CACHED = 100


def max_cached_workflows(memory_mb: int, processes: int = 1, override: int | None = None) -> int:
    """The cache size of each of `processes` worker processes sharing `memory_mb`."""
    if override is not None:
        return override
    per_process_mb = memory_mb / processes - IDLE_MB
    return max(MIN_CACHED, int(per_process_mb * 1024 / KB_PER_CACHED_TICKET))
