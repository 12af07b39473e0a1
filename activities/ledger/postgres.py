"""The send ledger in PostgreSQL: one table shared by every worker on every host.

psycopg 3 with its connection pool, plain SQL: one table and five statements need no ORM, and
the schema is created idempotently at start like the SQLite file's. Lease times come from the
database server's clock, never a worker's, so hosts with skewed clocks still agree.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from activities.ledger import LEASE, InFlight, redact, scrub
from slawatch.models import SendResult

TABLE = "slawatch_sends"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    key text PRIMARY KEY,
    channel text NOT NULL,
    state text NOT NULL CHECK (state IN ('sending', 'sent', 'rejected')),
    attempts integer NOT NULL DEFAULT 0,
    result jsonb,
    updated_at timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz
)
"""
# Two workers starting at once would race CREATE TABLE IF NOT EXISTS (it is not atomic in
# PostgreSQL): a transaction-scoped advisory lock serialises them. The number is arbitrary.
_SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(7415926535)"

# One statement claims the key unless it is sent or another attempt's lease is live (only a
# "sending" row has a lease: released, finished and pre-lease rows hold NULL). On a
# conflict PostgreSQL locks the existing row even when the WHERE leaves it unchanged, so the
# SELECT that follows in the same transaction reads a row nobody can change underneath.
_CLAIM = f"""
INSERT INTO {TABLE} AS s (key, channel, state, attempts, updated_at, lease_until)
VALUES (%(key)s, %(channel)s, 'sending', 1, now(), now() + %(lease)s)
ON CONFLICT (key) DO UPDATE
SET state = 'sending', attempts = s.attempts + 1, updated_at = excluded.updated_at,
    lease_until = excluded.lease_until
WHERE s.state <> 'sent' AND (s.lease_until IS NULL OR s.lease_until <= now())
RETURNING s.attempts
"""


class PostgresLedger:
    """Records each idempotency key's send state in a PostgreSQL table."""

    def __init__(self, url: str, lease: timedelta = LEASE, max_connections: int = 4) -> None:
        self._lease = lease
        self.where = redact(url)
        # connect_timeout bounds each attempt so a dead database fails the activity (Temporal
        # retries it) well inside its 30 s start_to_close_timeout.
        options: dict[str, Any] = {"connect_timeout": 5, "application_name": "slawatch-ledger"}
        try:
            # A direct first connection: a wrong URL or password stops the worker at start
            # with libpq's reason (which never contains the password), not at the first page.
            with psycopg.connect(url, **options) as db:
                db.execute(_SCHEMA_LOCK)
                db.execute(_SCHEMA)
        except psycopg.Error as exc:
            raise RuntimeError(f"send ledger at {self.where}: {scrub(str(exc), url)}") from None
        # Calls come from asyncio.to_thread on varying threads; the pool is thread-safe and
        # replaces connections the server dropped (check on checkout).
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            kwargs=options,
            timeout=10,
            check=ConnectionPool.check_connection,
            name="slawatch-ledger",
            open=False,
        )
        self._pool.open()

    def begin(self, key: str, channel: str) -> SendResult | None:
        with self._pool.connection() as db, db.transaction():
            claimed = db.execute(
                _CLAIM, {"key": key, "channel": channel, "lease": self._lease}
            ).fetchone()
            if claimed is not None:
                return None
            row = db.execute(f"SELECT state, result FROM {TABLE} WHERE key = %s", (key,)).fetchone()
        if row is not None and row[0] == "sent":
            stored = SendResult.model_validate(row[1])
            return stored.model_copy(update={"duplicate": True})
        raise InFlight(key)

    def release(self, key: str) -> None:
        with self._pool.connection() as db:
            db.execute(
                f"UPDATE {TABLE} SET lease_until = NULL, updated_at = now()"
                " WHERE key = %s AND state = 'sending'",
                (key,),
            )

    def _finish(self, key: str, state: str, result: SendResult) -> None:
        with self._pool.connection() as db:
            db.execute(
                f"UPDATE {TABLE} SET state = %s, result = %s, updated_at = now(),"
                " lease_until = NULL WHERE key = %s",
                (state, Jsonb(result.model_dump(mode="json")), key),
            )

    def mark_sent(self, key: str, result: SendResult) -> None:
        self._finish(key, "sent", result)

    def mark_rejected(self, key: str, result: SendResult) -> None:
        self._finish(key, "rejected", result)

    def state(self, key: str) -> tuple[str, int] | None:
        with self._pool.connection() as db:
            row = db.execute(
                f"SELECT state, attempts FROM {TABLE} WHERE key = %s", (key,)
            ).fetchone()
        return None if row is None else (str(row[0]), int(row[1]))

    def close(self) -> None:
        self._pool.close()

    def __repr__(self) -> str:
        return f"PostgresLedger({self.where!r})"
