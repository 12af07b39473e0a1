"""On-call overrides, durable: who covers for whom, when (created through the API or the CLI).

Stored where slawatch already keeps what must survive every process: a SQLite file in WAL mode
under settings.data_dir (the API, the workers and the CLI of one host share it), or, when
SLAWATCH_LEDGER_URL names a PostgreSQL database, a table there shared by every host. Not in
Temporal: an override is plain data read at page time by an activity, with no timers or
retries of its own, and a table gives the API listing, deletion and overlap queries directly.

Escalation steps read them through `resolve_roles` (activities/oncall.py), which applies them
with policies/oncall.py `who`. `read_overrides` returns only the overrides in force, for a
caller that resolves itself; the workers do not register it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pydantic import AwareDatetime, BaseModel
from temporalio import activity

from activities.durable import PostgresStore, SqliteStore
from policies.oncall import Override
from slawatch.settings import Settings

SQLITE_FILE = "oncall.sqlite3"
_SECOND = timedelta(seconds=1)
_COLUMNS = "id, tenant, role, person, replaces, starts_at, ends_at, created_at, created_by"


def new_override_id() -> str:
    return f"ovr_{uuid.uuid4().hex[:12]}"


class OverrideStore(Protocol):
    """Blocking calls (the API and activities run them in a thread)."""

    def add(self, override: Override) -> None: ...

    def delete(self, tenant: str, override_id: str) -> bool:
        """Remove an override of `tenant`; False when it has no such override."""
        ...

    def overlapping(
        self, tenant: str, role: str | None, start: datetime, end: datetime | None = None
    ) -> list[Override]:
        """Overrides of `tenant` (and `role`) that end after `start` and begin before `end`."""
        ...

    def close(self) -> None: ...


def open_override_store(settings: Settings) -> OverrideStore:
    """PostgreSQL when SLAWATCH_LEDGER_URL is set (shared by every host), else SQLite."""
    if settings.ledger_url is None:
        return SqliteOverrideStore.in_data_dir(settings.data_dir)
    return PostgresOverrideStore(settings.ledger_url.get_secret_value())


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _epoch(at: datetime) -> int:
    # Whole microseconds: exact, where a float timestamp may round the last digit away.
    return (at - _EPOCH) // _MICROSECOND


def _values(o: Override, instant: Callable[[datetime], Any]) -> tuple[Any, ...]:
    times = (instant(o.starts_at), instant(o.ends_at), instant(o.created_at))
    return (o.id, o.tenant, o.role, o.person, o.replaces, *times, o.created_by)


def _row(row: tuple[Any, ...]) -> Override:
    def instant(value: Any) -> datetime:
        if isinstance(value, datetime):
            return value.astimezone(UTC)
        return _EPOCH + int(value) * _MICROSECOND

    return Override(
        id=row[0],
        tenant=row[1],
        role=row[2],
        person=row[3],
        replaces=row[4],
        starts_at=instant(row[5]),
        ends_at=instant(row[6]),
        created_at=instant(row[7]),
        created_by=row[8],
    )


class SqliteOverrideStore(SqliteStore):
    """Overrides in one SQLite file, shared by the processes of one host."""

    FILE = SQLITE_FILE
    # Instants are whole microseconds since 1970-01-01 UTC.
    SCHEMA = (
        "CREATE TABLE IF NOT EXISTS overrides (id TEXT PRIMARY KEY, tenant TEXT NOT NULL,"
        " role TEXT NOT NULL, person TEXT NOT NULL, replaces TEXT,"
        " starts_at INTEGER NOT NULL, ends_at INTEGER NOT NULL,"
        " created_at INTEGER NOT NULL,"
        " created_by TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS overrides_by_role ON overrides (tenant, role)",
    )

    def add(self, override: Override) -> None:
        with self._connect() as db:
            db.execute(
                f"INSERT INTO overrides ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                _values(override, _epoch),
            )

    def delete(self, tenant: str, override_id: str) -> bool:
        with self._connect() as db:
            cursor = db.execute(
                "DELETE FROM overrides WHERE tenant = ? AND id = ?", (tenant, override_id)
            )
            return cursor.rowcount == 1

    def overlapping(
        self, tenant: str, role: str | None, start: datetime, end: datetime | None = None
    ) -> list[Override]:
        sql = f"SELECT {_COLUMNS} FROM overrides WHERE tenant = ? AND ends_at > ?"
        args: list[Any] = [tenant, _epoch(start)]
        if role is not None:
            sql, args = sql + " AND role = ?", [*args, role]
        if end is not None:
            sql, args = sql + " AND starts_at < ?", [*args, _epoch(end)]
        with self._connect() as db:
            rows = db.execute(sql + " ORDER BY starts_at, created_at, id", args).fetchall()
        return [_row(r) for r in rows]

    def close(self) -> None:
        """Every operation closes its own connection; only the one held open is left."""
        self._anchor.close()


_PG_TABLE = "slawatch_oncall_overrides"
_PG_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {_PG_TABLE} (id text PRIMARY KEY, tenant text NOT NULL,"
    " role text NOT NULL, person text NOT NULL, replaces text, starts_at timestamptz NOT NULL,"
    " ends_at timestamptz NOT NULL, created_at timestamptz NOT NULL, created_by text NOT NULL)",
    f"CREATE INDEX IF NOT EXISTS {_PG_TABLE}_by_role ON {_PG_TABLE} (tenant, role)",
)


class PostgresOverrideStore(PostgresStore):
    """The same table in PostgreSQL: every API replica and worker on every host sees it."""

    SCHEMA = _PG_SCHEMA
    NAME = "slawatch-oncall"
    WHAT = "override store"
    LOCK = 7415926537  # its own: processes starting at once would race CREATE TABLE

    def add(self, override: Override) -> None:
        with self._pool.connection() as db:
            db.execute(
                f"INSERT INTO {_PG_TABLE} ({_COLUMNS}) VALUES ({', '.join(['%s'] * 9)})",
                _values(override, lambda at: at),
            )

    def delete(self, tenant: str, override_id: str) -> bool:
        with self._pool.connection() as db:
            cursor = db.execute(
                f"DELETE FROM {_PG_TABLE} WHERE tenant = %s AND id = %s", (tenant, override_id)
            )
            return cursor.rowcount == 1

    def overlapping(
        self, tenant: str, role: str | None, start: datetime, end: datetime | None = None
    ) -> list[Override]:
        sql = f"SELECT {_COLUMNS} FROM {_PG_TABLE} WHERE tenant = %s AND ends_at > %s"
        args: list[Any] = [tenant, start]
        if role is not None:
            sql, args = sql + " AND role = %s", [*args, role]
        if end is not None:
            sql, args = sql + " AND starts_at < %s", [*args, end]
        with self._pool.connection() as db:
            rows = db.execute(sql + " ORDER BY starts_at, created_at, id", args).fetchall()
        return [_row(tuple(r)) for r in rows]

    def close(self) -> None:
        self._pool.close()


class ReadOverridesInput(BaseModel):
    tenant: str
    role: str
    at: AwareDatetime


class ReadOverridesResult(BaseModel):
    overrides: list[Override]


class OverrideActivities:
    """What an escalation step reads when it resolves a role at the moment it pages."""

    def __init__(self, store: OverrideStore) -> None:
        self.store = store

    @activity.defn(name="read_overrides")
    async def read_overrides(self, input: ReadOverridesInput) -> ReadOverridesResult:
        """The role's overrides in force at `at`, for policies.oncall.who."""
        # A one-second window around `at`; `active` then keeps exactly those in force.
        found = await asyncio.to_thread(
            self.store.overlapping, input.tenant, input.role, input.at, input.at + _SECOND
        )
        return ReadOverridesResult(overrides=[o for o in found if o.active(input.at)])
