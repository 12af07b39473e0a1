"""Vendor credentials are checked at start-up in live mode with one cheap authenticated read.

Twilio: GET the Account resource; SendGrid: GET /v3/scopes (the key's own scopes, readable by
any key). A tiny loopback server stands where api.twilio.com / api.sendgrid.com would be.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

import activities.clients
from activities.credentials import sendgrid_problem, twilio_problem
from slawatch.settings import Settings
from slawatch.tools.cli import app

SID = "AC" + "1" * 32
LIVE_SECRETS = ["tw-live-3c2b1a", "SG.live-9f8e7d", "helpdesk-5a6b7c"]
LIVE: dict[str, Any] = {
    "notifier_mode": "live",
    "twilio_account_sid": SID,
    "twilio_auth_token": SecretStr(LIVE_SECRETS[0]),
    "sendgrid_api_key": SecretStr(LIVE_SECRETS[1]),
    "api_tokens": SecretStr(f"{LIVE_SECRETS[2]}=*"),
    "public_base_url": "https://hooks.example.com",
}


@dataclass
class FakeVendor:
    """A loopback HTTP server answering every request alike; it records what it was asked."""

    status: int
    body: dict[str, Any]
    delay: float = 0.0
    seen: list[tuple[str, str, str]] = field(default_factory=list)
    url: str = ""


@contextmanager
def fake_vendor(
    status: int, body: dict[str, Any] | None = None, delay: float = 0.0
) -> Iterator[FakeVendor]:
    vendor = FakeVendor(status, body or {}, delay)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            vendor.seen.append((self.command, self.path, self.headers.get("Authorization", "")))
            time.sleep(vendor.delay)
            payload = json.dumps(vendor.body).encode()
            self.send_response(vendor.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    vendor.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield vendor
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("SLAWATCH_")]:
        monkeypatch.delenv(name)


def live(**overrides: Any) -> Settings:
    return Settings(**{**LIVE, **overrides})


TWILIO_401 = {"code": 20003, "message": "Authenticate", "status": 401}


def test_live_twilio_401_names_the_auth_token(monkeypatch: pytest.MonkeyPatch) -> None:
    with fake_vendor(401, TWILIO_401) as twilio:
        monkeypatch.setattr(activities.clients, "TWILIO_LIVE_URL", twilio.url)
        problem = twilio_problem(live())
    assert problem is not None
    assert problem.startswith("SLAWATCH_TWILIO_AUTH_TOKEN was refused by Twilio (401)")
    # The cheap read: the Account resource, with Basic auth of our SID.
    method, path, auth = twilio.seen[0]
    assert (method, path) == ("GET", f"/2010-04-01/Accounts/{SID}.json")
    assert auth.startswith("Basic ")
    assert not any(secret in problem for secret in LIVE_SECRETS)


def test_live_twilio_suspended_account_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    with fake_vendor(200, {"sid": SID, "status": "suspended"}) as twilio:
        monkeypatch.setattr(activities.clients, "TWILIO_LIVE_URL", twilio.url)
        assert twilio_problem(live()) == (
            "the Twilio account (SLAWATCH_TWILIO_ACCOUNT_SID) is suspended, not active"
        )
    with fake_vendor(200, {"sid": SID, "status": "active"}) as twilio:
        monkeypatch.setattr(activities.clients, "TWILIO_LIVE_URL", twilio.url)
        assert twilio_problem(live()) is None


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            401,
            {"errors": [{"message": "bad key"}]},
            "SLAWATCH_SENDGRID_API_KEY was refused by SendGrid (401)",
        ),
        (
            200,
            {"scopes": ["user.profile.read"]},
            "SLAWATCH_SENDGRID_API_KEY lacks the mail.send permission; grant Mail Send",
        ),
        (200, {"scopes": ["mail.send", "user.profile.read"]}, None),
    ],
    ids=["refused", "no-mail-send", "ok"],
)
def test_live_sendgrid_reads_the_keys_own_scopes(
    monkeypatch: pytest.MonkeyPatch, status: int, body: dict[str, Any], expected: str | None
) -> None:
    with fake_vendor(status, body) as sendgrid:
        monkeypatch.setattr(activities.clients, "SENDGRID_LIVE_URL", sendgrid.url)
        assert sendgrid_problem(live()) == expected
    assert sendgrid.seen == [("GET", "/v3/scopes", f"Bearer {LIVE_SECRETS[1]}")]


def test_a_slow_vendor_is_a_bounded_network_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with fake_vendor(200, {"status": "active"}, delay=2.0) as slow:
        monkeypatch.setattr(activities.clients, "TWILIO_LIVE_URL", slow.url)
        monkeypatch.setattr(activities.clients, "SENDGRID_LIVE_URL", slow.url)
        started = time.monotonic()
        twilio, sendgrid = twilio_problem(live(), 0.3), sendgrid_problem(live(), 0.3)
        assert time.monotonic() - started < 1.9
    assert twilio == f"Twilio at {slow.url} did not answer within 0.3 s (network error)"
    assert sendgrid == f"SendGrid at {slow.url} did not answer within 0.3 s (network error)"


def test_an_unreachable_vendor_says_network_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with fake_vendor(200) as gone:
        url = gone.url
    monkeypatch.setattr(activities.clients, "TWILIO_LIVE_URL", url)
    monkeypatch.setattr(activities.clients, "SENDGRID_LIVE_URL", url)
    assert (
        twilio_problem(live()) == f"cannot reach Twilio at {url}: network error (ConnectionError)"
    )
    assert sendgrid_problem(live()) == f"cannot reach SendGrid at {url}: network error (URLError)"


def _start(command: str, env: dict[str, str]) -> Any:
    return CliRunner().invoke(app, [command], env=env)


def _env(**values: str) -> dict[str, str]:
    env = {
        f"SLAWATCH_{k.upper()}": (v.get_secret_value() if isinstance(v, SecretStr) else str(v))
        for k, v in LIVE.items()
    }
    # Should a check ever let the command through, it fails at once and differently.
    return env | {"SLAWATCH_TEMPORAL_ADDRESS": "127.0.0.1:1"} | values


def test_live_worker_refuses_to_start_when_twilio_says_401(monkeypatch: pytest.MonkeyPatch) -> None:
    with fake_vendor(401, TWILIO_401) as twilio, fake_vendor(200, {"scopes": ["mail.send"]}) as sg:
        monkeypatch.setattr(activities.clients, "TWILIO_LIVE_URL", twilio.url)
        monkeypatch.setattr(activities.clients, "SENDGRID_LIVE_URL", sg.url)
        result = _start("worker", _env())
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: SLAWATCH_TWILIO_AUTH_TOKEN was refused by Twilio (401);"
        " check it belongs to SLAWATCH_TWILIO_ACCOUNT_SID"
    ]
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert len(sg.seen) == 1  # SendGrid was asked too: its answer was fine


def test_live_api_checks_twilio_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # The API pod has no SendGrid key (deploy/kubernetes/api.yaml): it must not be asked for one.
    with fake_vendor(401, {"errors": []}) as sg, fake_vendor(401, TWILIO_401) as twilio:
        monkeypatch.setattr(activities.clients, "TWILIO_LIVE_URL", twilio.url)
        monkeypatch.setattr(activities.clients, "SENDGRID_LIVE_URL", sg.url)
        result = _start("api", _env(SLAWATCH_SENDGRID_API_KEY="SG.dev-key"))
    assert result.exit_code == 1
    assert [line.split(" was ")[0] for line in result.stderr.splitlines()] == [
        "error: SLAWATCH_TWILIO_AUTH_TOKEN"
    ]
    assert sg.seen == []


def test_live_worker_refuses_when_sendgrid_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    with fake_vendor(200) as gone:
        url = gone.url
    with fake_vendor(200, {"sid": SID, "status": "active"}) as twilio:
        monkeypatch.setattr(activities.clients, "TWILIO_LIVE_URL", twilio.url)
        monkeypatch.setattr(activities.clients, "SENDGRID_LIVE_URL", url)
        result = _start("worker", _env())
    assert result.exit_code == 1
    assert result.stderr == f"error: cannot reach SendGrid at {url}: network error (URLError)\n"


def test_stand_in_mode_starts_without_asking_vendors(tmp_path: Path) -> None:
    # The stand-ins may start after the worker (separate processes): stand-in mode never asks.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLAWATCH_")}
    slawatch = str(Path(sys.executable).parent / "slawatch")
    with fake_vendor(401, TWILIO_401) as standin:
        env |= {"SLAWATCH_TEMPORAL_ADDRESS": "127.0.0.1:1", "SLAWATCH_LOG_FORMAT": "json"}
        env |= {"SLAWATCH_DATA_DIR": str(tmp_path)}
        env |= {"SLAWATCH_TWILIO_BASE_URL": standin.url, "SLAWATCH_SENDGRID_BASE_URL": standin.url}
        done = subprocess.run(
            [slawatch, "worker"], env=env, capture_output=True, text=True, timeout=60
        )
    assert standin.seen == []
    # It got as far as Temporal, which is not there.
    assert done.returncode == 1 and "127.0.0.1:1" in done.stderr, done.stderr


class _Exited(Exception):
    pass


@pytest.mark.parametrize("command", ["worker", "api"])
def test_a_failed_start_exits_without_finalizing(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # After a Temporal client was tried, interpreter finalization aborted about one exit in
    # five (SIGABRT and a fatal-error dump instead of exit 1): a supervisor saw a crash. So a
    # failed start leaves through exit_now, never through typer.Exit.
    codes: list[int] = []

    def exit_now(code: int = 0) -> None:
        codes.append(code)
        raise _Exited

    async def unreachable(*_: object, **__: object) -> None:
        raise RuntimeError("Failed client connect: connection refused")

    monkeypatch.setattr("workers.cli.exit_now", exit_now)
    monkeypatch.setattr("workers.processes.exit_now", exit_now)
    monkeypatch.setattr("slawatch.tools.cli_ticket.exit_now", exit_now)
    monkeypatch.setattr("workers.processes.configure_logging", lambda *_: None)
    monkeypatch.setattr("slawatch.tools.cli_ticket.configure_logging", lambda *_: None)
    # workers.processes imports it when the worker runs (the supervisor of N processes doesn't).
    monkeypatch.setattr("workers.worker.run_worker", unreachable)
    monkeypatch.setattr("slawatch.tools.cli_ticket.serve_api", unreachable)
    result = CliRunner().invoke(app, [command], env={"SLAWATCH_TEMPORAL_ADDRESS": "127.0.0.1:1"})
    assert isinstance(result.exception, _Exited)
    assert codes == [1]
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "connection refused" in result.stderr
