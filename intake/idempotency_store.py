"""Where Idempotency-Keys and their first answers are kept (intake/idempotency.py uses them).

The same database as the webhook replay guard (intake/durable.py): SQLite in SLAWATCH_DATA_DIR
on one host, PostgreSQL at SLAWATCH_LEDGER_URL for every replica. Calls are blocking: the
middleware runs them in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from intake.durable import PostgresStore, SqliteStore
from slawatch.settings import Settings
from slawatch.sqlite import immediate

KEY_TTL = timedelta(hours=48)  # the issue asks for at least 24 h; retries come within minutes
# A claim whose request never finished (the API process died) is taken over after this: longer
# than any request may run (Temporal RPCs time out after 10 s, status waits ~5 s).
CLAIM_LEASE = timedelta(seconds=60)


@dataclass(frozen=True)
class Stored:
    """The first answer to a key."""

    status: int
    body: bytes
    content_type: str


@dataclass(frozen=True)
class Claim:
    """What a claim found: "new" (go ahead), "replay" (stored), "mismatch" or "in_flight"."""

    kind: str
    stored: Stored | None = None


class IdempotencyStore(Protocol):
    def claim(self, scope: str, key: str, fingerprint: str, now: datetime | None = None) -> Claim:
        """Take `key` for this request, or say why not (see Claim)."""
        ...

    def complete(self, scope: str, key: str, answer: Stored, now: datetime | None = None) -> None:
        """Keep the answer of the request that claimed `key`."""
        ...

    def release(self, scope: str, key: str) -> None:
        """The request that claimed `key` failed: a retry may claim it again."""
        ...


def open_idempotency_store(settings: Settings) -> IdempotencyStore:
    """The same database as the webhook store: PostgreSQL when SLAWATCH_LEDGER_URL is set."""
    if settings.ledger_url is None:
        return SqliteIdempotencyStore.in_data_dir(settings.data_dir)
    return PostgresIdempotencyStore(settings.ledger_url.get_secret_value())


def _decide(row: tuple[Any, ...] | None, fingerprint: str, now: float) -> Claim | None:
    """The claim's outcome from the key's row (fingerprint, status, body, type, at); None: take."""
    if row is None:
        return None
    fp, status, body, content_type, at = row
    if status is None:
        if now - float(at) > CLAIM_LEASE.total_seconds():
            return None  # its request died with its process: take the key over
        return Claim("in_flight") if fp == fingerprint else Claim("mismatch")
    if fp != fingerprint:
        return Claim("mismatch")
    return Claim("replay", Stored(int(status), bytes(body), str(content_type)))


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS idempotency (scope TEXT NOT NULL, key TEXT NOT NULL,"
    " fingerprint TEXT NOT NULL, status INTEGER, body BLOB, content_type TEXT,"
    " at REAL NOT NULL, PRIMARY KEY (scope, key))",
    "CREATE INDEX IF NOT EXISTS idempotency_at ON idempotency (at)",
)


class SqliteIdempotencyStore(SqliteStore):
    SCHEMA = _SCHEMA

    def claim(self, scope: str, key: str, fingerprint: str, now: datetime | None = None) -> Claim:
        at = (now or datetime.now(UTC)).timestamp()
        with self._connect() as db, immediate(db):  # read and write the key under one lock
            db.execute("DELETE FROM idempotency WHERE at < ?", (at - KEY_TTL.total_seconds(),))
            row = db.execute(
                "SELECT fingerprint, status, body, content_type, at FROM idempotency"
                " WHERE scope = ? AND key = ?",
                (scope, key),
            ).fetchone()
            found = _decide(row, fingerprint, at)
            if found is None:
                db.execute(
                    "INSERT OR REPLACE INTO idempotency (scope, key, fingerprint, at)"
                    " VALUES (?, ?, ?, ?)",
                    (scope, key, fingerprint, at),
                )
        return found or Claim("new")

    def complete(self, scope: str, key: str, answer: Stored, now: datetime | None = None) -> None:
        at = (now or datetime.now(UTC)).timestamp()
        with self._connect() as db:
            db.execute(
                "UPDATE idempotency SET status = ?, body = ?, content_type = ?, at = ?"
                " WHERE scope = ? AND key = ?",
                (answer.status, answer.body, answer.content_type, at, scope, key),
            )

    def release(self, scope: str, key: str) -> None:
        with self._connect() as db:
            db.execute(
                "DELETE FROM idempotency WHERE scope = ? AND key = ? AND status IS NULL",
                (scope, key),
            )


_PG_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS slawatch_idempotency (scope text NOT NULL, key text NOT NULL,"
    " fingerprint text NOT NULL, status integer, body bytea, content_type text,"
    " at timestamptz NOT NULL, PRIMARY KEY (scope, key))",
    "CREATE INDEX IF NOT EXISTS slawatch_idempotency_at ON slawatch_idempotency (at)",
)


class PostgresIdempotencyStore(PostgresStore):
    SCHEMA = _PG_SCHEMA
    NAME = "slawatch-idempotency"
    WHAT = "idempotency store"

    def claim(self, scope: str, key: str, fingerprint: str, now: datetime | None = None) -> Claim:
        at = now or datetime.now(UTC)
        with self._pool.connection() as db:  # one transaction, committed on exit
            db.execute("DELETE FROM slawatch_idempotency WHERE at < %s", (at - KEY_TTL,))
            taken = db.execute(
                "INSERT INTO slawatch_idempotency (scope, key, fingerprint, at)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (scope, key) DO NOTHING",
                (scope, key, fingerprint, at),
            )
            if taken.rowcount == 1:
                return Claim("new")
            row = db.execute(
                "SELECT fingerprint, status, body, content_type, extract(epoch FROM at)"
                " FROM slawatch_idempotency WHERE scope = %s AND key = %s FOR UPDATE",
                (scope, key),
            ).fetchone()
            found = _decide(row, fingerprint, at.timestamp())
            if found is None:
                db.execute(
                    "UPDATE slawatch_idempotency SET fingerprint = %s, status = NULL,"
                    " body = NULL, content_type = NULL, at = %s WHERE scope = %s AND key = %s",
                    (fingerprint, at, scope, key),
                )
            return found or Claim("new")

    def complete(self, scope: str, key: str, answer: Stored, now: datetime | None = None) -> None:
        self._run(
            "UPDATE slawatch_idempotency SET status = %s, body = %s, content_type = %s, at = %s"
            " WHERE scope = %s AND key = %s",
            (answer.status, answer.body, answer.content_type, now or datetime.now(UTC), scope, key),
        )

    def release(self, scope: str, key: str) -> None:
        self._run(
            "DELETE FROM slawatch_idempotency WHERE scope = %s AND key = %s AND status IS NULL",
            (scope, key),
        )
