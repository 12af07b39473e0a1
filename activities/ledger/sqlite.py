"""The send ledger in a SQLite file: the embedded default, shared by the workers of one host.

WAL mode lets several worker processes on the host read while one writes. Workers on different
hosts do not see each other's file: use the PostgreSQL ledger for them (SLAWATCH_LEDGER_URL).
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from activities.ledger import LEASE, InFlight
from slawatch.models import SendResult
from slawatch.sqlite import connection, create_schema, hold_open, immediate

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sends (
    key TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('sending', 'sent', 'rejected')),
    attempts INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    updated_at TEXT NOT NULL,
    lease_until REAL
)
"""


class SqliteLedger:
    """Records each idempotency key's send state in a SQLite file."""

    def __init__(self, path: Path, lease: timedelta = LEASE) -> None:
        self.path = path
        self._lease = lease.total_seconds()
        path.parent.mkdir(parents=True, exist_ok=True)
        # WAL lets several worker processes read while one writes. Files written before leases
        # existed lack the column; NULL reads as "expired".
        create_schema(path, [_SCHEMA], [("sends", "lease_until", "REAL")])
        # Held for the ledger's life: closing a per-operation connection skips the checkpoint.
        self._anchor = hold_open(path)

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return connection(self.path)

    def begin(self, key: str, channel: str) -> SendResult | None:
        now = time.time()
        # The write lock up front, so check-then-mark is atomic across processes.
        with self._connect() as db, immediate(db):
            row = db.execute(
                "SELECT state, result, lease_until FROM sends WHERE key = ?", (key,)
            ).fetchone()
            if row is not None and row[0] == "sent":
                stored = SendResult.model_validate_json(row[1])
                return stored.model_copy(update={"duplicate": True})
            if row is not None and row[0] == "sending" and (row[2] or 0) > now:
                raise InFlight(key)
            db.execute(
                "INSERT INTO sends (key, channel, state, attempts, updated_at, lease_until)"
                " VALUES (?, ?, 'sending', 1, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET state = 'sending',"
                " attempts = attempts + 1, updated_at = excluded.updated_at,"
                " lease_until = excluded.lease_until",
                (key, channel, _iso(now), now + self._lease),
            )
        return None

    def release(self, key: str) -> None:
        with self._connect() as db:
            db.execute(
                "UPDATE sends SET lease_until = NULL, updated_at = ?"
                " WHERE key = ? AND state = 'sending'",
                (_iso(time.time()), key),
            )

    def _finish(self, key: str, state: str, result: SendResult) -> None:
        with self._connect() as db:
            db.execute(
                "UPDATE sends SET state = ?, result = ?, updated_at = ?, lease_until = NULL"
                " WHERE key = ?",
                (state, result.model_dump_json(), _iso(time.time()), key),
            )

    def mark_sent(self, key: str, result: SendResult) -> None:
        self._finish(key, "sent", result)

    def mark_rejected(self, key: str, result: SendResult) -> None:
        self._finish(key, "rejected", result)

    def state(self, key: str) -> tuple[str, int] | None:
        with self._connect() as db:
            row = db.execute("SELECT state, attempts FROM sends WHERE key = ?", (key,)).fetchone()
        return None if row is None else (str(row[0]), int(row[1]))

    def close(self) -> None:
        """Every operation closes its own connection; only the one held open is left."""
        self._anchor.close()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()
