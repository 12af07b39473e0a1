"""Fixtures that run the real Twilio (Prism + proxy) and SendGrid stand-ins on loopback.

Registered once in tests/conftest.py (`pytest_plugins`).
One set of stand-ins serves the whole session (Prism takes ~1.5 s to start); each test gets
fresh settings with its own data_dir (so its own ledger) and its faults reset afterwards.
Outboxes are shared, so tests find their records by idempotency key (`records_for`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from slawatch.settings import Settings
from slawatch.tools.standins.faults import FaultPlan
from slawatch.tools.standins.outbox import OutboxRecord, read_jsonl, read_outboxes
from slawatch.tools.standins.stack import Standins, start_standins
from slawatch.tools.standins.tools import free_port

__all__ = ["records_for", "standins", "standins_settings", "twilio_lines_for", "unique_key"]

TWILIO_TOKEN = "test-auth-token"
SENDGRID_KEY = "SG.test-key"


@pytest.fixture(scope="session")
def standins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standins]:
    """Prism, the recording Twilio proxy and the SendGrid capture server, for the session."""
    running = start_standins(
        tmp_path_factory.mktemp("standins"),
        twilio_port=free_port(),
        prism_port=free_port(),
        sendgrid_port=free_port(),
        twilio_auth_token=TWILIO_TOKEN,
        sendgrid_api_key=SENDGRID_KEY,
    )
    yield running
    running.stop()


@pytest.fixture
def standins_settings(standins: Standins, tmp_path: Path) -> Iterator[Settings]:
    """Settings pointing the real vendor clients at the stand-ins, with a fresh data_dir."""
    yield Settings(
        notifier_mode="stand-in",
        twilio_base_url=standins.twilio.url,
        twilio_auth_token=SecretStr(TWILIO_TOKEN),
        sendgrid_base_url=standins.sendgrid.url,
        sendgrid_api_key=SecretStr(SENDGRID_KEY),
        public_base_url="https://hooks.example.test",
        data_dir=tmp_path,
    )
    standins.twilio.standin.faults = FaultPlan()
    standins.sendgrid.standin.faults = FaultPlan()


def unique_key(label: str = "step") -> str:
    """An idempotency key no other test uses, shaped like the workflow's."""
    return f"ticket-prokuria-T{uuid.uuid4().hex[:8]}/breach-1/{label}"


def records_for(standins: Standins, key: str) -> list[OutboxRecord]:
    """Every request the stand-ins saw for one idempotency key."""
    return [r for r in read_outboxes(standins.outbox_dir) if r.idempotency_key == key]


def twilio_lines_for(standins: Standins, key: str) -> list[dict[str, Any]]:
    """The raw Twilio outbox lines (all form fields) whose StatusCallback carries `key`."""
    found = []
    for line in read_jsonl(standins.twilio.standin.outbox.path):
        callback = line.get("form", {}).get("StatusCallback", "")
        if parse_qs(urlsplit(callback).query).get("key") == [key]:
            found.append(line)
    return found
