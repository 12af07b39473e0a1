"""The help-desk test stack: the real ticket workflow on the intake tests' dev server behind the
real app, with a policy that maps Zendesk, Jira SM and email, and senders that sign each delivery
as its help desk does. The deliveries are the fixtures in tests/fixtures/helpdesk/.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from intake.app import create_app
from policies.loader import BUILTIN_DIR
from slawatch.settings import Settings
from tests.harness import StandInNotifier
from workers.worker import notify_worker, ticket_worker

# dev_env and desk are fixtures: test modules import them for pytest.
__all__ = ["Desk", "desk"]

FIXTURES = Path(__file__).parent / "fixtures" / "helpdesk"
TOKEN = "tok-helpdesk"
ZENDESK_SECRET = "zendesk-signing-secret-0123456789abcdef"
JIRA_SECRET = "jira-webhook-secret-0123456789abcdef"
HELPDESK = """
class_rules:
  - {channel: phone, subject_contains: down, class: critical}
  - {language: de, class: major}
helpdesk:
  email:
    allowed_domains: [customer.example]
    rules: [{subject_contains: outage, class: critical}]
  zendesk:
    priorities: {urgent: critical, high: major, normal: minor, low: minor}
  jira:
    priorities: {Highest: critical, High: major, Medium: minor, Low: minor}
    statuses: {"Waiting for customer": pause}
"""


# SendGrid signs Inbound Parse posts with its private key; the tenant configures the public one.
PARSE_KEY = ec.generate_private_key(ec.SECP256R1())
PARSE_PUBLIC_KEY = base64.b64encode(
    PARSE_KEY.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
).decode()


@dataclass
class Desk:
    http: httpx.AsyncClient
    client: Client
    notifier: StandInNotifier

    async def zendesk(
        self, body: dict[str, Any], secret: str = ZENDESK_SECRET, stamp: str | None = None
    ) -> httpx.Response:
        raw = json.dumps(body).encode()
        stamp = stamp or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        digest = hmac.new(secret.encode(), stamp.encode() + raw, hashlib.sha256).digest()
        headers = {
            "Content-Type": "application/json",
            "X-Zendesk-Webhook-Signature": base64.b64encode(digest).decode(),
            "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        }
        return await self.http.post("/v1/helpdesk/zendesk/prokuria", content=raw, headers=headers)

    async def jira(
        self, body: dict[str, Any], secret: str = JIRA_SECRET, delivery: str | None = None
    ) -> httpx.Response:
        raw = json.dumps(body).encode()
        signature = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature": f"sha256={signature}",
            "X-Atlassian-Webhook-Identifier": delivery or uuid.uuid4().hex,
        }
        return await self.http.post("/v1/helpdesk/jira/prokuria", content=raw, headers=headers)

    async def email(
        self, fields: dict[str, str], key: ec.EllipticCurvePrivateKey = PARSE_KEY
    ) -> httpx.Response:
        """A mail as SendGrid Inbound Parse posts it: multipart/form-data, signed."""
        form = {name: (None, value) for name, value in fields.items()}
        built = httpx.Request("POST", "http://api.test/", files=form)
        raw = built.read()
        stamp = str(int(datetime.now(UTC).timestamp()))
        signature = key.sign(stamp.encode() + raw, ec.ECDSA(hashes.SHA256()))
        headers = {
            "Content-Type": built.headers["Content-Type"],
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        }
        return await self.http.post("/v1/helpdesk/email/prokuria", content=raw, headers=headers)

    async def native(self, ticket_id: str, events: list[dict[str, Any]], **opening: Any) -> None:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        body = {"tenant": "prokuria", "ticket_id": ticket_id, **opening}
        assert (await self.http.post("/v1/tickets", json=body, headers=auth)).status_code == 201
        for event in events:
            path = f"/v1/tickets/prokuria/{ticket_id}/events"
            reply = await self.http.post(path, json=event, headers=auth)
            assert reply.status_code == 200, (event, reply.text)

    async def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """A native API request with the module's token."""
        return await self.http.post(path, json=body, headers={"Authorization": f"Bearer {TOKEN}"})

    async def status(self, ticket_id: str) -> dict[str, Any]:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        reply = await self.http.get(f"/v1/tickets/prokuria/{ticket_id}", headers=auth)
        assert reply.status_code == 200, reply.text
        body: dict[str, Any] = reply.json()
        return body


@pytest.fixture(scope="module")
async def desk(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Desk]:
    """The real workflows, one worker and one app for the module (the tickets are distinct)."""
    root = tmp_path_factory.mktemp("helpdesk")
    policies = root / "policies"
    policies.mkdir()
    prokuria = (BUILTIN_DIR / "prokuria.yaml").read_text(encoding="utf-8")
    (policies / "prokuria.yaml").write_text(prokuria + HELPDESK, encoding="utf-8")
    cargotask = (BUILTIN_DIR / "cargotask.yaml").read_text(encoding="utf-8")
    (policies / "cargotask.yaml").write_text(cargotask, encoding="utf-8")
    queue = f"desk-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        ticket_task_queue=queue,
        policy_dir=policies,
        data_dir=root / "data",
        api_tokens=SecretStr(f"{TOKEN}=prokuria"),
        zendesk_secrets=SecretStr(f"prokuria={ZENDESK_SECRET};cargotask={ZENDESK_SECRET}"),
        jira_secrets=SecretStr(f"prokuria={JIRA_SECRET}"),
        email_parse_keys=f"prokuria={PARSE_PUBLIC_KEY}",
        public_base_url="https://hooks.example.test",
        api_docs=True,
    )
    app = create_app(settings, dev_env.client)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    notifier = StandInNotifier(dev_env)
    async with (
        ticket_worker(dev_env.client, queue, policies),
        notify_worker(dev_env.client, queue, notifier.activities(), None),
        httpx.AsyncClient(transport=transport, base_url="http://api.test") as http,
    ):
        yield Desk(http, dev_env.client, notifier)
        query = f"TaskQueue = '{queue}' AND ExecutionStatus = 'Running'"
        async for wf in dev_env.client.list_workflows(query):
            with contextlib.suppress(RPCError):  # visibility lags: it may have ended already
                await dev_env.client.get_workflow_handle(wf.id).terminate("test finished")


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def zendesk_sequence(number: str, opened: datetime) -> list[dict[str, Any]]:
    """The Zendesk fixtures for ticket `number`, their times moved so that it opens at `opened`."""
    bodies = [json.loads(p.read_text()) for p in sorted((FIXTURES / "zendesk").glob("*.json"))]
    shift = opened - _at(bodies[0]["detail"]["created_at"])
    for body in bodies:
        body["id"] = f"{body['id']}-{number}"  # each run's deliveries are new to the store
        body["time"] = (_at(body["time"]) + shift).isoformat()
        body["detail"]["id"] = number
        body["detail"]["created_at"] = opened.isoformat()
        body["subject"] = f"zen:ticket:{number}"
    return bodies


JIRA_TIME = "%Y-%m-%dT%H:%M:%S.000%z"  # Jira's own: 2026-04-17T09:18:10.000+0200


def _jira_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.000%z")


def jira_sequence(key: str, opened: datetime) -> list[dict[str, Any]]:
    """The Jira fixtures for issue `key`, their times moved so that it opens at `opened`."""
    bodies = [json.loads(p.read_text()) for p in sorted((FIXTURES / "jira").glob("*.json"))]
    shift = opened - _jira_time(bodies[0]["issue"]["fields"]["created"])
    for body in bodies:
        body["issue"]["key"] = key
        body["issue"]["fields"]["created"] = opened.strftime(JIRA_TIME)
        # Jira's instant for the event, in ms: what the adapter passes as the event's `at`.
        stamp = datetime.fromtimestamp(body["timestamp"] / 1000, UTC) + shift
        body["timestamp"] = int(stamp.timestamp() * 1000)
        if "comment" in body:
            at = _jira_time(body["comment"]["created"]) + shift
            body["comment"]["created"] = at.strftime(JIRA_TIME)
    return bodies


TARGET = ("state", "target", "due", "met_at", "business_time_left", "breached_at")


def clock(status: dict[str, Any]) -> dict[str, Any]:
    """What must end exactly the same: class, phase, SLA state, both targets to the second,
    the breaches, and the event history with each event's help-desk instant."""
    return {
        "opened_at": status["opened_at"],
        "severity": status["severity"],
        "phase": status["phase"],
        "sla_state": status["sla_state"],
        "response": {k: status["response"][k] for k in TARGET},
        "resolution": {k: status["resolution"][k] for k in TARGET},
        "breaches": status["breaches"],
        "history": [(h["event"], h["happened_at"]) for h in status["history"]],
    }


def zendesk_time(body: dict[str, Any]) -> str:
    return str(body["time"])


def jira_time(body: dict[str, Any]) -> str:
    """The instant the Jira adapter uses: the comment's for a reply, else the event's."""
    if "comment" in body:
        return _jira_time(body["comment"]["created"]).astimezone(UTC).isoformat()
    return datetime.fromtimestamp(body["timestamp"] / 1000, UTC).isoformat()


def opening_time() -> datetime:
    # Whole seconds, as the help desks write them; far enough back for the fixtures' replies.
    return (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)


def mails(run: str) -> dict[str, dict[str, str]]:
    """The email fixtures, their Message-IDs made unique to this run (the store remembers)."""
    out = {}
    for path in sorted((FIXTURES / "email").glob("*.json")):
        text = path.read_text().replace("@mail.customer.example>", f".{run}@mail.customer.example>")
        out[path.stem] = json.loads(
            text.replace("abc123@spam.example", f"abc123.{run}@spam.example")
        )
    return out
