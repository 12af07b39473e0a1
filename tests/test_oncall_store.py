"""The override store: the same answers from SQLite and PostgreSQL, shared by every process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from activities.overrides import (
    OverrideStore,
    PostgresOverrideStore,
    SqliteOverrideStore,
    new_override_id,
)
from policies.oncall import Override
from tests.postgres_fixtures import store_pair

T0 = datetime(2026, 12, 24, 16, tzinfo=UTC)


def made(
    role: str = "primary", tenant: str = "prokuria", hours: tuple[int, int] = (0, 63)
) -> Override:
    return Override(
        id=new_override_id(),
        tenant=tenant,
        role=role,
        person="bogdan",
        replaces="ana",
        starts_at=T0 + timedelta(hours=hours[0]),
        ends_at=T0 + timedelta(hours=hours[1]),
        # Microseconds too: both backends must give back exactly what they were given.
        created_at=T0 - timedelta(days=1) + timedelta(microseconds=123_457),
        created_by="cli",
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[OverrideStore, OverrideStore]:
    """Two stores over one backend, as two processes (API and worker) would open it."""
    return store_pair(request, SqliteOverrideStore, PostgresOverrideStore, tmp_path / "o.sqlite3")


def test_overrides_are_shared_kept_exactly_and_found_by_overlap(
    stores: tuple[OverrideStore, OverrideStore],
) -> None:
    api, worker = stores
    christmas, later, other_role, other_tenant = (
        made(),
        made(hours=(100, 110)),
        made(role="secondary"),
        made(tenant="cargotask"),
    )
    for o in (christmas, later, other_role, other_tenant):
        api.add(o)
    assert worker.overlapping("prokuria", "primary", T0 - timedelta(days=9)) == [christmas, later]
    # Overlap is half-open: an override ending at `start` or starting at `end` is not in it.
    assert worker.overlapping("prokuria", "primary", T0 + timedelta(hours=63)) == [later]
    assert worker.overlapping("prokuria", "primary", T0 - timedelta(hours=1), T0) == []
    # Without a role: every role of the tenant (equal times are ordered by their random ids).
    both = worker.overlapping("prokuria", None, T0, T0 + timedelta(hours=1))
    assert sorted(o.id for o in both) == sorted([christmas.id, other_role.id])
    # Deleting needs the tenant it belongs to.
    assert not worker.delete("cargotask", christmas.id)
    assert worker.delete("prokuria", christmas.id)
    assert not api.delete("prokuria", christmas.id)
    assert api.overlapping("prokuria", "primary", T0) == [later]
    assert api.overlapping("cargotask", "primary", T0) == [other_tenant]
    api.close()
    worker.close()
