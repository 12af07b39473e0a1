"""Idempotency ledger: one row per notification key, so a retried step is not sent twice.

States: "sending" (a request may be on its way), "sent" (the vendor accepted it, result stored)
and "rejected" (the vendor refused it for good). Only "sent" stops a later attempt. A key left
in "sending" means a worker crashed or a request failed mid-flight, and we cannot know whether
the vendor got it; we send again, because a missed page is worse than a duplicate one.

"sending" holds a lease: while an attempt is still running (its lease is live) a concurrent
attempt of the same key does not send but raises `InFlight`, and Temporal retries it later.
That is what makes check-then-mark mean "exactly one sender at a time" across hosts (a retry
that Temporal started on another host while the first attempt still waits on the vendor). An
attempt that ends without an answer releases its lease; one whose worker died leaves it to run
out. LEASE outlasts a vendor request (SLAWATCH_VENDOR_REQUEST_TIMEOUT, 10 s) and is shorter
than the activity's start_to_close_timeout (workflows/dispatch.py, 30 s), so Temporal's retry
after a crash always finds it expired.

Two backends behind one Protocol, chosen by one setting (SLAWATCH_LEDGER_URL):
- unset: SQLite in WAL mode under settings.data_dir, shared by the worker processes of one host;
- a postgresql:// URL: one PostgreSQL table shared by every worker on every host.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol
from urllib.parse import unquote, urlsplit

from slawatch.models import SendResult
from slawatch.settings import Settings

LEASE = timedelta(seconds=20)
SQLITE_FILE = "notify-ledger.sqlite3"


class InFlight(Exception):
    """Another attempt of this key holds a live lease: it may be sending right now."""


class SendLedger(Protocol):
    """What the notification activities need from a ledger; blocking calls (run in threads)."""

    def begin(self, key: str, channel: str) -> SendResult | None:
        """The stored result if `key` was sent; else take the lease, mark it sending, None.
        Raises InFlight while another attempt's lease is live."""
        ...

    def release(self, key: str) -> None:
        """End this attempt's lease without a result (the request failed or timed out)."""
        ...

    def mark_sent(self, key: str, result: SendResult) -> None:
        """Record that the vendor accepted `key`; later attempts return `result`."""
        ...

    def mark_rejected(self, key: str, result: SendResult) -> None:
        """Record a permanent refusal (kept for audit; a new attempt may still try again)."""
        ...

    def state(self, key: str) -> tuple[str, int] | None:
        """(state, attempts) for `key`, or None if it was never seen."""
        ...

    def close(self) -> None:
        """Release connections (a no-op where there are none)."""
        ...


def redact(url: str) -> str:
    """`url` without its password (for logs and errors): postgresql://user@host:port/db."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = f"{parts.username}@" if parts.username else ""
    return parts._replace(netloc=f"{user}{host}").geturl()


def scrub(message: str, url: str) -> str:
    """`message` with the password of `url` cut out: libpq echoes parts of a URL it cannot parse."""
    password = urlsplit(url).password
    for secret in {password, unquote(password)} if password else ():
        message = message.replace(secret, "***")
    return message


def describe(settings: Settings) -> str:
    """Where the ledger of these settings lives, safe to log."""
    if settings.ledger_url is None:
        return str(settings.data_dir / SQLITE_FILE)
    return redact(settings.ledger_url.get_secret_value())


def open_ledger(settings: Settings) -> SendLedger:
    """The ledger these settings name: PostgreSQL when ledger_url is set, else SQLite."""
    if settings.ledger_url is None:
        # Imported here: sqlite.py imports this module (SendLedger, LEASE), so a top import cycles.
        from activities.ledger.sqlite import SqliteLedger

        return SqliteLedger(settings.data_dir / SQLITE_FILE)
    # Imported only here: a SQLite deployment never loads psycopg and libpq.
    from activities.ledger.postgres import PostgresLedger

    return PostgresLedger(settings.ledger_url.get_secret_value())
