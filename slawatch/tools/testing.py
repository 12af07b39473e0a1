"""Seconds-scale SLA policies for end-to-end tests, fault tests and benchmarks.

Real SLAs count minutes and hours; these let a whole breach and ladder run in seconds. One
24x7 critical class, the example responder Ana as role `primary`, and the ladder given.
"""

from __future__ import annotations

from collections.abc import Sequence

EMERGENCY = "+40724011885"
ANA = "+40721555101"


def step(via: str, wait_seconds: int, who: str = "emergency_line: true") -> str:
    """One ladder step in YAML: whom, how (e.g. "sms" or "email, sms"), and the ack wait."""
    return f"{{{who}, via: [{via}], wait: {{amount: {wait_seconds}, unit: seconds}}}}"


def seconds_policy(
    tenant: str,
    response_seconds: int,
    steps: Sequence[str],
    *,
    resolution_hours: int = 1,
    warn_at: Sequence[int] = (),
    repeat: int = 0,
    grouping_seconds: int = 0,
) -> str:
    """A policy file whose critical response target is `response_seconds` after opening.

    Outage grouping is off unless `grouping_seconds` is given: tests and benchmarks that open
    many tickets count every page, and a two-minute digest would outlast them.
    """
    if grouping_seconds:
        grouping = f"{{window: {{amount: {grouping_seconds}, unit: seconds}}}}"
    else:
        grouping = "{enabled: false}"
    ladder = "\n".join(f"      - {s}" for s in steps)
    return f"""
tenant: {tenant}
name: Seconds-scale test tenant
support_email: support@example.com
emergency_line: "{EMERGENCY}"
default_class: critical
calendars:
  always: {{timezone: Europe/Berlin, always_open: true}}
classes:
  critical:
    calendar: always
    response: {{amount: {response_seconds}, unit: seconds}}
    resolution: {{amount: {resolution_hours}, unit: hours}}
    ladder: critical
    emergency: true
warnings: {{at_percent: {list(warn_at)}, email_roles: [primary]}}
grouping: {grouping}
roles:
  primary: [ana]
responders:
  ana:
    name: Ana Example (EXAMPLE PERSON)
    phone: "{ANA}"
    email: ana.example@example.com
ladders:
  critical:
    repeat: {repeat}
    steps:
{ladder}
"""
