"""Garbage collection in the worker (workers/collector.py): full collections freeze their
survivors, frozen garbage is freed once a quarter of the cache has been evicted, and the worker
counts every workflow that leaves its cache."""

from __future__ import annotations

import asyncio
import gc
import uuid
import weakref
from collections.abc import Iterator

import pytest
from temporalio.testing import WorkflowEnvironment

from intake.gateway import ticket_input
from policies.loader import load_policy
from slawatch.models import OpenTicketInput, ticket_workflow_id
from workers.collector import MIN_EVICTIONS_PER_FULL, Collector, evictions_per_full
from workers.worker import ticket_worker


class Node:
    """A reference cycle: only the cycle collector frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def collector() -> Iterator[Collector]:
    installed = Collector(evictions_per_full=3)
    installed.install()
    try:
        yield installed
    finally:
        installed.uninstall()
        gc.collect()


def test_a_full_collection_freezes_what_survived_it(collector: Collector) -> None:
    assert gc.get_freeze_count() > 0  # what the process had imported, at install
    alive = [Node() for _ in range(1000)]
    frozen = gc.get_freeze_count()
    full = collector.full_collections
    gc.collect()
    assert collector.full_collections == full + 1
    # The survivors, the new nodes among them, are out of the next collections' walk.
    assert gc.get_freeze_count() >= frozen + len(alive)
    del alive


def test_frozen_garbage_is_freed_after_a_quarter_of_the_cache_is_evicted(
    collector: Collector,
) -> None:
    node = Node()
    gone = weakref.ref(node)
    gc.collect()  # the node survives and is frozen
    del node
    gc.collect()
    assert gone() is not None  # frozen: a full collection does not walk it

    collector.evicted()
    collector.evicted()
    gc.collect()
    assert gone() is not None and collector.unfreezes == 0  # 2 of 3 evictions

    collector.evicted()  # the third: everything is walked again
    assert collector.unfreezes == 1 and collector.evictions == 0
    gc.collect()
    assert gone() is None
    assert gc.get_freeze_count() > 0  # and the survivors are frozen again


def test_uninstall_gives_everything_back_to_the_collector() -> None:
    collector = Collector(evictions_per_full=10)
    collector.install()
    node = Node()
    gone = weakref.ref(node)
    gc.collect()
    del node
    collector.uninstall()
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert gone() is None
    frozen_before = collector.full_collections
    gc.collect()
    assert collector.full_collections == frozen_before  # no longer called


def test_a_quarter_of_the_cache_and_never_fewer_than_the_minimum() -> None:
    assert evictions_per_full(10_000) == 2_500
    assert evictions_per_full(2_048) == 512
    assert evictions_per_full(10) == MIN_EVICTIONS_PER_FULL
    with pytest.raises(ValueError, match="evictions_per_full"):
        Collector(0)


async def test_the_ticket_worker_counts_every_ticket_that_leaves_its_cache(
    fresh_dev_env: WorkflowEnvironment,
) -> None:
    client = fresh_dev_env.client
    queue = f"collector-{uuid.uuid4().hex[:8]}"
    policy = load_policy("prokuria")
    evicted: list[int] = []
    # A cache of one: each ticket that starts pushes the one before it out.
    async with ticket_worker(
        client, queue, None, on_evicted=lambda: evicted.append(1), max_cached_workflows=1
    ):
        for n in range(3):
            ticket = OpenTicketInput(tenant="prokuria", ticket_id=f"{queue}-{n}", severity="high")
            handle = await client.start_workflow(
                "TicketSlaWorkflow",
                ticket_input(ticket, policy),
                id=ticket_workflow_id("prokuria", ticket.ticket_id),
                task_queue=queue,
            )
            for _ in range(200):
                if await handle.query("status"):
                    break
                await asyncio.sleep(0.05)
        for _ in range(200):
            if len(evicted) >= 2:
                break
            await asyncio.sleep(0.05)
    assert len(evicted) >= 2
