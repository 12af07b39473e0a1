"""Custom search attributes: the Temporal UI as the operator's console."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from slawatch.models import TargetKind, TicketState, escalation_level, live_breaches
    from slawatch.paging import paged_numbers
    from slawatch.search_attributes import (
        BREACHED,
        CLASS,
        DEFINITIONS,
        DELIVERY,
        ESCALATION_LEVEL,
        PAGED_TO,
        RESOLUTION_DUE,
        RESPONSE_DUE,
        STATE,
        TENANT,
    )
    from workflows import sla
    from workflows.versions import patched

# Patch: tickets publish the numbers paged for their live breaches (SlaPagedTo).
PAGED_TO_ATTRIBUTE = "paged-to-search-attribute"
# Patch: tickets say when a vendor refuses our account for their pages (SlaDelivery).
DELIVERY_ATTRIBUTE = "delivery-search-attribute"
# Patch: tickets say whether a target was ever breached (SlaBreached), withdrawn or not.
BREACHED_ATTRIBUTE = "sla-breached-search-attribute"

__all__ = [
    "BREACHED",
    "BREACHED_ATTRIBUTE",
    "CLASS",
    "DEFINITIONS",
    "DELIVERY",
    "DELIVERY_ATTRIBUTE",
    "ESCALATION_LEVEL",
    "PAGED_TO",
    "PAGED_TO_ATTRIBUTE",
    "RESOLUTION_DUE",
    "RESPONSE_DUE",
    "STATE",
    "TENANT",
    "upsert_search_attributes",
]


def upsert_search_attributes(s: TicketState, now: datetime, revision: int) -> None:
    """Publish the ticket's current SLA state; only what changed is written to history."""
    current = workflow.info().typed_search_attributes
    level = escalation_level(s.breaches)
    updates: list[SearchAttributeUpdate[Any]] = []
    for key, value in (
        (TENANT, s.policy.tenant),
        (CLASS, s.severity),
        (STATE, sla.overall_state(s, now)),
        (ESCALATION_LEVEL, level),
        (RESPONSE_DUE, sla.due(s, TargetKind.RESPONSE, now)),
        (RESOLUTION_DUE, sla.due(s, TargetKind.RESOLUTION, now)),
    ):
        typed_key: SearchAttributeKey[Any] = key
        # A paused or finished target keeps its last due time (SlaState says it is not live):
        # unsetting a Datetime attribute breaks describe() against the time-skipping server.
        if value is not None and current.get(typed_key) != value:
            updates.append(typed_key.value_set(value))
    if s.sent and patched(PAGED_TO_ATTRIBUTE, revision):
        live = {b.breach_id for b in live_breaches(s.breaches)}
        paged = paged_numbers(s.sent, live)
        if (current.get(PAGED_TO) or []) != paged:
            updates.append(PAGED_TO.value_set(paged) if paged else PAGED_TO.value_unset())
    delivery = "failing" if s.delivery_failing else "ok"
    shown = current.get(DELIVERY)
    # Only tickets whose pages ever failed for the account carry it: SlaDelivery = "failing".
    failing = s.delivery_failing or shown
    if failing and shown != delivery and patched(DELIVERY_ATTRIBUTE, revision):
        updates.append(DELIVERY.value_set(delivery))
    # `s.breaches` keeps a breach a downgrade withdrew, so this never turns back to false. Set
    # false from the first task (in the same upsert as SlaTenant), so `SlaBreached = false` works.
    breached = bool(s.breaches)
    if current.get(BREACHED) is not breached and patched(BREACHED_ATTRIBUTE, revision):
        updates.append(BREACHED.value_set(breached))
    if updates:
        workflow.upsert_search_attributes(updates)
