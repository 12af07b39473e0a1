"""Outbound SLA webhooks: signed, in order per ticket, nothing lost while a receiver is down,
and never in the way of the clock or the pages (docs/helpdesk.md, "Outbound")."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr
from temporalio.client import WorkflowHandle

from activities.outbound import OutboundActivities
from slawatch.models import AcknowledgeInput, CloseInput, ResolveInput
from slawatch.outbound import sign, verify
from slawatch.safety import Role, production_problems
from slawatch.settings import Settings
from tests.harness import Harness
from tests.outbound_fixtures import Receiver, outbound_harness, policy_with, serve

SECRET = "whsec_" + "k3" * 16
AUDIT_SECRET = "whsec_" + "a7" * 16
BERLIN = ZoneInfo("Europe/Berlin")
OPENED = datetime(2026, 12, 8, 8, 0, tzinfo=BERLIN)


async def until(what: str, check: object, h: Harness, limit: float = 30.0) -> None:
    """Let skipped time pass in small steps (retries back off in it) until `check()`."""
    deadline = asyncio.get_running_loop().time() + limit
    while not check():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await h.env.sleep(timedelta(seconds=2))
        await asyncio.sleep(0.05)


async def raw_history(handle: WorkflowHandle[Any, Any]) -> bytes:
    """Every event's wire bytes: payloads appear undecoded, as a secret would."""
    return b"".join([e.SerializeToString() async for e in handle.fetch_history_events()])


def test_signature_is_hmac_of_timestamp_dot_body_and_refuses_replays_and_other_secrets() -> None:
    body, ts = b'{"id":"evt_1"}', "1764662400"
    signature = sign(SECRET, ts, body)
    assert verify(SECRET, ts, body, signature, now=1764662400 + 10)
    assert not verify(AUDIT_SECRET, ts, body, signature, now=1764662400)  # another secret
    assert not verify(SECRET, ts, body + b" ", signature, now=1764662400)  # another body
    assert not verify(SECRET, "1764662401", body, signature, now=1764662400)  # another time
    assert not verify(SECRET, ts, body, signature, now=1764662400 + 301)  # a replay


async def test_receiver_down_for_a_minute_loses_nothing_and_delays_no_page(tmp_path: Path) -> None:
    ops, audit = Receiver(SECRET), Receiver("whsec_the-receiver-has-another-secret")
    with serve(ops) as ops_url, serve(audit) as audit_url:
        policy_dir = policy_with(
            tmp_path,
            "prokuria",
            "outbound:\n"
            f"  max_backoff_seconds: 5\n"
            f"  webhooks:\n"
            f"    - {{name: ops, url: '{ops_url}'}}\n"
            f"    - {{name: audit, url: '{audit_url}', events: [sla.breached]}}\n",
        )
        secrets = {"prokuria.ops": SECRET, "prokuria.audit": AUDIT_SECRET}
        async with outbound_harness(
            policy_dir, lambda h: OutboundActivities(secrets, {}, {}).all()
        ) as h:
            await h.advance_to(OPENED)
            t1 = await h.open("prokuria", "W-1", severity="critical", opened_at=OPENED)
            t2 = await h.open("prokuria", "W-2", severity="critical", opened_at=OPENED)
            await h.advance_to(OPENED + timedelta(minutes=49))
            await until("both at-risk events", lambda: len(ops.types("W-1")) == 2, h)
            # Down from a minute before the breach until a minute after it.
            ops.down = True
            await h.advance_to(OPENED + timedelta(minutes=59))
            await h.advance_to(OPENED + timedelta(minutes=60))
            await until("the pages", lambda: len(h.notifier.to("sms")) >= 4, h, limit=5)
            pages = h.notifier.to("sms")
            # Both tickets paged at the breach instant, within the second: nothing waited on ops.
            breach = OPENED + timedelta(minutes=60)
            assert all(timedelta(0) <= p.at - breach < timedelta(seconds=1) for p in pages)
            await h.update(t1, "acknowledge", AcknowledgeInput(responder="ana", channel="api"))
            await h.advance_to(OPENED + timedelta(minutes=61))
            assert 503 in ops.answers and ops.types("W-1") == ["sla.at_risk"] * 2
            ops.down = False
            await h.update(t2, "resolve", ResolveInput())
            await h.update(t1, "resolve", ResolveInput())
            await h.update(t1, "close", CloseInput())
            await until("every event", lambda: len(ops.types()) >= 9, h)
    at_risk = ["sla.at_risk", "sla.at_risk"]
    # In order per ticket: ops saw each ticket's events exactly as they happened.
    assert ops.types("W-1") == [*at_risk, "sla.breached", "sla.acknowledged", "sla.met"]
    assert ops.types("W-2") == [*at_risk, "sla.breached", "sla.met"]
    w1 = [e for e in ops.events if e["ticket_id"] == "W-1"]
    assert [e["data"]["percent"] for e in w1 if e["type"] == "sla.at_risk"] == [50, 80]
    met = [e for e in ops.events if e["type"] == "sla.met"]
    assert {e["data"]["target"] for e in met} == {"resolution"}
    breached = next(e for e in ops.events if e["type"] == "sla.breached")
    assert breached["data"]["sla"]["response"]["state"] == "breached"
    assert len({e["id"] for e in ops.events}) == len(ops.events)
    # The audit receiver holds another secret: it refused every delivery, accepted none.
    assert audit.events == [] and set(audit.answers) == {401} and len(audit.answers) >= 2


async def test_the_secret_never_enters_history_and_tenants_without_webhooks_pay_nothing(
    tmp_path: Path,
) -> None:
    ops = Receiver(SECRET)
    with serve(ops) as url:
        policy_dir = policy_with(
            tmp_path, "prokuria", f"outbound:\n  webhooks:\n    - {{name: ops, url: '{url}'}}\n"
        )
        secrets = {"prokuria.ops": SECRET}
        async with outbound_harness(
            policy_dir, lambda h: OutboundActivities(secrets, {}, {}).all()
        ) as h:
            await h.advance_to(OPENED)
            handle = await h.open("prokuria", "S-1", severity="major")
            await h.advance_to(OPENED + timedelta(minutes=50))
            await until("the at-risk event", lambda: len(ops.events) == 1, h)
            history = await raw_history(handle)
    assert ops.events[0]["type"] == "sla.at_risk"
    # A ticket opened by this code has the patch without a marker (workflows/versions.py).
    assert b"outbound-webhooks" not in history and b"deliver_webhook" in history
    assert SECRET.encode() not in history

    # The seed (notices only, and this ticket has no customer): no plan, no activity.
    plain = policy_with(tmp_path, "prokuria", "")
    async with outbound_harness(plain, lambda h: OutboundActivities({}, {}, {}).all()) as h:
        await h.advance_to(OPENED)
        handle = await h.open("prokuria", "S-2", severity="major")
        await h.advance_to(OPENED + timedelta(minutes=50))
        history = await raw_history(handle)
    assert b"outbound-webhooks" not in history and b"deliver_webhook" not in history


@pytest.mark.parametrize(
    ("setting", "spec", "needle"),
    [
        ("webhook_secrets", "prokuria.ops=tiny-secret-1", "'prokuria.ops' is shorter than 24"),
        ("webhook_secrets", "tiny-secret-1", "SLAWATCH_WEBHOOK_SECRETS entry 1"),
        ("zendesk_api_tokens", "prokuria=tiny-secret-1", "'prokuria' is not email:api-token"),
    ],
)
def test_weak_or_malformed_outbound_secrets_stop_the_worker_outside_the_local_mode(
    setting: str, spec: str, needle: str
) -> None:
    local = Settings().model_copy(update={setting: SecretStr(spec)})
    live = local.model_copy(update={"api_host": "0.0.0.0"})
    problems = production_problems(live, {Role.WORKER})
    assert any(needle in p for p in problems), problems
    assert not any("tiny-secret" in p for p in problems)  # never the secret itself
    assert production_problems(local, {Role.WORKER}) == []


def test_the_verification_snippet_in_the_docs_accepts_our_signature_and_nothing_else() -> None:
    doc = (Path(__file__).parents[1] / "docs" / "helpdesk.md").read_text()
    snippet = next(
        b for b in re.findall(r"```python\n(.*?)```", doc, re.DOTALL) if "def verify" in b
    )
    scope: dict[str, Any] = {}
    exec(snippet, scope)  # the docs' own code, as a receiver would paste it
    body, ts = b'{"id":"evt_1","type":"sla.breached"}', str(int(time.time()))
    headers = {"Slawatch-Timestamp": ts, "Slawatch-Signature": sign(SECRET, ts, body)}
    assert scope["verify"](SECRET, headers, body)
    assert not scope["verify"](AUDIT_SECRET, headers, body)
    assert not scope["verify"](SECRET, headers, body + b"x")
    stale = str(int(ts) - 600)  # correctly signed, ten minutes ago: a replay
    old = {"Slawatch-Timestamp": stale, "Slawatch-Signature": sign(SECRET, stale, body)}
    assert not scope["verify"](SECRET, old, body)
