"""The SQLite files the worker writes on every page and milestone (send ledger, SLA records, the
API's stores) keep one connection open (slawatch/sqlite.py, `hold_open`): closing a
per-operation connection must not checkpoint the log, and the held connection must never stop a
checkpoint."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from activities.grouping import SqliteGroupStore
from activities.ledger.sqlite import SqliteLedger
from activities.overrides import SqliteOverrideStore
from activities.records.store import RecordStore
from slawatch.models import SendResult

SENT = SendResult(ok=True, provider_id="SM1", detail="sms accepted")


def send(ledger: SqliteLedger, n: int, size: int = 200) -> None:
    """n pages through the ledger as the notify activity makes them: begin, then sent."""
    for i in range(n):
        key = f"ticket/t/K-{i}/response-1/r1s1/sms/{'x' * size}"
        assert ledger.begin(key, "sms") is None
        ledger.mark_sent(key, SENT)


def wal(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


Opener = Callable[[Path], object]
STORES: dict[str, Opener] = {
    "ledger": SqliteLedger,
    "records": RecordStore,
    "overrides": SqliteOverrideStore,
}


@pytest.mark.parametrize("kind", STORES)
def test_the_log_outlives_each_operation(tmp_path: Path, kind: str) -> None:
    """Before: every operation's connection was the last to close, so each checkpointed the
    log into the file and deleted it. Now the store's held connection keeps the log."""
    path = tmp_path / f"{kind}.db"
    store = STORES[kind](path)
    assert wal(path).exists()
    store.close()  # type: ignore[attr-defined]
    # The held connection closed: the next connection to close is the last, and checkpoints.
    with sqlite3.connect(path) as db:
        db.execute("SELECT count(*) FROM sqlite_master").fetchall()
    db.close()
    assert not wal(path).exists()


def test_pages_keep_the_log_and_it_is_checkpointed_as_it_grows(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    ledger = SqliteLedger(path)
    send(ledger, 5)
    assert wal(path).exists()
    # Past SQLite's 1,000-page threshold the commit that crosses it checkpoints: the held
    # connection holds no snapshot that would pin the log, so it never grows without bound.
    send(ledger, 3000, size=1500)
    with sqlite3.connect(path) as db:
        busy, log, done = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    db.close()
    assert busy == 0 and log == done
    assert wal(path).stat().st_size < 8 * 1024 * 1024
    assert ledger.state(f"ticket/t/K-2999/response-1/r1s1/sms/{'x' * 1500}") == ("sent", 1)
    ledger.close()


def open_at(opener: str, path: str, start_at: float) -> str:
    """One worker process's start: wait for the common instant, open the store (a fresh file)."""
    openers: dict[str, Opener] = {**STORES, "groups": SqliteGroupStore}
    time.sleep(max(0.0, start_at - time.time()))
    try:
        openers[opener](Path(path))
    except sqlite3.Error as exc:
        return f"{type(exc).__name__}: {exc}"
    return "opened"


@pytest.mark.parametrize("opener", ["ledger", "groups", "records", "overrides"])
def test_worker_processes_opening_a_new_file_together_all_start(
    opener: str, tmp_path: Path
) -> None:
    """`slawatch worker --processes N` on a fresh data directory: every process opens the send
    ledger's file at once, and each adds the columns newer than the file's first schema. Before,
    two could both see a column missing and the second ALTER failed ("duplicate column name"):
    that worker process exited at start."""
    # spawn: a clean interpreter per process, as the supervisor's workers are.
    with multiprocessing.get_context("spawn").Pool(6) as pool:
        for attempt in range(8):
            path = str(tmp_path / f"{attempt}" / "slawatch.sqlite3")
            # The first round waits for every process to import; the pool keeps them after.
            start_at = time.time() + (2.0 if attempt == 0 else 0.3)
            outcomes = pool.starmap(open_at, [(opener, path, start_at)] * 6)
            assert outcomes == ["opened"] * 6, outcomes
