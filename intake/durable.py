"""The API's durable memory, shared by the stores that must outlive a request and a replica.

Two backends, chosen like the send ledger's: a SQLite file in WAL mode under settings.data_dir
(every API process on the host shares it), or, when SLAWATCH_LEDGER_URL names a PostgreSQL
database, tables there that every API replica on every host shares. The plumbing is
activities/durable.py's (the on-call override store uses it too); this module names the API's
SQLite file.
"""

from __future__ import annotations

from typing import ClassVar

from activities.durable import PostgresStore
from activities.durable import SqliteStore as _SqliteStore

__all__ = ["SQLITE_FILE", "PostgresStore", "SqliteStore"]

# One file for everything the API remembers on a host (the webhook replay guard, PIN lockouts,
# idempotency keys): one place to back up, one WAL.
SQLITE_FILE = "webhooks.sqlite3"


class SqliteStore(_SqliteStore):
    """A store's tables in the API's SQLite file; `SCHEMA` is created on open."""

    FILE: ClassVar[str] = SQLITE_FILE
