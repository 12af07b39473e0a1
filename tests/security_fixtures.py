"""The trust-boundary stack: the real ticket workflows on a real Temporal dev server, the real
intake app in front of them, and a notifier that records every page (and its one-time code).

Tenants (seconds-scale policies, written to a temp dir):
- `acme` and `acme-eu`: names that share a prefix, for the id-isolation probes;
- `paging`: a critical ticket breaches 1 s after opening and pages the emergency line and
  Ana (SMS and a call), then Bob on the next step; the ack windows are long, so a breach
  stays escalating for the whole test.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from twilio.request_validator import RequestValidator

from intake.app import create_app
from slawatch.models import TICKET_WORKFLOW_TYPE, OpenTicketInput, TicketStatus, TicketWorkflowInput
from slawatch.settings import DEV_ACCOUNT_SID, Settings
from slawatch.tools.testing import ANA, EMERGENCY, seconds_policy, step
from tests.harness import Sent, StandInNotifier
from workers.worker import notify_worker, ticket_worker

BOB = "+40721555102"
TWILIO_TOKEN = "security-test-auth-token"
PUBLIC_BASE = "https://hooks.example.test"
TOKENS = {"acme": "tok-acme", "acme-eu": "tok-acme-eu", "paging": "tok-paging", "*": "tok-all"}
BOB_PIN = "98765432109876543210"  # twenty digits: longer PINs are allowed
_CODE = re.compile(r"Reply ([0-9]{4}) to acknowledge")


def pin_hash(pin: str, salt: str = "5a17") -> str:
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(salt), 1000).hex()
    return f"pbkdf2_sha256$1000${salt}${digest}"


def _paging_policy() -> str:
    text = seconds_policy(
        "paging",
        1,
        [
            step("sms, voice", 600, "roles: [primary], emergency_line: true"),
            step("sms", 600, "people: [bob]"),
        ],
    )
    bob = f"""  bob:
    name: Bob Example (EXAMPLE PERSON)
    phone: "{BOB}"
    email: bob.example@example.com
    pin_hash: "{pin_hash(BOB_PIN)}"
"""
    return text.replace("ladders:\n", bob + "ladders:\n")


def write_policies(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for tenant in ("acme", "acme-eu"):
        (folder / f"{tenant}.yaml").write_text(seconds_policy(tenant, 3600, [step("sms", 600)]))
    (folder / "paging.yaml").write_text(_paging_policy())
    return folder


@dataclass
class Stack:
    env: WorkflowEnvironment
    client: Client
    http: httpx.AsyncClient
    notifier: StandInNotifier
    task_queue: str

    def bearer(self, tenant: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKENS[tenant]}"}

    async def open(self, tenant: str, ticket_id: str | None = None) -> tuple[str, TicketStatus]:
        ticket_id = ticket_id or f"T-{uuid.uuid4().hex[:8]}"
        body = {"tenant": tenant, "ticket_id": ticket_id, "severity": "critical"}
        answer = await self.http.post("/v1/tickets", json=body, headers=self.bearer(tenant))
        assert answer.status_code == 201, answer.text
        return ticket_id, TicketStatus.model_validate(answer.json())

    async def start_legacy(
        self, wf_id: str, tenant: str, ticket_id: str
    ) -> WorkflowHandle[Any, Any]:
        """A ticket as the first version started it: under the ambiguous id form."""
        handle = await self.client.start_workflow(
            TICKET_WORKFLOW_TYPE,
            TicketWorkflowInput(ticket=OpenTicketInput(tenant=tenant, ticket_id=ticket_id)),
            id=wf_id,
            task_queue=self.task_queue,
        )
        # Its SlaTenant is published by its first evaluation: wait until visible to describe().
        for _ in range(200):
            desc = await handle.describe()
            if desc.search_attributes.get("SlaTenant"):
                return handle
            await asyncio.sleep(0.05)
        raise TimeoutError(f"{wf_id} never published its tenant")

    async def status(self, tenant: str, ticket_id: str) -> TicketStatus:
        handle = self.client.get_workflow_handle(f"ticket/{tenant}/{ticket_id}")
        result: TicketStatus = await handle.query("status", result_type=TicketStatus)
        return result

    async def paged(self, ticket_id: str, to: str, channel: str = "sms") -> Sent:
        """Wait until the ticket's escalation paged `to`, and the ticket knows (SlaPagedTo)."""
        wf = f"ticket/paging/{ticket_id}"
        for _ in range(300):
            sent = [
                s
                for s in self.notifier.sent
                if s.channel == channel and s.to == to and s.key.startswith(f"{wf}/")
            ]
            if sent:
                query = f"WorkflowId = '{wf}' AND SlaPagedTo = '{to}'"
                if [w async for w in self.client.list_workflows(query)]:
                    return sent[-1]
            await asyncio.sleep(0.05)
        raise TimeoutError(f"{to} was never paged for {wf}")

    async def twilio(
        self, path: str, form: dict[str, str], query: dict[str, str] | None = None, **extra: Any
    ) -> httpx.Response:
        """A webhook request exactly as Twilio signs it (our account, fresh SIDs by default)."""
        form = {
            "AccountSid": DEV_ACCOUNT_SID,
            "MessageSid": f"SM{uuid.uuid4().hex}",
            "CallSid": f"CA{uuid.uuid4().hex}",
            **form,
        }
        return await self.signed(path, form, query or {}, **extra)

    async def signed(
        self,
        path: str,
        form: dict[str, str],
        query: dict[str, str],
        token: str = TWILIO_TOKEN,
    ) -> httpx.Response:
        qs = urlencode(query)
        url = f"{PUBLIC_BASE}{path}" + (f"?{qs}" if qs else "")
        signature = RequestValidator(token).compute_signature(url, form)
        return await self.http.post(
            f"{path}?{qs}", data=form, headers={"X-Twilio-Signature": signature}
        )


def code_of(sent: Sent) -> str:
    match = _CODE.search(sent.text)
    assert match, f"no one-time code in the page: {sent.text!r}"
    return match.group(1)


@pytest.fixture
async def stack(dev_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Stack]:
    """The real workflows on the intake tests' dev server, each test on its own task queue."""
    env, queue = dev_env, f"sec-{uuid.uuid4().hex[:8]}"
    policies = write_policies(tmp_path / "policies")
    tokens = ";".join(f"{token}={tenant}" for tenant, token in TOKENS.items())
    settings = Settings(
        ticket_task_queue=queue,
        policy_dir=policies,
        data_dir=tmp_path / "data",
        api_tokens=SecretStr(tokens),
        twilio_auth_token=SecretStr(TWILIO_TOKEN),
        public_base_url=PUBLIC_BASE,
    )
    notifier = StandInNotifier(env)
    app = create_app(settings, env.client)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        ticket_worker(env.client, queue, policies),
        notify_worker(env.client, queue, notifier.activities(), None),
        httpx.AsyncClient(transport=transport, base_url="http://api.test") as http,
    ):
        yield Stack(env, env.client, http, notifier, queue)
        # Tickets left running would have no worker once this one stops: end them.
        query = f"TaskQueue = '{queue}' AND ExecutionStatus = 'Running'"
        async for wf in env.client.list_workflows(query):
            # Visibility lags: it may have finished already.
            with contextlib.suppress(RPCError):
                await env.client.get_workflow_handle(wf.id).terminate("test finished")


__all__ = ["ANA", "BOB", "BOB_PIN", "EMERGENCY", "Stack", "code_of", "stack"]
