"""The outage group table: fold or lead, once per key, and never a page lost to a closing digest."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from activities.grouping import GroupStore, PostgresGroupStore, SqliteGroupStore
from slawatch.models import PageGroup
from tests.postgres_fixtures import store_pair

T0 = datetime(2026, 12, 2, 10, tzinfo=UTC)
LINE = "+40724011885"


def page(ref: str, at: datetime = T0, tenant: str = "prokuria", window: int = 120) -> PageGroup:
    return PageGroup(
        tenant=tenant,
        window_seconds=window,
        ticket_ref=f"{tenant}/{ref}",
        severity="critical",
        kind="response",
        at=at,
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[GroupStore, GroupStore]:
    """Two stores over one backend, as two worker processes would open it."""
    return store_pair(request, SqliteGroupStore, PostgresGroupStore, tmp_path / "l.sqlite3")


def test_the_first_page_leads_later_ones_fold_until_the_window_ends(
    stores: tuple[GroupStore, GroupStore],
) -> None:
    one, two = stores
    first = one.place("k1", LINE, "sms", page("T1"))
    assert first.leader and first.window_end == T0 + timedelta(minutes=2)
    second = two.place("k2", LINE, "sms", page("T2", T0 + timedelta(seconds=30)))
    assert (second.group, second.leader) == (first.group, False)
    # A retry of either page gets the same answer: it never sends twice nor leads twice.
    assert one.place("k2", LINE, "sms", page("T2", T0 + timedelta(seconds=31))) == second
    assert two.place("k1", LINE, "sms", page("T1")) == first
    # Another channel, number or tenant is another group.
    assert one.place("k3", LINE, "voice", page("T3")).leader
    assert one.place("k4", "+3725019559", "sms", page("T4")).leader
    assert one.place("k5", LINE, "sms", page("T5", tenant="cargotask")).leader
    # After the window a page is sent at once and opens the next group.
    late = one.place("k6", LINE, "sms", page("T6", T0 + timedelta(minutes=2)))
    assert late.leader and late.group != first.group


def test_closing_lists_the_members_once_and_a_later_page_opens_a_new_group(
    stores: tuple[GroupStore, GroupStore],
) -> None:
    one, two = stores
    g = one.place("k1", LINE, "sms", page("T1")).group
    for n in (2, 3):
        one.place(f"k{n}", LINE, "sms", page(f"T{n}", T0 + timedelta(seconds=n)))
    closed = two.close(g)
    assert [m.ticket_ref for m in closed.folded] == ["prokuria/T2", "prokuria/T3"]
    assert closed.leader.ticket_ref == "prokuria/T1"
    assert closed.code.isdigit() and len(closed.code) == 4
    # Every member's workflow asks: the same digest, the same code.
    assert one.close(g) == closed
    after = one.place("k4", LINE, "sms", page("T4", T0 + timedelta(seconds=10)))
    assert after.leader and after.group != g
    with pytest.raises(KeyError):
        one.close("grp_none")


def test_folds_racing_the_digest_are_each_listed_or_lead_the_next_group(
    stores: tuple[GroupStore, GroupStore],
) -> None:
    """Two stores (two workers) fold pages while a third thread closes the group: every page
    is either in the digest's list or opens/joins a newer group, never in a closed group
    unlisted."""
    one, two = stores
    g = one.place("lead", LINE, "sms", page("T0")).group
    start = threading.Barrier(3)
    placed: dict[str, str] = {}
    closed: list[object] = []

    def fold(store: GroupStore, prefix: str) -> None:
        start.wait()
        for n in range(15):
            key = f"{prefix}{n}"
            at = T0 + timedelta(seconds=1, milliseconds=n)
            placed[key] = store.place(key, LINE, "sms", page(key, at)).group

    def digest() -> None:
        start.wait()
        closed.append(one.close(g))

    threads = [
        threading.Thread(target=fold, args=(one, "a")),
        threading.Thread(target=fold, args=(two, "b")),
        threading.Thread(target=digest),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    listed = {m.key for m in two.close(g).members}
    assert listed == {"lead"} | {k for k, grp in placed.items() if grp == g}
    later = {grp for grp in placed.values() if grp != g}
    # Pages after the close went to one new group (the first of them led it).
    assert len(later) <= 1
    assert len(placed) == 30
