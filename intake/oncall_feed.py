"""An iCalendar feed of a role's shifts, for people to subscribe to in their calendars.

Built with the `icalendar` library (RFC 5545 escaping, line folding and date-time forms are
easy to get subtly wrong by hand). Times are UTC (`...Z`): calendar apps show them in each
reader's own zone, and a UTC instant cannot be read two ways around a DST change.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import quote

from icalendar import Calendar, Event

from policies.oncall import Shift

PRODID = "-//slawatch//on-call schedules//EN"
# 128 bits of HMAC-SHA256: unguessable, and short enough for a URL people paste.
KEY_HEX = 32


def feed_key(secret: str, tenant: str, role: str) -> str:
    """The secret of one role's feed URL: HMAC(secret, "tenant/role"), so nothing is stored
    and changing SLAWATCH_ONCALL_FEED_SECRET revokes every URL at once."""
    mac = hmac.new(secret.encode(), f"{tenant}/{role}".encode(), hashlib.sha256)
    return mac.hexdigest()[:KEY_HEX]


def feed_key_ok(secret: str, tenant: str, role: str, given: str) -> bool:
    """Whether `given` is that feed's key, compared in constant time; never with no secret."""
    return bool(secret) and hmac.compare_digest(
        given.encode(), feed_key(secret, tenant, role).encode()
    )


def feed_url(base_url: str, secret: str, tenant: str, role: str) -> str:
    """The URL a calendar app subscribes to: no bearer header needed, the key is in it."""
    path = f"/v1/oncall/{quote(tenant)}/{quote(role)}.ics"
    return f"{base_url.rstrip('/')}{path}?key={feed_key(secret, tenant, role)}"


def shift_uid(tenant: str, role: str, shift: Shift) -> str:
    # Stable across fetches while the shift starts at the same instant, so calendars update
    # an event in place instead of duplicating it.
    return f"{tenant}.{role}.{int(shift.starts_at.timestamp())}@slawatch"


def calendar_feed(tenant: str, role: str, shifts: Sequence[Shift], stamp: datetime) -> bytes:
    """The feed: one event per shift with someone on call (an empty shift is no event)."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"{tenant} {role} on call")
    for shift in shifts:
        if not shift.people:
            continue
        event = Event()
        event.add("uid", shift_uid(tenant, role, shift))
        event.add("dtstamp", stamp)
        event.add("dtstart", shift.starts_at)
        event.add("dtend", shift.ends_at)
        event.add("summary", f"{role}: {', '.join(shift.people)}")
        event.add("description", shift.why)
        event.add("categories", [role])
        cal.add_component(event)
    feed: bytes = cal.to_ical()
    return feed
