"""A durable timer that an event can cut short: the movable-deadline building block."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow


async def wait_until(condition: Callable[[], bool], limit: timedelta | None, summary: str) -> bool:
    """Wait for `condition` or the timer; True if the condition came first."""
    try:
        await workflow.wait_condition(condition, timeout=limit, timeout_summary=summary)
    except TimeoutError:
        return False
    return True
