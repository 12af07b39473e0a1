"""Outage grouping: a tenant's pages to one number within a short window share one digest.

The first page to a (tenant, number, channel) opens a group and is sent at once; a page that
follows within the group's window, while its digest has not gone, is recorded as a member and
not sent ("folded"). When the window ends, each folded page's workflow asks `send_digest`:
the first caller closes the group and sends one SMS (or call) listing the members with a group
acknowledgement code; later callers get the same message from the send ledger. A page that
comes after the group closed opens a new group, so nothing is ever left unsent.

The decision is made in the send activity (activities/notify.py), against tables in the same
database as the send ledger, under its write lock (SQLite) or an advisory lock per (tenant,
number, channel) (PostgreSQL): two pages racing each other, or a page racing the digest, each
either joins the group before it closes (and is listed) or opens the next one.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from activities.durable import PostgresStore, SqliteStore
from activities.ledger import SQLITE_FILE
from slawatch.models import PageGroup
from slawatch.settings import Settings
from slawatch.sqlite import immediate

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _us(at: datetime) -> int:
    return (at - _EPOCH) // _MICROSECOND


def _at(us: int) -> datetime:
    return _EPOCH + int(us) * _MICROSECOND


@dataclass(frozen=True)
class Placement:
    """Where a page went: it leads `group` (send it now) or was folded into it (wait)."""

    group: str
    leader: bool
    window_end: datetime


@dataclass(frozen=True)
class Member:
    key: str
    ticket_ref: str
    severity: str
    kind: str
    leader: bool


@dataclass(frozen=True)
class ClosedGroup:
    """A group whose digest goes (or went): its members in page order and its ack code."""

    group: str
    tenant: str
    address: str
    channel: str
    code: str
    members: list[Member]
    # The language of the page that opened the group (en, et, ro; None: English): the
    # digest goes to the same number, so to the same person, in the same language.
    language: str | None = None

    @property
    def leader(self) -> Member:
        return next(m for m in self.members if m.leader)

    @property
    def folded(self) -> list[Member]:
        return [m for m in self.members if not m.leader]


class GroupStore(Protocol):
    """Blocking calls (the activities run them in a thread)."""

    def place(
        self, key: str, address: str, channel: str, page: PageGroup, language: str | None = None
    ) -> Placement:
        """Fold the page keyed `key` into the open group of (tenant, address, channel), or
        open one led by it (its digest then in `language`). The same key always gets the
        same answer."""
        ...

    def close(self, group: str) -> ClosedGroup:
        """Close `group` to new members (once) and return what its digest lists."""
        ...


def open_group_store(settings: Settings) -> GroupStore:
    """Beside the send ledger: PostgreSQL at SLAWATCH_LEDGER_URL, else its SQLite file."""
    if settings.ledger_url is None:
        return SqliteGroupStore.in_data_dir(settings.data_dir)
    return PostgresGroupStore(settings.ledger_url.get_secret_value())


def new_code(taken: set[str]) -> str:
    """A group's acknowledgement code: four digits like a page's, none of its members'."""
    while True:
        code = str(1000 + secrets.randbelow(9000))
        if code not in taken:
            return code


class _Sql:
    """The statements both backends run; `q` turns the ? placeholders into the backend's."""

    groups = "page_groups"
    members = "page_group_members"

    def q(self, sql: str) -> str:
        return sql

    def schema(self) -> tuple[str, ...]:
        return (
            f"CREATE TABLE IF NOT EXISTS {self.groups} (id TEXT PRIMARY KEY,"
            " tenant TEXT NOT NULL, address TEXT NOT NULL, channel TEXT NOT NULL,"
            " opened_at BIGINT NOT NULL, window_end BIGINT NOT NULL,"
            " state TEXT NOT NULL CHECK (state IN ('open', 'closed')), code TEXT)",
            f"CREATE INDEX IF NOT EXISTS {self.groups}_open ON {self.groups}"
            " (tenant, address, channel, state)",
            f"CREATE TABLE IF NOT EXISTS {self.members} (key TEXT PRIMARY KEY,"
            " group_id TEXT NOT NULL, leader BOOLEAN NOT NULL, ticket_ref TEXT NOT NULL,"
            " severity TEXT NOT NULL, kind TEXT NOT NULL, at BIGINT NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {self.members}_by_group ON {self.members} (group_id)",
        )

    # Added to the groups table after it shipped, (column, type): nullable, so rows of groups
    # opened before (and their digests) read as English. Each store adds them where missing.
    added_columns = (("language", "TEXT"),)

    def place(
        self,
        db: Any,
        key: str,
        address: str,
        channel: str,
        page: PageGroup,
        language: str | None = None,
    ) -> Placement:
        known = db.execute(
            self.q(
                f"SELECT m.group_id, m.leader, g.window_end FROM {self.members} m"
                f" JOIN {self.groups} g ON g.id = m.group_id WHERE m.key = ?"
            ),
            (key,),
        ).fetchone()
        if known is not None:
            return Placement(str(known[0]), bool(known[1]), _at(known[2]))
        at = _us(page.at)
        open_group = db.execute(
            self.q(
                f"SELECT id, window_end FROM {self.groups} WHERE tenant = ? AND address = ?"
                " AND channel = ? AND state = 'open' AND window_end > ?"
                " ORDER BY opened_at DESC LIMIT 1"
            ),
            (page.tenant, address, channel, at),
        ).fetchone()
        if open_group is not None:
            group, end, leader = str(open_group[0]), int(open_group[1]), False
        else:
            group, leader = f"grp_{uuid.uuid4().hex[:16]}", True
            end = at + page.window_seconds * 1_000_000
            db.execute(
                self.q(
                    f"INSERT INTO {self.groups} (id, tenant, address, channel, opened_at,"
                    " window_end, state, language) VALUES (?, ?, ?, ?, ?, ?, 'open', ?)"
                ),
                (group, page.tenant, address, channel, at, end, language),
            )
        db.execute(
            self.q(
                f"INSERT INTO {self.members} (key, group_id, leader, ticket_ref, severity,"
                " kind, at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            ),
            (key, group, leader, page.ticket_ref, page.severity, page.kind, at),
        )
        return Placement(group, leader, _at(end))

    def close(self, db: Any, group: str) -> ClosedGroup:
        row = db.execute(
            self.q(
                f"SELECT tenant, address, channel, state, code, language FROM {self.groups}"
                " WHERE id = ?"
            ),
            (group,),
        ).fetchone()
        if row is None:
            raise KeyError(group)
        found = db.execute(
            self.q(
                f"SELECT key, ticket_ref, severity, kind, leader FROM {self.members}"
                " WHERE group_id = ? ORDER BY at, key"
            ),
            (group,),
        ).fetchall()
        members = [Member(r[0], r[1], r[2], r[3], bool(r[4])) for r in found]
        code = row[4]
        if row[3] == "open":
            # Drawn here, once: every caller of the digest gets the same code.
            code = new_code(set())
            db.execute(
                self.q(f"UPDATE {self.groups} SET state = 'closed', code = ? WHERE id = ?"),
                (code, group),
            )
        return ClosedGroup(group, row[0], row[1], row[2], str(code), members, row[5])


class SqliteGroupStore(SqliteStore):
    """The group tables in the send ledger's SQLite file (one host)."""

    FILE = SQLITE_FILE
    SCHEMA = _Sql().schema()
    COLUMNS = tuple((_Sql.groups, column, kind) for column, kind in _Sql.added_columns)

    @contextmanager
    def _locked(self) -> Iterator[Any]:
        # The write lock first: place and close never interleave.
        with self._connect() as db, immediate(db):
            yield db

    def place(
        self, key: str, address: str, channel: str, page: PageGroup, language: str | None = None
    ) -> Placement:
        with self._locked() as db:
            return _Sql().place(db, key, address, channel, page, language)

    def close(self, group: str) -> ClosedGroup:
        with self._locked() as db:
            return _Sql().close(db, group)


class _PgSql(_Sql):
    groups = "slawatch_page_groups"
    members = "slawatch_page_group_members"

    def q(self, sql: str) -> str:
        return sql.replace("?", "%s")


class PostgresGroupStore(PostgresStore):
    """The group tables at SLAWATCH_LEDGER_URL, shared by every worker on every host."""

    # PostgreSQL has ADD COLUMN IF NOT EXISTS: run on every open, under the schema lock.
    SCHEMA = (
        *_PgSql().schema(),
        *(
            f"ALTER TABLE {_PgSql.groups} ADD COLUMN IF NOT EXISTS {column} {kind}"
            for column, kind in _Sql.added_columns
        ),
    )
    NAME = "slawatch-grouping"
    WHAT = "page group store"
    LOCK = 7415926538  # its own: processes starting at once would race CREATE TABLE

    def place(
        self, key: str, address: str, channel: str, page: PageGroup, language: str | None = None
    ) -> Placement:
        with self._pool.connection() as db, db.transaction():
            # One lock per (tenant, number, channel) for the transaction: two pages, or a page
            # and the digest, never both see the group open and act on it at once.
            db.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))",
                (f"{page.tenant}|{address}|{channel}",),
            )
            return _PgSql().place(db, key, address, channel, page, language)

    def close(self, group: str) -> ClosedGroup:
        with self._pool.connection() as db, db.transaction():
            row = db.execute(
                f"SELECT tenant, address, channel FROM {_PgSql.groups} WHERE id = %s", (group,)
            ).fetchone()
            if row is None:
                raise KeyError(group)
            db.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{row[0]}|{row[1]}|{row[2]}",)
            )
            return _PgSql().close(db, group)

    def close_pool(self) -> None:
        self._pool.close()
