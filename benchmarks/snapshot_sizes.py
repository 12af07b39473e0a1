"""Snapshot sizes: the policy bytes a ticket and each escalation carry in their histories.

Run: `python -m benchmarks.snapshot_sizes [--at 2026-12-02]`. For each built-in tenant, the
JSON size of the snapshot tickets carried until the compact one (ten years of holidays, by the
`snapshot_policy` activity), of the compact ticket snapshot (`policies/snapshot.py`) and of
each class's escalation snapshot (before: the ticket's whole snapshot again).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from benchmarks.common import emit
from policies.loader import available_tenants, load_policy, snapshot
from policies.snapshot import ladder_snapshot, ticket_snapshot


def main(at: datetime) -> None:
    rows = []
    for tenant in available_tenants():
        policy = load_policy(tenant)
        before = len(snapshot(policy, at).model_dump_json())
        compact = ticket_snapshot(policy, at)
        for severity in policy.classes:
            child = len(ladder_snapshot(compact, severity).model_dump_json())
            rows.append([tenant, severity, before, len(compact.model_dump_json()), before, child])
    emit(
        f"snapshot sizes (bytes of JSON), tickets opened {at:%Y-%m-%d}",
        ["tenant", "class", "ticket before", "ticket now", "escalation before", "escalation now"],
        rows,
        {"at": at.isoformat()},
    )


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--at", default="2026-12-02", help="opening date (YYYY-MM-DD)")
    args = parser.parse_args()
    main(datetime.fromisoformat(args.at).replace(tzinfo=UTC))


if __name__ == "__main__":
    cli()
