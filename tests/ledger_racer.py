"""One process's side of test_ledger's cross-process race (kept free of pytest imports)."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from activities.ledger import InFlight, SendLedger
from activities.ledger.postgres import PostgresLedger
from activities.ledger.sqlite import SqliteLedger


def race(backend: str, where: str, start_at: float) -> str:
    """Open the ledger, wait for the common instant, try to claim the key: what happened."""
    ledger: SendLedger
    if backend == "sqlite":
        ledger = SqliteLedger(Path(where), lease=timedelta(seconds=20))
    else:
        ledger = PostgresLedger(where, lease=timedelta(seconds=20))
    time.sleep(max(0.0, start_at - time.time()))
    try:
        return "proceed" if ledger.begin("race", "voice") is None else "sent"
    except InFlight:
        return "in_flight"
    finally:
        ledger.close()
