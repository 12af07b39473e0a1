"""An SLA record store's rows for one tenant, and the rows a ticket's final status makes: what the
record tests compare."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from activities.records.build import build_record
from activities.records.rows import EventRow
from activities.records.store import RecordStore
from policies.loader import load_policy
from slawatch.models import TicketStatus

BERLIN = ZoneInfo("Europe/Berlin")
WIDE = (datetime(2000, 1, 1, tzinfo=BERLIN), datetime(2100, 1, 1, tzinfo=BERLIN))


def _event_order(e: EventRow) -> tuple[datetime, str, int]:
    return (e.at, e.event, e.n)  # equal instants (opened and breached at once) in one order


def dump(store: RecordStore, tenant: str = "prokuria") -> dict[str, Any]:
    tickets = store.tickets(tenant, *WIDE)
    return {
        "tickets": [t.model_dump() for t in tickets],
        "events": [
            e.model_dump()
            for t in tickets
            for e in sorted(store.events(tenant, t.ticket_id), key=_event_order)
        ],
        "breaches": [b.model_dump() for b in store.breaches(tenant, *WIDE)],
        "pages": [p.model_dump() for p in sorted(store.pages(tenant, *WIDE), key=lambda p: p.key)],
    }


def expected(status: TicketStatus) -> dict[str, Any]:
    """The rows of the ticket's final status, as the backfill would write them."""
    record = build_record(status, load_policy(status.tenant))
    return {
        "tickets": [record.ticket.model_dump()],
        "events": [e.model_dump() for e in sorted(record.events, key=_event_order)],
        "breaches": [b.model_dump() for b in record.breaches],
        "pages": [p.model_dump() for p in sorted(record.pages, key=lambda p: p.key)],
    }
