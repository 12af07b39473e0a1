"""One way to open the SQLite files several processes share (send ledger, webhook store)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def connection(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection per operation: callers run on asyncio.to_thread's varying threads.

    Autocommit (transactions are explicit), a 10 s wait for another process's write lock, and
    synchronous=NORMAL, which is durable enough under WAL (set by whoever creates the file).
    """
    db = sqlite3.connect(path, timeout=10, isolation_level=None)
    try:
        db.execute("PRAGMA synchronous=NORMAL")
        yield db
    finally:
        db.close()
