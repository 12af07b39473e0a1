"""Fault injection for the stand-ins: answer a fraction of requests 500, 429, or late, and play
the account-wide refusals a real vendor gives (expired credentials, geo permissions, quota).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


class Fault(StrEnum):
    ERROR = "error"  # answer 500 without forwarding
    THROTTLE = "throttle"  # answer 429 without forwarding
    DELAY = "delay"  # wait delay_seconds, then answer normally
    # Account-wide refusals: every request (or every one to a country) gets the same answer.
    UNAUTHORIZED = "unauthorized"  # expired or revoked credentials: 401 (Twilio code 20003)
    GEO_BLOCKED = "geo_blocked"  # Twilio geo permissions: 400 code 21408 (SMS) / 21215 (calls)
    QUOTA_EXCEEDED = "quota_exceeded"  # SendGrid: 401 "Maximum credits exceeded"


_NUMBERS = ("error", "throttle", "delay", "delay_seconds", "fail_first", "seed")
_SWITCHES = ("unauthorized", "quota_exceeded")
_FIELDS = (*_NUMBERS, *_SWITCHES, "geo_blocked")
_PREFIX = re.compile(r"^\+[1-9][0-9]{0,14}$")


@dataclass
class FaultPlan:
    """Fractions (0..1) of requests that get each fault; the rest pass untouched."""

    error: float = 0.0
    throttle: float = 0.0
    delay: float = 0.0
    delay_seconds: float = 2.0
    # The next N requests get ERROR whatever the fractions: a deterministic outage for tests.
    fail_first: int = 0
    seed: int | None = None
    # Account faults, checked before the fractions: they answer every matching request.
    unauthorized: bool = False
    quota_exceeded: bool = False
    # E.164 prefixes ("+40") whose To numbers the account may not reach (Twilio only).
    geo_blocked: tuple[str, ...] = ()
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("error", "throttle", "delay"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}: {value} must be a fraction between 0 and 1")
        if self.error + self.throttle + self.delay > 1.0:
            raise ValueError("error + throttle + delay: fractions add up to more than 1")
        if self.fail_first < 0:
            raise ValueError(f"fail_first: {self.fail_first} must not be negative")
        if self.delay_seconds < 0:
            raise ValueError(f"delay_seconds: {self.delay_seconds} must not be negative")
        for prefix in self.geo_blocked:
            if not _PREFIX.match(prefix):
                raise ValueError(f"geo_blocked: {prefix!r} is not a +<digits> number prefix")
        self._rng = random.Random(self.seed)

    def account_fault(self, to: str | None = None) -> Fault | None:
        """The account-wide refusal for a request to `to`, or None."""
        if self.unauthorized:
            return Fault.UNAUTHORIZED
        if self.quota_exceeded:
            return Fault.QUOTA_EXCEEDED
        if to and any(to.startswith(prefix) for prefix in self.geo_blocked):
            return Fault.GEO_BLOCKED
        return None

    def pick(self) -> Fault | None:
        """The fault for the next request, or None to pass it through."""
        if self.fail_first > 0:
            self.fail_first -= 1
            return Fault.ERROR
        roll = self._rng.random()
        for fault, share in (
            (Fault.ERROR, self.error),
            (Fault.THROTTLE, self.throttle),
            (Fault.DELAY, self.delay),
        ):
            if roll < share:
                return fault
            roll -= share
        return None

    @classmethod
    def parse(cls, spec: str) -> FaultPlan:
        """From "error=0.1,throttle=0.05,delay=0.1,delay_seconds=3,fail_first=2,seed=7", plus
        the account faults "unauthorized=1", "quota_exceeded=1", "geo_blocked=+40|+372"."""
        values: dict[str, float] = {}
        switches: dict[str, bool] = {}
        blocked: tuple[str, ...] = ()
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, sep, raw = item.partition("=")
            name, raw = name.strip(), raw.strip()
            if not sep or name not in _FIELDS:
                raise ValueError(f"faults: {item!r} is not name=value with a known name")
            if name == "geo_blocked":
                blocked = tuple(p.strip() for p in raw.split("|") if p.strip())
            elif name in _SWITCHES:
                if raw.lower() not in ("0", "1", "true", "false"):
                    raise ValueError(f"{name}: {raw!r} is not 0, 1, true or false")
                switches[name] = raw.lower() in ("1", "true")
            else:
                try:
                    values[name] = float(raw)
                except ValueError:
                    raise ValueError(f"{name}: {raw!r} is not a number") from None
        seed = values.get("seed")
        return cls(
            error=values.get("error", 0.0),
            throttle=values.get("throttle", 0.0),
            delay=values.get("delay", 0.0),
            delay_seconds=values.get("delay_seconds", 2.0),
            fail_first=int(values.get("fail_first", 0)),
            seed=None if seed is None else int(seed),
            unauthorized=switches.get("unauthorized", False),
            quota_exceeded=switches.get("quota_exceeded", False),
            geo_blocked=blocked,
        )

    @classmethod
    def from_env(cls, variable: str) -> FaultPlan:
        """The plan in environment variable `variable`, or no faults when it is unset."""
        try:
            return cls.parse(os.environ.get(variable, ""))
        except ValueError as exc:
            raise ValueError(f"{variable}: {exc}") from None


async def inject(
    plan: FaultPlan, reject: Callable[[int, str], Response]
) -> tuple[Fault | None, Response | None]:
    """Pick a fault; for errors return the vendor-style response to answer instead."""
    fault = plan.pick()
    if fault is Fault.ERROR:
        return fault, reject(500, "Injected fault: internal server error")
    if fault is Fault.THROTTLE:
        return fault, reject(429, "Injected fault: too many requests")
    if fault is Fault.DELAY:
        await asyncio.sleep(plan.delay_seconds)
    return fault, None


class _HasFaults(Protocol):
    faults: FaultPlan


def faults_route(owner: _HasFaults) -> Route:
    """POST /_standin/faults with a FaultPlan.parse spec as the body: change faults live."""

    async def set_faults(request: Request) -> Response:
        try:
            owner.faults = FaultPlan.parse((await request.body()).decode())
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"faults": repr(owner.faults)})

    return Route("/_standin/faults", set_faults, methods=["POST"])
