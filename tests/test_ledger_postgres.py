"""What only the PostgreSQL ledger has: selection by SLAWATCH_LEDGER_URL, a password that never
shows, a schema several workers create at once, connections the server drops."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from structlog.testing import capture_logs

from activities.ledger import SQLITE_FILE, describe, open_ledger
from activities.ledger.postgres import TABLE, PostgresLedger
from activities.ledger.sqlite import SqliteLedger
from activities.notify import notification_activities
from slawatch.models import SendResult
from slawatch.settings import Settings
from tests.postgres_fixtures import PostgresServer

WRONG = "not-the-password-7c1f"


def test_one_setting_selects_the_backend(
    ledger_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLAWATCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SLAWATCH_LEDGER_URL", "")  # empty = unset: the SQLite file
    local = open_ledger(Settings())
    assert isinstance(local, SqliteLedger) and local.path == tmp_path / SQLITE_FILE
    monkeypatch.setenv("SLAWATCH_LEDGER_URL", ledger_url)
    shared = open_ledger(Settings())
    try:
        assert isinstance(shared, PostgresLedger)
        assert shared.begin("k", "sms") is None
        assert local.state("k") is None  # went to PostgreSQL, not the file
    finally:
        shared.close()


def test_a_url_that_is_not_postgresql_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLAWATCH_LEDGER_URL", f"mysql://u:{WRONG}@db/ledger")
    with pytest.raises(ValidationError) as info:
        Settings()
    assert "ledger_url" in str(info.value) and WRONG not in str(info.value)


def test_wrong_password_stops_start_naming_the_server_never_the_password(
    postgres: PostgresServer, ledger_url: str
) -> None:
    bad = ledger_url.replace(postgres.password, WRONG)
    with pytest.raises(RuntimeError) as info:
        PostgresLedger(bad)
    message = str(info.value)
    assert "password authentication failed" in message
    assert f"slawatch_admin@127.0.0.1:{postgres.port}" in message and WRONG not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_worker_logs_where_the_ledger_is_without_the_password(
    postgres: PostgresServer, ledger_url: str, tmp_path: Path
) -> None:
    settings = Settings(ledger_url=SecretStr(ledger_url), data_dir=tmp_path)
    assert postgres.password not in describe(settings) and str(postgres.port) in describe(settings)
    assert postgres.password not in repr(settings)
    with capture_logs() as logs:
        notification_activities(settings)
    [event] = [e for e in logs if e["event"] == "notify.ledger"]
    assert event["at"] == describe(settings) and postgres.password not in repr(logs)


def test_workers_starting_together_create_the_schema_once(ledger_url: str) -> None:
    start = threading.Barrier(8)
    opened: list[PostgresLedger] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        start.wait()
        try:
            opened.append(PostgresLedger(ledger_url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert errors == [] and len(opened) == 8
        assert opened[0].begin("k", "email") is None
    finally:
        for ledger in opened:
            ledger.close()


def test_connections_the_server_drops_are_replaced(
    postgres: PostgresServer, ledger_url: str
) -> None:
    ledger = PostgresLedger(ledger_url)
    try:
        assert ledger.begin("k", "sms") is None
        # A database restart or failover as the pool sees it: every ledger connection is cut.
        with postgres.admin() as db:
            cut = db.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = 'slawatch-ledger'"
            ).fetchone()
        assert cut is not None and isinstance(cut[0], int) and cut[0] >= 1
        ledger.mark_sent("k", SendResult(ok=True, provider_id="SM9", detail="sms accepted"))
        assert ledger.state("k") == ("sent", 1)
        with postgres.admin(ledger_url.rsplit("/", 1)[1]) as db:
            assert db.execute(f"SELECT result->>'provider_id' FROM {TABLE}").fetchone() == ("SM9",)
    finally:
        ledger.close()
