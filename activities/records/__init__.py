"""SLA records that outlive Temporal retention: per ticket, its milestones, breaches and pages.

One setting chooses the database (SLAWATCH_RECORDS_URL): unset means where the send ledger is —
its PostgreSQL database when SLAWATCH_LEDGER_URL is set, else `records.sqlite3` in the data
directory; a postgresql:// URL or sqlite:///path names one explicitly.

- `rows.py`: the rows and their natural keys; `build.py`: a ticket's rows from its status (pure);
- `store.py` + `migrations.py`: the database; `activities.py`: the milestone activity;
- `figures.py`: the report's figures (pure); `backfill.py`: records from Temporal histories.
"""

from __future__ import annotations

from pathlib import Path

from activities.ledger import redact
from activities.records.store import RecordStore
from slawatch.settings import Settings

SQLITE_FILE = "records.sqlite3"


def records_target(settings: Settings) -> str | Path:
    """The database these settings name: a PostgreSQL URL or a SQLite file path."""
    url = settings.records_url or settings.ledger_url
    if url is None:
        return settings.data_dir / SQLITE_FILE
    text = url.get_secret_value()
    if text.startswith("sqlite:///"):
        return Path(text.removeprefix("sqlite:///"))
    return text


def describe(settings: Settings) -> str:
    """Where the records of these settings live, safe to log (no password)."""
    target = records_target(settings)
    return str(target) if isinstance(target, Path) else redact(target)


def open_records(settings: Settings) -> RecordStore:
    """The record store these settings name, migrated to the current schema."""
    return RecordStore(records_target(settings))
