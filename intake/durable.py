"""The API's durable memory, shared by the stores that must outlive a request and a replica.

Two backends, chosen like the send ledger's: a SQLite file in WAL mode under settings.data_dir
(every API process on the host shares it), or, when SLAWATCH_LEDGER_URL names a PostgreSQL
database, tables there that every API replica on every host shares. Each store declares its
tables; this module creates them and hands out connections. Calls are blocking: callers run
them in a thread.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, ClassVar, Self

from slawatch.sqlite import connection

# One file for everything the API remembers on a host (the webhook replay guard, PIN lockouts,
# idempotency keys): one place to back up, one WAL.
SQLITE_FILE = "webhooks.sqlite3"


class SqliteStore:
    """A store's tables in one SQLite file; `SCHEMA` is created on open."""

    SCHEMA: ClassVar[tuple[str, ...]] = ()

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            for statement in self.SCHEMA:
                db.execute(statement)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> Self:
        return cls(data_dir / SQLITE_FILE)

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return connection(self.path)


class PostgresStore:
    """A store's tables in PostgreSQL, behind a small connection pool; `SCHEMA` made on open."""

    SCHEMA: ClassVar[tuple[str, ...]] = ()
    NAME: ClassVar[str] = "slawatch-api"  # the connections' application_name
    WHAT: ClassVar[str] = "API store"  # how errors name it

    def __init__(self, url: str) -> None:
        # Imported here, as the next two: only a PostgreSQL store needs psycopg and its pool.
        import psycopg
        from psycopg_pool import ConnectionPool  # here: only a PostgreSQL store needs the pool

        from activities.ledger import redact, scrub  # here: the ledger's URL scrubbing, only for PG

        options: dict[str, Any] = {"connect_timeout": 5, "application_name": self.NAME}
        try:
            with psycopg.connect(url, **options) as db:
                # Replicas starting at once would race CREATE TABLE IF NOT EXISTS.
                db.execute("SELECT pg_advisory_xact_lock(7415926536)")
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
