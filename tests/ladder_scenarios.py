"""The Prokuria people and the night that several ladder tests start from."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from temporalio.client import WorkflowHandle

from tests.harness import Harness

BERLIN = ZoneInfo("Europe/Berlin")


PRK_LINE, ANA, BOGDAN, CARMEN = "+40724011885", "+40721555101", "+40722555102", "+40723555103"


# 03:00 on Tuesday 8 December 2026: the night, when only the 24x7 critical class pages.
NIGHT = datetime(2026, 12, 8, 3, 0, tzinfo=BERLIN)


async def open_critical(h: Harness, ticket_id: str) -> tuple[WorkflowHandle[Any, Any], datetime]:
    """A Prokuria critical ticket opened at NIGHT (the test server's clock moved there)."""
    await h.advance_to(NIGHT)
    return await h.open("prokuria", ticket_id, severity="critical", opened_at=NIGHT), NIGHT
