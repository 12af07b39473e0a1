"""Versioned schema migrations of the SLA record, one SQL text per database dialect.

Append only: a released migration is never edited; a change is a new numbered entry. The store
applies, in order and each in its own transaction, the ones a database has not recorded in
`sla_schema_migrations`. Instants are `timestamptz` in PostgreSQL and ISO-8601 UTC text in
SQLite (which sorts and compares correctly as text).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sqlite: str
    postgres: str


_TABLES = """
CREATE TABLE sla_ticket (
    tenant TEXT NOT NULL,
    ticket_id TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    category TEXT,
    sla_class TEXT NOT NULL,
    opened_class TEXT NOT NULL,
    phase TEXT NOT NULL,
    policy_tenant TEXT NOT NULL,
    policy_hash TEXT NOT NULL,
    policy_effective {date},
    opened_at {ts} NOT NULL,
    first_response_at {ts},
    resolved_at {ts},
    closed_at {ts},
    response_verdict TEXT NOT NULL,
    response_target_s {real},
    response_due {ts},
    response_business_s {real},
    response_wall_s {real},
    resolution_verdict TEXT NOT NULL,
    resolution_target_s {real},
    resolution_due {ts},
    resolution_business_s {real},
    resolution_wall_s {real},
    paused_business_s {real} NOT NULL DEFAULT 0,
    paused_wall_s {real} NOT NULL DEFAULT 0,
    reclassifications INTEGER NOT NULL DEFAULT 0,
    version BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, ticket_id)
);
CREATE INDEX sla_ticket_opened ON sla_ticket (tenant, opened_at);
CREATE TABLE sla_event (
    tenant TEXT NOT NULL,
    ticket_id TEXT NOT NULL,
    event TEXT NOT NULL,
    at {ts} NOT NULL,
    n INTEGER NOT NULL DEFAULT 0,
    detail TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (tenant, ticket_id, event, at, n)
);
CREATE TABLE sla_breach (
    tenant TEXT NOT NULL,
    ticket_id TEXT NOT NULL,
    breach_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    sla_class TEXT NOT NULL,
    target_s {real},
    due {ts},
    breached_at {ts} NOT NULL,
    withdrawn BOOLEAN NOT NULL DEFAULT FALSE,
    withdrawn_at {ts},
    outcome TEXT NOT NULL,
    level INTEGER NOT NULL DEFAULT 0,
    acknowledged_at {ts},
    acknowledged_by TEXT,
    ack_channel TEXT,
    version BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, ticket_id, breach_id)
);
CREATE TABLE sla_page (
    tenant TEXT NOT NULL,
    ticket_id TEXT NOT NULL,
    key TEXT NOT NULL,
    sent_at {ts} NOT NULL,
    breach_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    ok BOOLEAN NOT NULL,
    failure TEXT,
    outcome TEXT,
    acknowledged_at {ts},
    acknowledged_by TEXT,
    version BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, ticket_id, key, sent_at)
)
"""

# The policy snapshots tickets run on, each stored once under the key its tickets' writes name
# (workflows/records_sink.py): a ticket's first write of a run carries its snapshot, the later
# ones only the key. The whole snapshot is the body (its resolved holidays too), so the key is
# not `sla_ticket.policy_hash`, which names only the policy's terms.
_POLICIES = """
CREATE TABLE sla_policy (
    policy_key TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    body TEXT NOT NULL
)
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "tickets, events, breaches and pages",
        sqlite=_TABLES.format(ts="TEXT", real="REAL", date="TEXT"),
        postgres=_TABLES.format(ts="TIMESTAMPTZ", real="DOUBLE PRECISION", date="DATE"),
    ),
    Migration(2, "policy snapshots named by key", sqlite=_POLICIES, postgres=_POLICIES),
)


def statements(sql: str) -> list[str]:
    """The statements of a migration (none of ours has a ';' inside a literal)."""
    return [s.strip() for s in sql.split(";") if s.strip()]
