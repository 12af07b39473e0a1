"""The send ledger on both backends (SQLite file, real PostgreSQL server): the same tests, plus
races between threads and between processes on one key."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest

from activities.ledger import LEASE, InFlight, SendLedger
from activities.ledger.postgres import PostgresLedger
from activities.ledger.sqlite import SqliteLedger
from slawatch.models import SendResult

SENT = SendResult(ok=True, provider_id="SM1", detail="sms accepted")
SHORT = timedelta(milliseconds=300)
ROOT = Path(__file__).resolve().parents[1]

# make(lease=...): a new ledger instance on the test's store, as another worker would open it.
Factory = Callable[..., SendLedger]


def open_backend(backend: str, where: str, lease: timedelta | None = None) -> SendLedger:
    if backend == "sqlite":
        return SqliteLedger(Path(where), lease or LEASE)
    return PostgresLedger(where, lease or LEASE)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(backend, where): a fresh SQLite file or a fresh database on the test server."""
    if request.param == "sqlite":
        return "sqlite", str(tmp_path / "ledger.sqlite3")
    return "postgres", str(request.getfixturevalue("ledger_url"))


@pytest.fixture
def make(store: tuple[str, str]) -> Iterator[Factory]:
    opened: list[SendLedger] = []

    def factory(lease: timedelta | None = None) -> SendLedger:
        opened.append(open_backend(*store, lease=lease))
        return opened[-1]

    yield factory
    for ledger in opened:
        ledger.close()


def test_sent_key_returns_the_stored_result_to_another_instance(make: Factory) -> None:
    ledger = make()
    assert ledger.begin("k", "sms") is None
    ledger.mark_sent("k", SENT)
    again = make().begin("k", "sms")
    assert again == SENT.model_copy(update={"duplicate": True})
    assert ledger.state("k") == ("sent", 1)
    assert ledger.state("never") is None


def test_live_lease_stops_a_concurrent_attempt_until_released(make: Factory) -> None:
    first, second = make(), make()
    assert first.begin("k", "voice") is None
    with pytest.raises(InFlight):
        second.begin("k", "voice")
    assert first.state("k") == ("sending", 1)
    first.release("k")  # the request failed: a retry may go at once
    assert second.begin("k", "voice") is None
    assert first.state("k") == ("sending", 2)


def test_crashed_attempt_is_sent_again_once_its_lease_runs_out(make: Factory) -> None:
    crashed = make(lease=SHORT)
    assert crashed.begin("k", "voice") is None  # ... and the worker died before an answer
    with pytest.raises(InFlight):
        make().begin("k", "voice")
    time.sleep(SHORT.total_seconds() + 0.1)
    assert make().begin("k", "voice") is None  # a missed page is worse than a duplicate
    assert crashed.state("k") == ("sending", 2)


def test_rejected_key_may_be_tried_again(make: Factory) -> None:
    ledger = make()
    assert ledger.begin("bad", "sms") is None
    ledger.mark_rejected("bad", SendResult(ok=False, detail="invalid number"))
    assert ledger.state("bad") == ("rejected", 1)
    assert make().begin("bad", "sms") is None
    assert ledger.state("bad") == ("sending", 2)


def test_threads_racing_on_one_key_let_exactly_one_send(make: Factory) -> None:
    ledgers = [make() for _ in range(12)]
    start = threading.Barrier(len(ledgers))

    def race(ledger: SendLedger) -> str:
        start.wait()
        try:
            return "proceed" if ledger.begin("race", "sms") is None else "sent"
        except InFlight:
            return "in_flight"

    with ThreadPoolExecutor(len(ledgers)) as pool:
        outcomes = list(pool.map(race, ledgers))
    assert sorted(outcomes) == ["in_flight"] * 11 + ["proceed"]
    assert ledgers[0].state("race") == ("sending", 1)
    ledgers[outcomes.index("proceed")].mark_sent("race", SENT)
    with ThreadPoolExecutor(len(ledgers)) as pool:
        assert set(pool.map(race, ledgers)) == {"sent"}
    assert ledgers[0].state("race") == ("sent", 1)


# One racer per process: imports the ledger only (not pytest), waits for the common instant.
RACER = """
import sys, time
from tests.ledger_racer import race
print(race(sys.argv[1], sys.argv[2], float(sys.argv[3])))
"""


def test_processes_racing_on_one_key_let_exactly_one_send(store: tuple[str, str]) -> None:
    # Separate processes with their own connections: what two worker hosts are to the ledger.
    open_backend(*store).close()  # schema in place before the race
    # Interpreters need a few seconds to import on 2 busy cores; then all go at once. One that
    # is late still meets the winner's live lease (20 s), so the outcome does not hang on timing.
    start_at = str(time.time() + 4)
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, *store, start_at],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    outcomes = sorted(racer.communicate(timeout=60)[0].strip() for racer in racers)
    assert outcomes == ["in_flight"] * 5 + ["proceed"]


def test_sqlite_file_is_in_wal_mode_and_old_files_gain_the_lease(tmp_path: Path) -> None:
    old = tmp_path / "old.sqlite3"
    with sqlite3.connect(old) as db:  # the schema before leases, with a crashed send in it
        db.execute(
            "CREATE TABLE sends (key TEXT PRIMARY KEY, channel TEXT NOT NULL, state TEXT NOT NULL,"
            " attempts INTEGER NOT NULL DEFAULT 0, result TEXT, updated_at TEXT NOT NULL)"
        )
        db.execute("INSERT INTO sends VALUES ('k', 'sms', 'sending', 1, NULL, '2026-01-01')")
    db.close()
    ledger = SqliteLedger(old)
    assert ledger.begin("k", "sms") is None
    assert ledger.state("k") == ("sending", 2)
    with sqlite3.connect(old) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    db.close()
