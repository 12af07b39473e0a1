"""One way to open the SQLite files several processes share (send ledger, webhook store)."""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

# How long a store's first open waits for other processes opening the same file.
OPEN_WAIT_S = 10.0


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


def use_wal(db: sqlite3.Connection) -> None:
    """Put the file in WAL mode (it persists in the file). On a new file the switch takes a lock
    that SQLite does not wait for: a process switching it while another does gets "database is
    locked" at once. That is every worker process of `slawatch worker --processes N` starting on
    a new data directory, so the switch is tried again, for up to OPEN_WAIT_S."""
    deadline = time.monotonic() + OPEN_WAIT_S
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL").fetchall()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(random.uniform(0.005, 0.05))


@contextmanager
def immediate(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One transaction on `db` that takes the write lock at its start (BEGIN IMMEDIATE): a read
    then a write inside it are atomic across processes, and no reader's upgrade to a writer can
    deadlock. Commits when the block ends (a `return` inside it too), rolls back if it raises."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def create_schema(
    path: Path, statements: Iterable[str], columns: Iterable[tuple[str, str, str]] = ()
) -> None:
    """Open `path` in WAL mode and make its tables (`statements`, each idempotent) and the
    columns added since they shipped (`columns`: table, column, type), all in one transaction
    that holds the write lock from its start. Several processes opening a new file at once
    then make it one after the other: each sees what the one before made, and no column is
    added twice (SQLite has no ADD COLUMN IF NOT EXISTS)."""
    with connection(path) as db:
        use_wal(db)
        with immediate(db):
            for statement in statements:
                db.execute(statement)
            for table, column, kind in columns:
                if column not in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
