"""What the Twilio webhooks must remember across requests and API replicas.

- Every MessageSid/CallSid step already handled: a captured, validly signed request sent again
  later is refused (Twilio signs the URL and body, not the time, so a signature never expires).
  Rows expire after REPLAY_TTL, well past the age at which Twilio itself would still deliver.
- Wrong PINs per responder: after PIN_MAX_FAILURES within PIN_WINDOW the responder's PIN is
  locked until the window has passed, whatever number or call the attempts came from.

Two backends with one interface (intake/durable.py): a SQLite file under settings.data_dir
(every API process on the host shares it), or, when SLAWATCH_LEDGER_URL names a PostgreSQL
database, two tables there that every API replica on every host shares. Calls are blocking;
the webhooks run them in a thread.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from intake.durable import PostgresStore, SqliteStore
from slawatch.settings import Settings

REPLAY_TTL = timedelta(days=2)
PIN_MAX_FAILURES = 5
PIN_WINDOW = timedelta(minutes=15)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS seen (sid TEXT PRIMARY KEY, at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS seen_at ON seen (at)",
    "CREATE TABLE IF NOT EXISTS pin_failures (who TEXT NOT NULL, at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS pin_failures_who ON pin_failures (who, at)",
)


class WebhookStore(Protocol):
    """What the webhooks remember: seen SIDs (with a TTL) and PIN failures."""

    def first_sighting(self, sid: str, now: datetime | None = None) -> bool: ...

    def forget(self, sid: str) -> None: ...

    def pin_locked(self, who: str, now: datetime | None = None) -> bool: ...

    def pin_failed(self, who: str, now: datetime | None = None) -> None: ...

    def pin_succeeded(self, who: str) -> None: ...


def open_webhook_store(settings: Settings) -> WebhookStore:
    """PostgreSQL when SLAWATCH_LEDGER_URL is set (shared by every replica), else SQLite."""
    if settings.ledger_url is None:
        return SqliteWebhookStore.in_data_dir(settings.data_dir)
    return PostgresWebhookStore(settings.ledger_url.get_secret_value())


class SqliteWebhookStore(SqliteStore):
    """Seen webhook SIDs (with a TTL) and PIN failures, in one SQLite file."""

    SCHEMA = _SCHEMA

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


_PG_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS slawatch_webhooks_seen"
    " (sid text PRIMARY KEY, at timestamptz NOT NULL)",
    "CREATE INDEX IF NOT EXISTS slawatch_webhooks_seen_at ON slawatch_webhooks_seen (at)",
    "CREATE TABLE IF NOT EXISTS slawatch_pin_failures (who text NOT NULL, at timestamptz NOT NULL)",
    "CREATE INDEX IF NOT EXISTS slawatch_pin_failures_who ON slawatch_pin_failures (who, at)",
)


class PostgresWebhookStore(PostgresStore):
    """The same, in PostgreSQL: every API replica on every host sees every SID."""

    SCHEMA = _PG_SCHEMA
    NAME = "slawatch-webhooks"
    WHAT = "webhook store"

    def first_sighting(self, sid: str, now: datetime | None = None) -> bool:
        at = now or datetime.now(UTC)
        with self._pool.connection() as db:
            db.execute("DELETE FROM slawatch_webhooks_seen WHERE at < %s", (at - REPLAY_TTL,))
            cursor = db.execute(
                "INSERT INTO slawatch_webhooks_seen (sid, at) VALUES (%s, %s)"
                " ON CONFLICT (sid) DO NOTHING",
                (sid, at),
            )
            return cursor.rowcount == 1

    def forget(self, sid: str) -> None:
        self._run("DELETE FROM slawatch_webhooks_seen WHERE sid = %s", (sid,))

    def pin_locked(self, who: str, now: datetime | None = None) -> bool:
        since = (now or datetime.now(UTC)) - PIN_WINDOW
        with self._pool.connection() as db:
            row = db.execute(
                "SELECT count(*) FROM slawatch_pin_failures WHERE who = %s AND at >= %s",
                (who, since),
            ).fetchone()
        return row is not None and int(row[0]) >= PIN_MAX_FAILURES

    def pin_failed(self, who: str, now: datetime | None = None) -> None:
        at = now or datetime.now(UTC)
        with self._pool.connection() as db:
            db.execute("DELETE FROM slawatch_pin_failures WHERE at < %s", (at - PIN_WINDOW,))
            db.execute("INSERT INTO slawatch_pin_failures (who, at) VALUES (%s, %s)", (who, at))

    def pin_succeeded(self, who: str) -> None:
        self._run("DELETE FROM slawatch_pin_failures WHERE who = %s", (who,))
