"""What the ladder records for the alert rules: exhausted ladders, first-page lag by stage."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from temporalio.runtime import Runtime

from slawatch import telemetry
from slawatch.models import AcknowledgeInput
from slawatch.settings import Settings
from tests.harness import harness
from tests.ladder_scenarios import open_critical
from tests.metrics_probe import Samples, free_port, matching, scrape

EXHAUSTED = f"{telemetry.ESCALATIONS_EXHAUSTED}_total"
LAG = telemetry.PAGE_LAG


@pytest.fixture(scope="module")
def metrics() -> Iterator[tuple[Runtime, str]]:
    address = f"127.0.0.1:{free_port()}"
    yield telemetry.runtime_for(Settings(metrics_bind_address=address)), address


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(matching(samples, name, **labels))


async def test_exhausted_ladder_is_counted_once_and_first_pages_are_labelled(
    metrics: tuple[Runtime, str],
) -> None:
    runtime, address = metrics
    before = scrape(address)
    async with harness(runtime=runtime) as h:
        handle, opened = await open_critical(h, "M-1")
        # Response due 04:00; three rounds of the 35-minute critical ladder end by 05:45.
        await h.advance_to(opened + timedelta(hours=4))
        assert (await h.status(handle)).breaches[0].outcome == "exhausted"
    got = scrape(address)
    exhausted = {"tenant": "prokuria", "severity": "critical"}
    assert total(got, EXHAUSTED, **exhausted) == total(before, EXHAUSTED, **exhausted) + 1
    # Round 1 step 1 texts the emergency line and the primary at the breach instant.
    first = {"tenant": "prokuria", "channel": "sms", "step": "first", "emergency": "true"}
    new_first = total(got, f"{LAG}_count", **first) - total(before, f"{LAG}_count", **first)
    assert new_first == 2
    fast = total(got, f"{LAG}_bucket", le="1", **first) - total(
        before, f"{LAG}_bucket", le="1", **first
    )
    assert fast == 2
    # Later steps wait out ack windows by design: never under the first step's label.
    later = {"tenant": "prokuria", "channel": "voice", "step": "later", "emergency": "true"}
    slow = total(got, f"{LAG}_count", **later) - total(got, f"{LAG}_bucket", le="60", **later)
    assert slow >= 4


async def test_acknowledged_ladder_is_not_counted_as_exhausted(
    metrics: tuple[Runtime, str],
) -> None:
    runtime, address = metrics
    before = scrape(address)
    async with harness(runtime=runtime) as h:
        handle, opened = await open_critical(h, "M-2")
        await h.advance_to(opened + timedelta(minutes=62))
        await h.update(handle, "acknowledge", AcknowledgeInput(responder="ana", channel="sms"))
        await h.advance_to(opened + timedelta(hours=4))
        assert (await h.status(handle)).breaches[0].outcome == "acknowledged"
    got = scrape(address)
    exhausted = {"tenant": "prokuria", "severity": "critical"}
    assert total(got, EXHAUSTED, **exhausted) == total(before, EXHAUSTED, **exhausted)
    acks = "slawatch_acknowledgements_total"
    assert total(got, acks, tenant="prokuria") == total(before, acks, tenant="prokuria") + 1
