"""`slawatch dev` as a subprocess on free loopback ports with a policy that breaches in seconds."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from slawatch.tools.process import poll_until, stop_process
from slawatch.tools.standins.outbox import OutboxRecord, outbox_dir, read_outboxes
from slawatch.tools.standins.tools import free_port
from slawatch.tools.testing import seconds_policy, step

T = TypeVar("T")
TENANT = "e2e"
API_TOKEN = "e2e-api-token"
TWILIO_TOKEN = "e2e-twilio-auth-token"

# Critical: response due 3 s after opening. Ladder: SMS the emergency line, then call it, then
# page Ana; the waits are long enough for the test to acknowledge the call in between.
POLICY = seconds_policy(
    TENANT,
    3,
    [step("sms", 3), step("voice", 30), step("sms, voice", 30, "roles: [primary]")],
)
# A second tenant for outage grouping (tests/test_grouping_e2e.py): its first step texts the
# emergency line and Ana; pages within 12 s of the first fold into one digest.
GROUPING_TENANT = "outage"
GROUPING_POLICY = seconds_policy(
    GROUPING_TENANT,
    3,
    [step("sms", 60, "emergency_line: true, roles: [primary]"), step("voice", 60)],
    grouping_seconds=12,
)


@dataclass
class Stack:
    api: str
    ui: str
    data_dir: Path
    log: Path

    def http(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        return httpx.Client(base_url=self.api, headers=headers, timeout=30)

    def outbox(self) -> list[OutboxRecord]:
        return read_outboxes(outbox_dir(self.data_dir))


def wait_for(what: str, check: Callable[[], T | None], limit: float = 60.0) -> T:
    """poll_until for the synchronous end-to-end tests (no event loop runs in them)."""
    result: T = asyncio.run(poll_until(what, check, limit))
    return result


@contextlib.contextmanager
def dev_stack(root: Path) -> Iterator[Stack]:
    """`slawatch dev` on fresh free ports with its data (and policies) under `root`."""
    (root / "policies").mkdir(exist_ok=True)
    (root / "policies" / f"{TENANT}.yaml").write_text(POLICY)
    (root / "policies" / f"{GROUPING_TENANT}.yaml").write_text(GROUPING_POLICY)
    api_port, ui_port, temporal_port = free_port(), free_port(), free_port()
    twilio_port, sendgrid_port = free_port(), free_port()
    env = {
        **os.environ,
        "SLAWATCH_DATA_DIR": str(root / "data"),
        "SLAWATCH_POLICY_DIR": str(root / "policies"),
        "SLAWATCH_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "SLAWATCH_API_PORT": str(api_port),
        "SLAWATCH_PUBLIC_BASE_URL": f"http://127.0.0.1:{api_port}",
        "SLAWATCH_TWILIO_BASE_URL": f"http://127.0.0.1:{twilio_port}",
        "SLAWATCH_SENDGRID_BASE_URL": f"http://127.0.0.1:{sendgrid_port}",
        "SLAWATCH_API_TOKENS": f"{API_TOKEN}=*",
        "SLAWATCH_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "SLAWATCH_LOG_FORMAT": "json",
    }
    log = root / f"dev-{api_port}.log"
    # The README's command itself, from the same virtualenv as the tests.
    slawatch = str(Path(sys.executable).parent / "slawatch")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [slawatch, "dev", "--ui-port", str(ui_port)], env=env, stdout=out, stderr=out
        )
    stack = Stack(f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{ui_port}", root / "data", log)
    try:
        wait_for("slawatch dev to start", lambda: _up(stack, proc), limit=90)
        yield stack
    finally:
        stop_process(proc, grace=30, first=signal.SIGINT)
        print(log.read_text(errors="replace")[-3000:])


@pytest.fixture(scope="session")
def e2e_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with dev_stack(tmp_path_factory.mktemp("e2e")) as running:
        yield running


def _up(stack: Stack, proc: subprocess.Popen[bytes]) -> bool:
    if proc.poll() is not None:
        raise AssertionError(
            f"slawatch dev exited: {stack.log.read_text(errors='replace')[-3000:]}"
        )
    if "slawatch dev is running" not in stack.log.read_text(errors="replace"):
        return False
    try:
        return httpx.get(f"{stack.api}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
