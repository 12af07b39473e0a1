"""Durable stores' plumbing: a store's tables in a SQLite file or in PostgreSQL.

Two backends, chosen like the send ledger's: a SQLite file in WAL mode under settings.data_dir
(every process on the host shares it), or, when SLAWATCH_LEDGER_URL names a PostgreSQL
database, tables there that every replica on every host shares. Each store declares its
tables; this module creates them and hands out connections. Calls are blocking: callers run
them in a thread.

Here, below intake/, so that the API's stores (intake/durable.py) and the activities' own
(activities/overrides.py) open, lock and pool the same way.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, ClassVar, Self

from slawatch.sqlite import connection, create_schema, hold_open


class SqliteStore:
    """A store's tables in one SQLite file; `SCHEMA` is created on open."""

    SCHEMA: ClassVar[tuple[str, ...]] = ()
    # Columns added after SCHEMA's tables shipped: (table, column, type), added where missing.
    COLUMNS: ClassVar[tuple[tuple[str, str, str], ...]] = ()
    FILE: ClassVar[str]  # the file's name under settings.data_dir

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        create_schema(path, self.SCHEMA, self.COLUMNS)
        # Held for the store's life: closing a per-operation connection skips the checkpoint.
        self._anchor = hold_open(path)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> Self:
        return cls(data_dir / cls.FILE)

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return connection(self.path)


class PostgresStore:
    """A store's tables in PostgreSQL, behind a small connection pool; `SCHEMA` made on open."""

    SCHEMA: ClassVar[tuple[str, ...]] = ()
    NAME: ClassVar[str] = "slawatch-api"  # the connections' application_name
    WHAT: ClassVar[str] = "API store"  # how errors name it
    LOCK: ClassVar[int] = 7415926536  # the advisory lock held while the schema is made

    def __init__(self, url: str) -> None:
        # Imported here, as the next two: only a PostgreSQL store needs psycopg and its pool.
        import psycopg
        from psycopg_pool import ConnectionPool  # here: only a PostgreSQL store needs the pool

        from activities.ledger import redact, scrub  # here: the ledger's URL scrubbing, only for PG

        options: dict[str, Any] = {"connect_timeout": 5, "application_name": self.NAME}
        try:
            with psycopg.connect(url, **options) as db:
                # Replicas starting at once would race CREATE TABLE IF NOT EXISTS.
                db.execute(f"SELECT pg_advisory_xact_lock({int(self.LOCK)})")
                for statement in self.SCHEMA:
                    db.execute(statement)
        except psycopg.Error as exc:
            where = redact(url)
            raise RuntimeError(f"{self.WHAT} at {where}: {scrub(str(exc), url)}") from None
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=4,
            kwargs=options,
            timeout=10,
            check=ConnectionPool.check_connection,
            name=self.NAME,
            open=True,
        )

    def _run(self, sql: str, args: tuple[Any, ...]) -> Any:
        with self._pool.connection() as db:
            return db.execute(sql, args)
