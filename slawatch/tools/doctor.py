"""`slawatch doctor`: is this machine's configuration ready to run? One line per check.

Settings (slawatch/safety.py), Temporal and its namespace, the search attributes, the policy
files, Twilio and SendGrid credentials (the stand-ins in stand-in mode) and, when asked, one
test SMS through the real notification adapter. Exit 0 only when nothing failed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Annotated

import typer
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.service import RPCError, RPCStatusCode

from activities.clients import vendors_from_settings
from activities.credentials import sendgrid_problem, twilio_problem
from activities.vendors import VendorError
from policies.contacts import e164
from policies.loader import BUILTIN_DIR, PolicyError, available_tenants, load_policy
from slawatch.safety import ALL_ROLES, Role, production_problems, why_not_local
from slawatch.search_attributes import indexed_value_type
from slawatch.settings import Settings
from slawatch.temporal import connect
from slawatch.tools.cli_output import load_settings
from slawatch.tools.process import exit_now
from workflows.search import DEFINITIONS

# Temporal answers a healthy describe in milliseconds; ten seconds covers a Cloud TLS handshake.
TEMPORAL_TIMEOUT = 10.0
TEST_PAGE_TEXT = "slawatch doctor: test page. Paging works; no action needed."


class Outcome(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, how it went, and what to do about it."""

    name: str
    outcome: Outcome
    detail: str

    def line(self) -> str:
        return f"{self.outcome.value}  {self.name:<18} {self.detail}"


def settings_checks(settings: Settings, roles: frozenset[Role]) -> list[Check]:
    problems = production_problems(settings, roles)
    if problems:
        return [Check("settings", Outcome.FAIL, p) for p in problems]
    reasons = why_not_local(settings)
    if not reasons:
        return [Check("settings", Outcome.PASS, "local stand-in mode: development values allowed")]
    return [Check("settings", Outcome.PASS, f"no development secrets ({'; '.join(reasons)})")]


async def temporal_checks(settings: Settings) -> list[Check]:
    """Connect, describe the namespace, list its search attributes."""
    address, namespace = settings.temporal_address, settings.temporal_namespace
    skipped = Check("search attributes", Outcome.SKIP, "needs a reachable namespace")
    try:
        client = await asyncio.wait_for(connect(settings), TEMPORAL_TIMEOUT)
    except TimeoutError:
        detail = f"no answer from {address} in {TEMPORAL_TIMEOUT:g} s"
        return [
            Check("temporal", Outcome.FAIL, f"{detail}; check SLAWATCH_TEMPORAL_ADDRESS"),
            skipped,
        ]
    except (RuntimeError, OSError, ValueError) as exc:
        detail = f"cannot connect to {address}: {_reason(exc)}"
        hint = "check SLAWATCH_TEMPORAL_ADDRESS and the SLAWATCH_TEMPORAL_TLS_*/API_KEY settings"
        return [Check("temporal", Outcome.FAIL, f"{detail}; {hint}"), skipped]
    timeout = timedelta(seconds=TEMPORAL_TIMEOUT)
    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace), timeout=timeout
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            detail = f"namespace {namespace!r} does not exist on {address}; create it"
            detail += " (deploy/README.md) or fix SLAWATCH_TEMPORAL_NAMESPACE"
        else:
            detail = f"describing namespace {namespace!r} failed: {err.status.name} {err.message}"
        return [Check("temporal", Outcome.FAIL, detail), skipped]
    checks = [Check("temporal", Outcome.PASS, f"{address}, namespace {namespace!r}")]
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace), timeout=timeout
        )
    except RPCError as err:
        detail = f"cannot list them: {err.status.name} {err.message}"
        return [*checks, Check("search attributes", Outcome.FAIL, detail)]
    return [*checks, _search_attributes(dict(listed.custom_attributes))]


def _reason(exc: BaseException) -> str:
    # The core's connect errors are one long Rust debug string; name the usual causes plainly.
    text = str(exc)
    for marker, plain in (
        ("ConnectionRefused", "connection refused"),
        ("dns error", "host name not found"),
        ("InvalidCertificate", "TLS certificate not trusted"),
        ("deadline", "timed out"),
    ):
        if marker in text:
            return plain
    first = text.splitlines()[0] if text else type(exc).__name__
    return first if len(first) <= 160 else first[:157] + "..."


def _search_attributes(registered: dict[str, int]) -> Check:
    missing, mistyped = [], []
    for name, kind in DEFINITIONS.items():
        wanted = indexed_value_type(kind)
        if name not in registered:
            missing.append(f"{name} ({kind})")
        elif registered[name] != wanted:
            mistyped.append(f"{name} (should be {kind})")
    if missing or mistyped:
        found = [f"missing: {', '.join(missing)}"] if missing else []
        found += [f"wrong type: {', '.join(mistyped)}"] if mistyped else []
        fix = "run the setup job or `temporal operator search-attribute create` (deploy/README.md)"
        return Check("search attributes", Outcome.FAIL, f"{'; '.join(found)}; {fix}")
    return Check("search attributes", Outcome.PASS, f"all {len(DEFINITIONS)} registered")


def policy_check(settings: Settings) -> Check:
    directory = settings.policy_dir or BUILTIN_DIR
    tenants = available_tenants(settings.policy_dir)
    if not tenants:
        detail = f"no *.yaml policy files in {directory}; fix SLAWATCH_POLICY_DIR"
        return Check("policies", Outcome.FAIL, detail)
    problems = []
    for tenant in tenants:
        try:
            load_policy(tenant, settings.policy_dir)
        except PolicyError as exc:
            problems += [str(p) for p in exc.problems]
    if problems:
        more = f" (+{len(problems) - 1} more; `slawatch policy check FILE`)" if problems[1:] else ""
        return Check("policies", Outcome.FAIL, problems[0] + more)
    return Check(
        "policies", Outcome.PASS, f"{len(tenants)} loaded from {directory}: {', '.join(tenants)}"
    )


def _vendor(name: str, problem: str | None, accepted: str, stand_in: bool) -> Check:
    if problem is None:
        return Check(name, Outcome.PASS, accepted)
    # The usual cause in stand-in mode: the stand-ins are simply not running.
    hint = "; are the stand-ins running (`slawatch dev`)?" if stand_in else ""
    return Check(name, Outcome.FAIL, problem + hint)


def vendor_checks(settings: Settings, roles: frozenset[Role]) -> list[Check]:
    stand_in = settings.notifier_mode == "stand-in"
    twilio = f"stand-in {settings.twilio_base_url}" if stand_in else "Twilio"
    sendgrid = f"stand-in {settings.sendgrid_base_url}" if stand_in else "SendGrid"
    checks = [
        _vendor(
            "twilio",
            twilio_problem(settings),
            f"{twilio} accepts the account SID and auth token",
            stand_in,
        )
    ]
    if Role.WORKER not in roles:
        return [*checks, Check("sendgrid", Outcome.SKIP, "the API role sends no email")]
    problem = sendgrid_problem(settings)
    return [*checks, _vendor("sendgrid", problem, f"{sendgrid} accepts the API key", stand_in)]


def page_check(settings: Settings, to: str | None) -> Check:
    """One SMS through the adapter the notification activities use (no ledger: not a step)."""
    if to is None:
        return Check("test page", Outcome.SKIP, "not asked (--test-page +E164 sends one SMS)")
    try:
        valid = e164(to) == to
    except ValueError:
        valid = False
    if not valid:
        return Check(
            "test page", Outcome.FAIL, f"{to!r} is not an E.164 number (+<country><number>)"
        )
    telephony, _ = vendors_from_settings(settings)
    try:
        sid = telephony.send_sms(to=to, body=TEST_PAGE_TEXT, status_callback=None)
    except VendorError as exc:
        return Check("test page", Outcome.FAIL, f"SMS to {to} not sent: {exc}")
    return Check("test page", Outcome.PASS, f"SMS to {to} accepted ({sid}); check the phone")


async def run_checks(
    settings: Settings, roles: frozenset[Role], test_page: str | None
) -> list[Check]:
    checks = settings_checks(settings, roles)
    checks += await temporal_checks(settings)
    checks.append(policy_check(settings))
    checks += await asyncio.to_thread(vendor_checks, settings, roles)
    checks.append(await asyncio.to_thread(page_check, settings, test_page))
    return checks


class RoleChoice(StrEnum):
    ALL = "all"
    WORKER = "worker"
    API = "api"


def doctor(
    test_page: Annotated[
        str | None,
        typer.Option("--test-page", metavar="+E164", help="Also send one test SMS to this number"),
    ] = None,
    role: Annotated[
        RoleChoice, typer.Option(help="Check only the secrets this process holds")
    ] = RoleChoice.ALL,
) -> None:
    """Check settings, Temporal, search attributes, policies and vendor credentials."""
    settings = load_settings()
    roles = ALL_ROLES if role is RoleChoice.ALL else frozenset({Role(role.value)})
    checks = asyncio.run(run_checks(settings, roles, test_page))
    for check in checks:
        typer.echo(check.line())
    failed = sum(c.outcome is Outcome.FAIL for c in checks)
    passed = sum(c.outcome is Outcome.PASS for c in checks)
    typer.echo(f"{passed} passed, {failed} failed, {len(checks) - passed - failed} skipped")
    # Like the worker: a Temporal client's threads may abort a finalizing interpreter.
    exit_now(1 if failed else 0)
