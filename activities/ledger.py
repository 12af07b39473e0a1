"""Idempotency ledger: one row per notification key, so a retried step is not sent twice.

States: "sending" (a request may be on its way), "sent" (the vendor accepted it, result stored)
and "rejected" (the vendor refused it for good). Only "sent" stops a later attempt. A key left
in "sending" means a worker crashed or a request failed mid-flight, and we cannot know whether
the vendor got it; we send again, because a missed page is worse than a duplicate one.

The file is SQLite in WAL mode under settings.data_dir, shared by every worker process on the
host. Workers on different hosts need the same data_dir (one shared volume) to share the ledger.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from slawatch.models import SendResult

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sends (
    key TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('sending', 'sent', 'rejected')),
    attempts INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    updated_at TEXT NOT NULL
)
"""


class Ledger:
    """Records each idempotency key's send state in a SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            # WAL lets several worker processes read while one writes; it persists in the file.
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> Ledger:
        return cls(data_dir / "notify-ledger.sqlite3")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # A connection per operation: calls come from asyncio.to_thread on varying threads.
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            db.execute("PRAGMA synchronous=NORMAL")
            yield db
        finally:
            db.close()

    def begin(self, key: str, channel: str) -> SendResult | None:
        """The stored result if `key` was already sent; otherwise mark it sending and None."""
        now = datetime.now(UTC).isoformat()
        with self._connect() as db:
            # IMMEDIATE takes the write lock up front so check-then-mark is atomic across processes.
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT state, result FROM sends WHERE key = ?", (key,)).fetchone()
                if row is not None and row[0] == "sent":
                    db.execute("COMMIT")
                    stored = SendResult.model_validate_json(row[1])
                    return stored.model_copy(update={"duplicate": True})
                db.execute(
                    "INSERT INTO sends (key, channel, state, attempts, updated_at)"
                    " VALUES (?, ?, 'sending', 1, ?)"
                    " ON CONFLICT (key) DO UPDATE SET state = 'sending',"
                    " attempts = attempts + 1, updated_at = excluded.updated_at",
                    (key, channel, now),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return None

    def _finish(self, key: str, state: str, result: SendResult) -> None:
        now = datetime.now(UTC).isoformat()
        with self._connect() as db:
            db.execute(
                "UPDATE sends SET state = ?, result = ?, updated_at = ? WHERE key = ?",
                (state, result.model_dump_json(), now, key),
            )

    def mark_sent(self, key: str, result: SendResult) -> None:
        """Record that the vendor accepted `key`; later attempts return `result`."""
        self._finish(key, "sent", result)

    def mark_rejected(self, key: str, result: SendResult) -> None:
        """Record a permanent refusal (kept for audit; a new attempt may still try again)."""
        self._finish(key, "rejected", result)

    def state(self, key: str) -> tuple[str, int] | None:
        """(state, attempts) for `key`, or None if it was never seen."""
        with self._connect() as db:
            row = db.execute("SELECT state, attempts FROM sends WHERE key = ?", (key,)).fetchone()
        return None if row is None else (str(row[0]), int(row[1]))
