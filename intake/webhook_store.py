"""What the Twilio webhooks must remember across requests and API replicas.

- Every MessageSid/CallSid step already handled: a captured, validly signed request sent again
  later is refused (Twilio signs the URL and body, not the time, so a signature never expires).
  Rows expire after REPLAY_TTL, well past the age at which Twilio itself would still deliver.
- Wrong PINs per responder: after PIN_MAX_FAILURES within PIN_WINDOW the responder's PIN is
  locked until the window has passed, whatever number or call the attempts came from.

The store is a SQLite file in WAL mode under settings.data_dir: every API process on the host
shares it (replicas on several hosts share it through one volume, like the send ledger).
Calls are blocking; the webhooks run them in a thread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPLAY_TTL = timedelta(days=2)
PIN_MAX_FAILURES = 5
PIN_WINDOW = timedelta(minutes=15)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS seen (sid TEXT PRIMARY KEY, at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS seen_at ON seen (at)",
    "CREATE TABLE IF NOT EXISTS pin_failures (who TEXT NOT NULL, at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS pin_failures_who ON pin_failures (who, at)",
)


class WebhookStore:
    """Seen webhook SIDs (with a TTL) and PIN failures, in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            for statement in _SCHEMA:
                db.execute(statement)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> WebhookStore:
        return cls(data_dir / "webhooks.sqlite3")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # A connection per call: calls come from asyncio.to_thread on varying threads.
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            db.execute("PRAGMA synchronous=NORMAL")
            yield db
        finally:
            db.close()

    def first_sighting(self, sid: str, now: datetime | None = None) -> bool:
        """Record `sid`; False when it was recorded before (a replay or a duplicate)."""
        at = (now or datetime.now(UTC)).timestamp()
        with self._connect() as db:
            db.execute("DELETE FROM seen WHERE at < ?", (at - REPLAY_TTL.total_seconds(),))
            cursor = db.execute("INSERT OR IGNORE INTO seen (sid, at) VALUES (?, ?)", (sid, at))
            return cursor.rowcount == 1

    def forget(self, sid: str) -> None:
        """Handling `sid` failed on our side (Temporal down): let Twilio's retry through."""
        with self._connect() as db:
            db.execute("DELETE FROM seen WHERE sid = ?", (sid,))

    def pin_locked(self, who: str, now: datetime | None = None) -> bool:
        since = (now or datetime.now(UTC)) - PIN_WINDOW
        with self._connect() as db:
            (failures,) = db.execute(
                "SELECT count(*) FROM pin_failures WHERE who = ? AND at >= ?",
                (who, since.timestamp()),
            ).fetchone()
        return int(failures) >= PIN_MAX_FAILURES

    def pin_failed(self, who: str, now: datetime | None = None) -> None:
        at = (now or datetime.now(UTC)).timestamp()
        with self._connect() as db:
            db.execute("DELETE FROM pin_failures WHERE at < ?", (at - PIN_WINDOW.total_seconds(),))
            db.execute("INSERT INTO pin_failures (who, at) VALUES (?, ?)", (who, at))

    def pin_succeeded(self, who: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM pin_failures WHERE who = ?", (who,))
