"""On-call routes: overrides (create, list, delete), who is on call, and a role's calendar feed.

Every route is scoped by the bearer token's tenants like the ticket routes; overrides live in
the override store (activities/overrides.py), which every process of a deployment shares.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from activities.overrides import OverrideStore, new_override_id
from intake.auth import require_tenant
from intake.errors import ApiError
from intake.oncall_feed import calendar_feed, feed_key_ok, feed_url
from intake.tickets import ERRORS, CallerDep, PoliciesDep, caller
from policies.calendar import known_zone
from policies.names import NAME_PATTERN
from policies.oncall import (
    OnCall,
    Override,
    OverrideProblem,
    UnknownRole,
    check_override,
    check_range,
    exact_local,
    shifts,
    who,
)
from policies.schema import Policy
from slawatch.models import TENANT_PATTERN

router = APIRouter(prefix="/v1/oncall", tags=["on-call"])

TenantPath = Annotated[str, Path(pattern=TENANT_PATTERN)]
RolePath = Annotated[str, Path(pattern=NAME_PATTERN)]
FEED_BEFORE = timedelta(days=7)
FEED_AFTER = timedelta(weeks=8)
MAX_SPAN = timedelta(days=366)


class OverrideRequest(BaseModel):
    """ "bogdan instead of ana, 2026-12-24 18:00 to 2026-12-27 09:00 Europe/Bucharest"."""

    model_config = ConfigDict(extra="forbid")

    role: str = Field(pattern=NAME_PATTERN)
    person: str = Field(pattern=NAME_PATTERN)
    # Whom `person` covers for; omitted: `person` takes the whole role.
    replaces: str | None = Field(default=None, pattern=NAME_PATTERN)
    # With a UTC offset, or wall-clock times read in `timezone`.
    starts_at: datetime
    ends_at: datetime
    timezone: str | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else known_zone(value)


class OverrideList(BaseModel):
    overrides: list[Override]


def store(request: Request) -> OverrideStore:
    found: OverrideStore = request.app.state.oncall
    return found


def _bounded(value: datetime, field: str) -> datetime:
    try:
        check_range(value)
    except ValueError as exc:
        raise ApiError(422, str(exc), field=field) from None
    return value


def _instant(value: datetime, zone: str | None, field: str) -> datetime:
    if value.tzinfo is not None and value.utcoffset() is not None:
        return _bounded(value.astimezone(UTC), field)
    if zone is None:
        raise ApiError(422, "give a UTC offset (e.g. +02:00) or a timezone", field=field)
    # Checked on the wall-clock value first: reading year 9999 in a zone overflows.
    _bounded(value.replace(tzinfo=UTC), field)
    try:
        return exact_local(value, ZoneInfo(zone))
    except ValueError as exc:
        raise ApiError(422, str(exc), field=field) from None


def _policy(policies: PoliciesDep, tenant: str, role: str | None = None) -> Policy:
    policy = policies.get(tenant)
    if role is not None and role not in policy.role_names():
        known = ", ".join(policy.role_names()) or "none"
        raise ApiError(404, f"unknown role {role!r} for {tenant} (known: {known})", field="role")
    return policy


@router.post("/{tenant}/overrides", status_code=201, responses=ERRORS)
async def create_override(
    tenant: TenantPath,
    body: OverrideRequest,
    request: Request,
    caller: CallerDep,
    policies: PoliciesDep,
) -> Override:
    """Put `person` on call instead of `replaces` (or of everyone) in `role`, for a while."""
    require_tenant(caller, tenant)
    policy = _policy(policies, tenant)
    starts = _instant(body.starts_at, body.timezone, "starts_at")
    ends = _instant(body.ends_at, body.timezone, "ends_at")
    now = datetime.now(UTC)
    try:
        check_override(policy, body.role, body.person, body.replaces, starts, ends)
    except OverrideProblem as exc:
        raise ApiError(422, str(exc), field=exc.field) from None
    if ends <= now:
        raise ApiError(422, "the override ends in the past", field="ends_at")
    override = Override(
        id=new_override_id(),
        tenant=tenant,
        role=body.role,
        person=body.person,
        replaces=body.replaces,
        starts_at=starts,
        ends_at=ends,
        created_at=now,
        created_by=f"api:{caller.name}",
    )
    await asyncio.to_thread(store(request).add, override)
    return override


@router.get("/{tenant}/overrides", responses=ERRORS)
async def list_overrides(
    tenant: TenantPath,
    request: Request,
    caller: CallerDep,
    policies: PoliciesDep,
    role: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
    include_past: bool = False,
) -> OverrideList:
    """The tenant's overrides that have not ended (all of them with include_past)."""
    require_tenant(caller, tenant)
    _policy(policies, tenant)
    since = datetime.min.replace(tzinfo=UTC) if include_past else datetime.now(UTC)
    found = await asyncio.to_thread(store(request).overlapping, tenant, role, since)
    return OverrideList(overrides=found)


@router.delete("/{tenant}/overrides/{override_id}", status_code=204, responses=ERRORS)
async def delete_override(
    tenant: TenantPath,
    override_id: Annotated[str, Path(pattern=r"^ovr_[0-9a-f]{12}$")],
    request: Request,
    caller: CallerDep,
) -> Response:
    """Remove an override (404 when the tenant has none with that id)."""
    require_tenant(caller, tenant)
    if not await asyncio.to_thread(store(request).delete, tenant, override_id):
        raise ApiError(404, f"no override {override_id!r} for {tenant}")
    return Response(status_code=204)


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ApiError(422, "give a UTC offset (e.g. +02:00 or Z)", field=field)
    return None if value is None else _bounded(value.astimezone(UTC), field)


@router.get(
    "/{tenant}/{role}.ics",
    responses={**ERRORS, 200: {"content": {"text/calendar": {}}}},
    response_class=Response,
)
async def role_feed(
    tenant: TenantPath,
    role: RolePath,
    request: Request,
    policies: PoliciesDep,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    key: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The role's shifts as an iCalendar feed (a week back and eight weeks ahead by default).

    Read with a bearer token, or with the feed's secret `key` (its URL from `.../feed`), which
    calendar apps can use: they cannot send a header."""
    if key is None:
        require_tenant(caller(request), tenant)
    elif not feed_key_ok(request.app.state.feed_secret, tenant, role, key):
        # The same answer for a wrong key, another role's key and feed URLs switched off.
        raise ApiError(404, "no such feed", field="key")
    policy = _policy(policies, tenant, role)
    now = datetime.now(UTC).replace(microsecond=0)
    first = _aware(start, "from") or now - FEED_BEFORE
    last = _aware(end, "to") or first + FEED_BEFORE + FEED_AFTER
    if last <= first:
        raise ApiError(422, "`to` must be after `from`", field="to")
    if last - first > MAX_SPAN:
        raise ApiError(422, f"a feed spans at most {MAX_SPAN.days} days", field="to")

    def build() -> bytes:
        # Off the event loop: a year of hourly shifts takes seconds of CPU to list and write.
        found = store(request).overlapping(tenant, role, first, last)
        return calendar_feed(tenant, role, shifts(policy, role, first, last, found), now)

    body = await asyncio.to_thread(build)
    return Response(body, media_type="text/calendar; charset=utf-8")


class FeedUrl(BaseModel):
    url: str


@router.get("/{tenant}/{role}/feed", responses=ERRORS)
async def role_feed_url(
    tenant: TenantPath, role: RolePath, caller: CallerDep, policies: PoliciesDep, request: Request
) -> FeedUrl:
    """The role's calendar feed URL with its secret key, for a calendar app to subscribe to."""
    require_tenant(caller, tenant)
    _policy(policies, tenant, role)
    secret: str = request.app.state.feed_secret
    if not secret:
        raise ApiError(409, "feed URLs are off: SLAWATCH_ONCALL_FEED_SECRET is not set")
    return FeedUrl(url=feed_url(request.app.state.public_base_url, secret, tenant, role))


@router.get("/{tenant}/{role}", responses=ERRORS)
async def on_call_now(
    tenant: TenantPath,
    role: RolePath,
    request: Request,
    caller: CallerDep,
    policies: PoliciesDep,
    at: datetime | None = None,
) -> OnCall:
    """Who is on call for the role at `at` (now by default), and why."""
    require_tenant(caller, tenant)
    policy = _policy(policies, tenant, role)
    instant = _aware(at, "at") or datetime.now(UTC)
    second = timedelta(seconds=1)
    found = await asyncio.to_thread(
        store(request).overlapping, tenant, role, instant, instant + second
    )
    try:
        return who(policy, role, instant, found)
    except UnknownRole as exc:  # the policy file changed under us
        raise ApiError(404, str(exc), field="role") from None
