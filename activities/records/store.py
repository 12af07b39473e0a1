"""The SLA record store: SQLite (one file) or PostgreSQL, the same SQL and the same upserts.

psycopg 3 and plain SQL with versioned migrations (activities/records/migrations.py), like the
send ledger: four tables and a handful of statements need no ORM, psycopg is already how the
ledger reaches PostgreSQL, and `INSERT ... ON CONFLICT ... DO UPDATE ... WHERE` is the same
statement in both databases. Every write is an upsert on the row's natural key inside one
transaction per ticket, so writing a ticket again never doubles a row; rows carrying a `version`
change only when the incoming picture is at least as new as the stored one.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

from activities.ledger import redact, scrub
from activities.records.migrations import MIGRATIONS, statements
from activities.records.rows import BreachRow, EventRow, PageRow, Row, TicketRecord, TicketRow
from slawatch.sqlite import connection, hold_open, immediate, use_wal

R = TypeVar("R", bound=Row)

_KEYS: dict[type[Row], tuple[str, tuple[str, ...]]] = {
    TicketRow: ("sla_ticket", ("tenant", "ticket_id")),
    EventRow: ("sla_event", ("tenant", "ticket_id", "event", "at", "n")),
    BreachRow: ("sla_breach", ("tenant", "ticket_id", "breach_id")),
    PageRow: ("sla_page", ("tenant", "ticket_id", "key", "sent_at")),
}
_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS sla_schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
)
"""
# Two processes migrating one PostgreSQL database at once queue on this (arbitrary) lock.
_PG_LOCK = "SELECT pg_advisory_xact_lock(7415926536)"


def _upsert(kind: type[Row]) -> str:
    table, key = _KEYS[kind]
    columns = list(kind.model_fields)
    values = ", ".join(f":{c}" for c in columns)
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})"
    head += f" ON CONFLICT ({', '.join(key)})"
    changing = [c for c in columns if c not in key]
    if "version" not in columns:
        return f"{head} DO NOTHING"  # a milestone, once recorded, is what it was
    updates = ", ".join(f"{c} = excluded.{c}" for c in changing)
    return f"{head} DO UPDATE SET {updates} WHERE {table}.version <= excluded.version"


_PERIOD = "t.tenant = :tenant AND t.opened_at >= :start AND t.opened_at < :end"
_JOINED = "JOIN sla_ticket t ON t.tenant = x.tenant AND t.ticket_id = x.ticket_id"


class RecordStore:
    """Writes tickets' SLA records and reads a tenant's period back for reports."""

    def __init__(self, url: str | Path) -> None:
        self.where = str(url)
        self._pool: Any = None
        self._anchor: sqlite3.Connection | None = None
        if isinstance(url, Path):
            self.path: Path | None = url
            url.parent.mkdir(parents=True, exist_ok=True)
            with self._sqlite() as db:
                use_wal(db)
            # Held for the store's life: closing a per-write connection skips the checkpoint.
            self._anchor = hold_open(url)
        else:
            self.path = None
            self.where = redact(url)
            # Imported only here: a SQLite deployment never loads psycopg and libpq.
            import psycopg

            # (the same reason)
            from psycopg_pool import ConnectionPool

            options: dict[str, Any] = {"connect_timeout": 5, "application_name": "slawatch-records"}
            try:
                psycopg.connect(url, **options).close()  # a wrong URL fails here, named
            except psycopg.Error as exc:
                raise RuntimeError(f"SLA records at {self.where}: {scrub(str(exc), url)}") from None
            self._pool = ConnectionPool(
                url, min_size=1, max_size=4, kwargs=options, timeout=10, open=False
            )
            self._pool.open()
        self.migrate()

    # -- connections --------------------------------------------------------------------------

    def _sqlite(self) -> AbstractContextManager[sqlite3.Connection]:
        assert self.path is not None
        return connection(self.path)

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        """A cursor-like object with execute(sql, params) inside one transaction."""
        if self.path is not None:
            with self._sqlite() as db, immediate(db):  # the write lock up front
                yield _Sqlite(db)
        else:
            with self._pool.connection() as db, db.transaction():
                yield _Postgres(db)

    def migrate(self) -> list[int]:
        """Apply the migrations this database lacks; returns the versions applied."""
        applied: list[int] = []
        with self._transaction() as db:
            if self.path is None:
                db.execute(_PG_LOCK, {})
            db.execute(_MIGRATIONS_TABLE, {})
            done = {int(r[0]) for r in db.execute("SELECT version FROM sla_schema_migrations", {})}
            for migration in MIGRATIONS:
                if migration.version in done:
                    continue
                sql = migration.sqlite if self.path is not None else migration.postgres
                for statement in statements(sql):
                    db.execute(statement, {})
                db.execute(
                    "INSERT INTO sla_schema_migrations (version, name, applied_at)"
                    " VALUES (:version, :name, :at)",
                    {
                        "version": migration.version,
                        "name": migration.name,
                        "at": datetime.now(UTC).isoformat(),
                    },
                )
                applied.append(migration.version)
        return applied

    def schema_version(self) -> int:
        with self._transaction() as db:
            rows = db.execute("SELECT max(version) FROM sla_schema_migrations", {})
        return int(rows[0][0] or 0)

    # -- writing ------------------------------------------------------------------------------

    def write(self, record: TicketRecord, policy: tuple[str, str] | None = None) -> None:
        """Upsert every row of one ticket in one transaction (idempotent); with `policy`, a
        (key, body) pair, keep that snapshot too if the store does not hold its key yet."""
        rows: list[Row] = [record.ticket, *record.events, *record.breaches, *record.pages]
        with self._transaction() as db:
            if policy is not None:
                key, body = policy
                db.execute(
                    "INSERT INTO sla_policy (policy_key, tenant, body)"
                    " VALUES (:key, :tenant, :body) ON CONFLICT (policy_key) DO NOTHING",
                    {"key": key, "tenant": record.ticket.policy_tenant, "body": body},
                )
            for row in rows:
                db.execute(_upsert(type(row)), row.model_dump())

    def policy(self, key: str) -> str | None:
        """The policy snapshot stored under `key` (JSON), or None."""
        with self._transaction() as db:
            rows = db.execute("SELECT body FROM sla_policy WHERE policy_key = :key", {"key": key})
        return str(rows[0][0]) if rows else None

    # -- reading ------------------------------------------------------------------------------

    def _select(self, kind: type[R], sql: str, params: dict[str, Any]) -> list[R]:
        columns = list(kind.model_fields)
        with self._transaction() as db:
            rows = db.execute(sql.format(cols=", ".join(f"x.{c}" for c in columns)), params)
        return [kind.model_validate(dict(zip(columns, r, strict=True))) for r in rows]

    def tickets(self, tenant: str, start: datetime, end: datetime) -> list[TicketRow]:
        """The tenant's tickets opened in [start, end)."""
        params = {"tenant": tenant, "start": start, "end": end}
        sql = "SELECT {cols} FROM sla_ticket x WHERE x.tenant = :tenant"
        sql += " AND x.opened_at >= :start AND x.opened_at < :end ORDER BY x.opened_at"
        return self._select(TicketRow, sql, params)

    def breaches(self, tenant: str, start: datetime, end: datetime) -> list[BreachRow]:
        """Breaches of the tenant's tickets opened in [start, end), withdrawn ones too."""
        sql = f"SELECT {{cols}} FROM sla_breach x {_JOINED} WHERE {_PERIOD} ORDER BY x.breached_at"
        return self._select(BreachRow, sql, {"tenant": tenant, "start": start, "end": end})

    def pages(self, tenant: str, start: datetime, end: datetime) -> list[PageRow]:
        sql = f"SELECT {{cols}} FROM sla_page x {_JOINED} WHERE {_PERIOD} ORDER BY x.sent_at"
        return self._select(PageRow, sql, {"tenant": tenant, "start": start, "end": end})

    def events(self, tenant: str, ticket_id: str) -> list[EventRow]:
        sql = "SELECT {cols} FROM sla_event x WHERE x.tenant = :tenant"
        sql += " AND x.ticket_id = :ticket_id ORDER BY x.at, x.n"
        return self._select(EventRow, sql, {"tenant": tenant, "ticket_id": ticket_id})

    def counts(self) -> dict[str, int]:
        """Rows per table: what a second backfill must leave unchanged."""
        with self._transaction() as db:
            return {
                table: int(db.execute(f"SELECT count(*) FROM {table}", {})[0][0])
                for table, _ in _KEYS.values()
            }

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        if self._anchor is not None:
            self._anchor.close()

    def __repr__(self) -> str:
        return f"RecordStore({self.where!r})"


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        # Fixed width UTC text sorts and compares as instants do.
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


class _Sqlite:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def execute(self, sql: str, params: dict[str, Any]) -> Sequence[Sequence[Any]]:
        converted = {k: _sqlite_value(v) for k, v in params.items()}
        return self.db.execute(sql, converted).fetchall()


_NAMED = re.compile(r"(?<![:\w]):([a-z_]+)")


class _Postgres:
    def __init__(self, db: Any) -> None:
        self.db = db

    def execute(self, sql: str, params: dict[str, Any]) -> Sequence[Sequence[Any]]:
        cursor = self.db.execute(_NAMED.sub(r"%(\1)s", sql), params or None)
        return cursor.fetchall() if cursor.description is not None else []
