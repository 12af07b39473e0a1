"""Who is on call for a role at an instant, and why: pure, deterministic, no I/O.

`who(policy, role, at, overrides)` is what an escalation step will call at page time (through
an activity that reads the overrides); `shifts(...)` lists the same answers as intervals for
`slawatch oncall show` and the calendar feed. Both evaluate one function, `who`, so they
cannot disagree.

Time rules (docs/design.md, "On-call schedules"):
- a layer's handoffs are wall-clock times in its zone: start date + handoff, then every
  rotation length of *local* time, so a weekly 09:00 handoff stays at 09:00 across DST;
- a handoff or window edge at a local time that does not exist (the hour skipped in spring)
  happens when the clock jumps; one that exists twice (autumn) at its first occurrence;
- restrictions are read on the local wall clock, so a window is as long as the clock says.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from policies.calendar import Name
from policies.schedules import Layer, Restriction, Schedule
from policies.schema import Policy


class Override(BaseModel):
    """A time-bounded replacement: `person` instead of `replaces` (or of everyone) in `role`."""

    model_config = ConfigDict(frozen=True)

    id: str
    tenant: Name
    role: Name
    person: Name
    replaces: Name | None = None
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    created_at: AwareDatetime
    created_by: str = ""

    def active(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at

    def describe(self) -> str:
        whom = f"instead of {self.replaces}" if self.replaces else "for the whole role"
        return f"override {self.id}: {self.person} {whom}"


class OnCall(BaseModel):
    """The answer: the people on call, the layer that decided, and the overrides applied."""

    model_config = ConfigDict(frozen=True)

    role: str
    at: AwareDatetime
    people: list[str]
    layer: str | None = None
    overrides: list[str] = Field(default_factory=list)
    why: str


class Shift(BaseModel):
    """An interval over which the answer stays the same."""

    model_config = ConfigDict(frozen=True)

    starts_at: AwareDatetime
    ends_at: AwareDatetime
    people: list[str]
    layer: str | None = None
    overrides: list[str] = Field(default_factory=list)
    why: str


# The instants the API and CLI take: far enough either way for any schedule, and far from the
# ends of `datetime`, where converting to a zone overflows.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def check_range(at: datetime) -> None:
    """Raise ValueError unless `at` is within [EARLIEST, LATEST)."""
    if not EARLIEST <= at < LATEST:
        raise ValueError(f"must be between {EARLIEST.year} and {LATEST.year - 1}")


class UnknownRole(KeyError):
    """The policy has no such role."""


# -- wall clock -> instants ----------------------------------------------------------------------


def localize(naive: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant at which the wall clock of `zone` first shows `naive` (or jumps past it)."""
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == naive:
        return first  # exists (an ambiguous time: its first occurrence, fold 0)
    # Skipped by a spring-forward: the first second whose wall clock is at or past `naive`.
    lo = int(naive.replace(tzinfo=zone, fold=1).astimezone(UTC).timestamp())
    hi = int(first.timestamp())
    while lo < hi:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid + 1
    return datetime.fromtimestamp(lo, UTC)


def exact_local(naive: datetime, zone: ZoneInfo) -> datetime:
    """`naive` read on the wall clock of `zone`, refusing a time that is skipped or repeated."""
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        raise ValueError(f"{naive:%Y-%m-%d %H:%M} does not exist in {zone.key} (DST skips it)")
    if first.utcoffset() != second.utcoffset():
        raise ValueError(
            f"{naive:%Y-%m-%d %H:%M} happens twice in {zone.key} (DST); give a UTC offset"
        )
    return first.astimezone(UTC)


def _handoff(layer: Layer, k: int) -> datetime:
    start = datetime.combine(layer.start, layer.handoff)
    return localize(start + k * layer.length, ZoneInfo(layer.timezone))


def shift_index(layer: Layer, at: datetime) -> int | None:
    """The number of the layer's shift that holds `at`, or None before its first handoff."""
    if at < _handoff(layer, 0):
        return None
    local = at.astimezone(ZoneInfo(layer.timezone)).replace(tzinfo=None)
    k = max(0, (local - datetime.combine(layer.start, layer.handoff)) // layer.length)
    # The wall-clock estimate is off by one at most around DST changes: settle on instants.
    while _handoff(layer, k + 1) <= at:
        k += 1
    while k > 0 and _handoff(layer, k) > at:
        k -= 1
    return k


def _inside(window: Restriction, local: datetime) -> bool:
    day, now = local.weekday(), local.time().replace(tzinfo=None)
    days = {d.number for d in window.days}
    if window.starts < window.ends:
        return day in days and window.starts <= now < window.ends
    return (day in days and now >= window.starts) or ((day - 1) % 7 in days and now < window.ends)


def layer_active(layer: Layer, at: datetime) -> bool:
    if shift_index(layer, at) is None:
        return False
    if not layer.restrictions:
        return True
    local = at.astimezone(ZoneInfo(layer.timezone))
    return any(_inside(window, local) for window in layer.restrictions)


# -- who -----------------------------------------------------------------------------------------


def _role(policy: Policy, role: str) -> Schedule | list[str]:
    if role in policy.schedules:
        return policy.schedules[role]
    if role in policy.roles:
        return policy.roles[role]
    known = ", ".join(policy.role_names()) or "none"
    raise UnknownRole(f"unknown role {role!r} for {policy.tenant} (known: {known})")


def who(policy: Policy, role: str, at: datetime, overrides: Iterable[Override] = ()) -> OnCall:
    """The people on call for `role` at `at`, after the active overrides, and why."""
    members = _role(policy, role)
    if at.tzinfo is None:
        raise ValueError("`at` must be timezone-aware")
    layer: str | None = None
    if isinstance(members, Schedule):
        people: list[str] = []
        why = "no layer is active"
        for candidate in reversed(members.layers):  # the last active layer wins
            k = shift_index(candidate, at)
            if k is not None and layer_active(candidate, at):
                person = candidate.participants[k % len(candidate.participants)]
                people, layer = [person], candidate.name
                why = f"layer {candidate.name}, shift {k + 1}"
                break
    else:
        people, why = list(members), "fixed list"
    applied: list[str] = []
    reasons = [why]
    mine = sorted(
        (o for o in overrides if o.role == role and o.active(at)),
        key=lambda o: (o.created_at, o.id),
    )
    for override in mine:  # later overrides act on what earlier ones left
        if override.replaces is None:
            people = [override.person]
        elif override.replaces in people:
            people = [override.person if p == override.replaces else p for p in people]
        else:
            continue  # the person it covers for is not on call now
        people = list(dict.fromkeys(people))
        applied.append(override.id)
        reasons.append(override.describe())
    return OnCall(
        role=role, at=at, people=people, layer=layer, overrides=applied, why="; ".join(reasons)
    )


def members_at(policy: Policy, role: str, at: datetime) -> list[str]:
    """A role's people at `at` from the policy alone: a fixed list, or the schedule's answer
    without overrides (for readers that have no override store, e.g. a ticket's snapshot)."""
    if role in policy.schedules:
        return who(policy, role, at).people
    return list(policy.roles.get(role, []))


# -- shifts --------------------------------------------------------------------------------------


def _transitions(zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """The instants in [start, end] at which the zone's UTC offset changes."""
    found: list[datetime] = []
    step = timedelta(hours=1)
    t = start
    while t < end:
        nxt = min(t + step, end)
        if t.astimezone(zone).utcoffset() != nxt.astimezone(zone).utcoffset():
            lo, hi = int(t.timestamp()), int(nxt.timestamp())
            before = t.astimezone(zone).utcoffset()
            while lo < hi:
                mid = (lo + hi) // 2
                if datetime.fromtimestamp(mid, zone).utcoffset() != before:
                    hi = mid
                else:
                    lo = mid + 1
            found.append(datetime.fromtimestamp(lo, UTC))
        t = nxt
    return found


def _layer_edges(layer: Layer, start: datetime, end: datetime) -> list[datetime]:
    zone = ZoneInfo(layer.timezone)
    edges = []
    # From the shift holding `start`, or from the first one when the layer starts later.
    k = shift_index(layer, start) or 0
    while (h := _handoff(layer, k)) <= end:
        edges.append(h)
        k += 1
    edges += _transitions(zone, start, end)
    day: date = start.astimezone(zone).date() - timedelta(days=1)
    while day <= end.astimezone(zone).date() + timedelta(days=1):
        for window in layer.restrictions:
            ends_on = day if window.starts < window.ends else day + timedelta(days=1)
            for naive in (
                datetime.combine(day, window.starts),
                datetime.combine(ends_on, window.ends),
            ):
                # Both occurrences of an autumn wall-clock time: the window edge is crossed twice.
                edges.append(localize(naive, zone))
                edges.append(naive.replace(tzinfo=zone, fold=1).astimezone(UTC))
        day += timedelta(days=1)
    return edges


def shifts(
    policy: Policy,
    role: str,
    start: datetime,
    end: datetime,
    overrides: Sequence[Override] = (),
) -> list[Shift]:
    """Who is on call over [start, end), as maximal intervals of one answer each."""
    members = _role(policy, role)
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("`start` and `end` must be timezone-aware")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return []
    edges = [start]
    if isinstance(members, Schedule):
        for layer in members.layers:
            edges += _layer_edges(layer, start, end)
    for override in overrides:
        if override.role == role:
            edges += [override.starts_at, override.ends_at]
    points = sorted({e.astimezone(UTC) for e in edges if start <= e < end})
    out: list[Shift] = []
    for i, point in enumerate(points):
        until = points[i + 1] if i + 1 < len(points) else end
        answer = who(policy, role, point, overrides)
        if out and _same(out[-1], answer):
            out[-1] = out[-1].model_copy(update={"ends_at": until})
            continue
        out.append(
            Shift(
                starts_at=point,
                ends_at=until,
                people=answer.people,
                layer=answer.layer,
                overrides=answer.overrides,
                why=answer.why,
            )
        )
    return out


def _same(shift: Shift, answer: OnCall) -> bool:
    # Two shifts of one layer handing the role to the same person (a one-person layer) are one
    # stretch on call, but a handoff between two people is always a new shift.
    return (shift.people, shift.layer, shift.overrides) == (
        answer.people,
        answer.layer,
        answer.overrides,
    )


# -- overrides against a policy ------------------------------------------------------------------


class OverrideProblem(ValueError):
    """An override that does not fit the policy: `field` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def check_override(
    policy: Policy, role: str, person: str, replaces: str | None, starts: datetime, ends: datetime
) -> None:
    """Raise OverrideProblem unless the override names a role, responders and a real interval."""
    try:
        members = _role(policy, role)
    except UnknownRole:
        known = ", ".join(policy.role_names()) or "none"
        raise OverrideProblem("role", f"unknown role {role!r} (known: {known})") from None
    for field, name in (("person", person), ("replaces", replaces)):
        if name is not None and name not in policy.responders:
            raise OverrideProblem(field, f"unknown responder {name!r}")
    can_be_on_call = members.participants() if isinstance(members, Schedule) else set(members)
    if replaces is not None and replaces not in can_be_on_call:
        raise OverrideProblem("replaces", f"{replaces!r} is never on call for role {role!r}")
    if replaces == person:
        raise OverrideProblem("replaces", f"{person!r} cannot cover for themself")
    if ends <= starts:
        raise OverrideProblem("ends_at", "an override must end after it starts")
    if ends - starts > MAX_OVERRIDE:
        raise OverrideProblem("ends_at", f"an override may last at most {MAX_OVERRIDE.days} days")


# Longer replacements belong in the schedule itself.
MAX_OVERRIDE = timedelta(days=92)
