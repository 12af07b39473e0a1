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


def hold_open(path: Path) -> sqlite3.Connection:
    """A connection a store keeps for its life and never queries again, so that closing the
    per-operation connections above is cheap.

    In WAL mode the last connection to close checkpoints the log into the database and deletes
    it: with a connection per operation, every operation was the last, so every send, ledger
    mark and SLA record write paid a checkpoint and its syncs. In `make bench-lag` that was the
    largest single cost in the worker (py-spy: 16 % of its samples in `close` and `connect`),
    and it held the shared `asyncio.to_thread` threads that pages need. With this connection
    open, SQLite checkpoints as it always does when the log passes 1,000 pages, from whichever
    commit crosses it. It must have read once to join the WAL; its read ends at once (the
    cursor is drained and closed), so it never holds a snapshot that would stop a checkpoint.
    """
    db = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
    cursor = db.execute("SELECT count(*) FROM sqlite_master")
    cursor.fetchall()
    cursor.close()
    return db
