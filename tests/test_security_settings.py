"""Development secrets are refused outside the local stand-in mode; docs and empty tokens too.

The local stand-in mode is: SLAWATCH_NOTIFIER_MODE=stand-in, a loopback SLAWATCH_API_HOST and a
loopback SLAWATCH_PUBLIC_BASE_URL. Anywhere else `slawatch worker` / `slawatch api` refuse to
start with one line per setting while a secret is empty or still its built-in development value.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment
from twilio.request_validator import RequestValidator

from intake.app import create_app
from slawatch.messages import STATUS_CALLBACK_PATH
from slawatch.safety import ALL_ROLES, Role, is_loopback, production_problems, why_not_local
from slawatch.settings import DEV_ACCOUNT_SID, Settings
from slawatch.tools.process import stop_process
from slawatch.tools.standins.tools import free_port
from slawatch.tools.startup import refuse_unsafe_start

# Values a real deployment would set: none of them may ever appear in output.
REAL: dict[str, Any] = {
    "api_tokens": SecretStr("helpdesk-7f3a9c1e5b=*"),
    "twilio_account_sid": "AC" + "1" * 32,
    "twilio_auth_token": SecretStr("tw-real-9d8c7b6a"),
    "sendgrid_api_key": SecretStr("SG.real-5e4d3c2b"),
}
REAL_TEXTS = ["helpdesk-7f3a9c1e5b", "tw-real-9d8c7b6a", "SG.real-5e4d3c2b"]

# Each condition that alone leaves the local stand-in mode (live mode keeps an https URL on
# loopback, so that the notifier mode is the only reason).
CONDITIONS: dict[str, dict[str, Any]] = {
    "live": {"notifier_mode": "live", "public_base_url": "https://127.0.0.1:8443"},
    "public-api-host": {"api_host": "0.0.0.0"},
    "public-base-url": {"public_base_url": "https://hooks.example.com"},
}

# (environment variable, settings field, development value, empty value)
SECRETS = [
    ("SLAWATCH_API_TOKENS", "api_tokens", SecretStr("dev-token=*"), SecretStr("")),
    ("SLAWATCH_TWILIO_AUTH_TOKEN", "twilio_auth_token", SecretStr("dev-auth-token"), SecretStr("")),
    ("SLAWATCH_SENDGRID_API_KEY", "sendgrid_api_key", SecretStr("SG.dev-key"), SecretStr("")),
    ("SLAWATCH_TWILIO_ACCOUNT_SID", "twilio_account_sid", DEV_ACCOUNT_SID, ""),
]


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("SLAWATCH_")]:
        monkeypatch.delenv(name)


def settings(**overrides: Any) -> Settings:
    return Settings(**{**REAL, **overrides})


def test_defaults_are_the_local_stand_in_mode_and_start() -> None:
    # What `slawatch dev` runs with on a fresh clone: nothing to set, nothing refused.
    defaults = Settings()
    assert why_not_local(defaults) == []
    assert production_problems(defaults) == []
    refuse_unsafe_start(defaults, ALL_ROLES)  # returns: no typer.Exit


@pytest.mark.parametrize("condition", CONDITIONS)
def test_each_condition_alone_leaves_the_local_mode(condition: str) -> None:
    reasons = why_not_local(settings(**CONDITIONS[condition]))
    assert len(reasons) == 1
    assert reasons[0].split()[0] in {
        "SLAWATCH_NOTIFIER_MODE",
        "SLAWATCH_API_HOST",
        "SLAWATCH_PUBLIC_BASE_URL",
    }
    assert production_problems(settings(**CONDITIONS[condition])) == []  # real secrets: fine


@pytest.mark.parametrize("condition", CONDITIONS)
@pytest.mark.parametrize("kind", ["development", "empty"])
@pytest.mark.parametrize(("env", "field", "dev", "empty"), SECRETS, ids=[s[0] for s in SECRETS])
def test_each_secret_is_refused_outside_the_local_mode(
    condition: str, kind: str, env: str, field: str, dev: Any, empty: Any
) -> None:
    value = dev if kind == "development" else empty
    problems = production_problems(settings(**CONDITIONS[condition], **{field: value}))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{env} ")
    assert ("empty" if kind == "empty" else "development") in problems[0]
    assert "outside the local stand-in mode" in problems[0]
    assert not any(secret in problems[0] for secret in REAL_TEXTS)
    # The same value inside the local stand-in mode is what `slawatch dev` relies on.
    assert production_problems(settings(**{field: value})) == []


def test_each_role_is_asked_only_for_the_secrets_it_holds() -> None:
    # The Kubernetes API pod has no SendGrid key, the worker pod no API tokens.
    bare: dict[str, Any] = {"api_host": "0.0.0.0", "api_tokens": SecretStr("dev-token=*")}
    bare["sendgrid_api_key"] = SecretStr("SG.dev-key")
    worker = production_problems(settings(**bare), {Role.WORKER})
    api = production_problems(settings(**bare), {Role.API})
    assert [p.split()[0] for p in worker] == ["SLAWATCH_SENDGRID_API_KEY"]
    assert [p.split()[0] for p in api] == ["SLAWATCH_API_TOKENS"]
    assert len(production_problems(settings(**bare))) == 2


def test_a_dev_token_among_real_ones_is_refused() -> None:
    tokens = SecretStr("helpdesk-7f3a9c1e5b=prokuria; dev-token = cargotask")
    problems = production_problems(settings(api_host="0.0.0.0", api_tokens=tokens), {Role.API})
    assert len(problems) == 1 and "'dev-token'" in problems[0]
    assert "helpdesk-7f3a9c1e5b" not in problems[0]


def test_a_short_feed_secret_is_refused_for_the_api_and_an_empty_one_is_off() -> None:
    short = settings(api_host="0.0.0.0", oncall_feed_secret=SecretStr("feed-123"))
    problems = production_problems(short, {Role.API})
    assert len(problems) == 1 and problems[0].startswith("SLAWATCH_ONCALL_FEED_SECRET is shorter")
    assert "feed-123" not in problems[0]
    assert production_problems(short, {Role.WORKER}) == []
    assert production_problems(settings(api_host="0.0.0.0"), {Role.API}) == []
    random = SecretStr("9f2c4e6a8b0d1f3e5a7c9e1b3d5f7a9c")
    assert production_problems(settings(api_host="0.0.0.0", oncall_feed_secret=random)) == []


def test_live_mode_needs_an_https_public_base_url() -> None:
    problems = production_problems(
        settings(notifier_mode="live", public_base_url="http://hooks.example.com")
    )
    assert len(problems) == 1 and problems[0].startswith(
        "SLAWATCH_PUBLIC_BASE_URL must be an https"
    )


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("", False),
        (None, False),
        ("::", False),
        ("10.0.0.5", False),
        ("hooks.example.com", False),
        ("127.0.0.1.nip.io", False),
    ],
)
def test_loopback_means_loopback(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback


# The real commands, as a supervisor starts them: exit code, one line on stderr, no traceback.
CLI_CASES = [
    ("api", "live", "SLAWATCH_API_TOKENS", "dev-token=*"),
    ("api", "public-api-host", "SLAWATCH_TWILIO_AUTH_TOKEN", ""),
    ("worker", "public-base-url", "SLAWATCH_SENDGRID_API_KEY", "SG.dev-key"),
    ("worker", "live", "SLAWATCH_TWILIO_ACCOUNT_SID", DEV_ACCOUNT_SID),
]


def _env(condition: str, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLAWATCH_")}
    for field, value in {**REAL, **CONDITIONS[condition]}.items():
        text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        env[f"SLAWATCH_{field.upper()}"] = text
    # If the refusal ever fails, the command must fail differently, and at once.
    env["SLAWATCH_TEMPORAL_ADDRESS"] = "127.0.0.1:1"
    return env | values


@pytest.mark.parametrize(("command", "condition", "env_name", "value"), CLI_CASES)
def test_the_commands_refuse_to_start_with_one_line(
    command: str, condition: str, env_name: str, value: str
) -> None:
    slawatch = str(Path(sys.executable).parent / "slawatch")
    done = subprocess.run(
        [slawatch, command],
        env=_env(condition, **{env_name: value}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: {env_name} ")
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert not any(secret in done.stderr for secret in REAL_TEXTS)


def test_slawatch_api_starts_on_the_defaults(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    # `slawatch dev`'s settings with no setup at all: the real command serves, docs included.
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLAWATCH_")}
    env |= {"SLAWATCH_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host}
    env |= {"SLAWATCH_API_PORT": str(port), "SLAWATCH_LOG_FORMAT": "json"}
    env |= {"SLAWATCH_DATA_DIR": str(tmp_path)}  # where the data lives is not a secret
    slawatch = str(Path(sys.executable).parent / "slawatch")
    proc = subprocess.Popen([slawatch, "api"], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "slawatch api did not answer in 30 s"
            time.sleep(0.1)
        docs = httpx.get(f"http://127.0.0.1:{port}/docs", timeout=5)
        assert docs.status_code == 200
        tickets = httpx.get(
            f"http://127.0.0.1:{port}/v1/tickets/prokuria/nope",
            headers={"Authorization": "Bearer dev-token"},
            timeout=5,
        )
        assert tickets.status_code == 404  # dev-token is accepted in the local mode
    finally:
        stop_process(proc, grace=15)


# Twilio webhooks with an empty auth token: anyone can compute that signature.

PUBLIC = "https://hooks.example.test"


@pytest.fixture
async def app_for(dev_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Any]:
    clients: list[httpx.AsyncClient] = []

    def build(**overrides: Any) -> httpx.AsyncClient:
        # Each app its own data directory: the webhook store lives there.
        data_dir = tmp_path / f"app-{len(clients)}"
        app = create_app(Settings(data_dir=data_dir, **overrides), dev_env.client)
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        clients.append(http)
        return http

    yield build
    for http in clients:
        await http.aclose()


async def _status_callback(http: httpx.AsyncClient, token: str) -> httpx.Response:
    query = urlencode({"wf": f"ticket-prokuria-{uuid.uuid4().hex[:8]}", "key": "k-1-sms"})
    form = {"AccountSid": DEV_ACCOUNT_SID, "MessageSid": f"SM{uuid.uuid4().hex}"}
    form["MessageStatus"] = "delivered"
    signature = RequestValidator(token).compute_signature(
        f"{PUBLIC}{STATUS_CALLBACK_PATH}?{query}", form
    )
    headers = {"X-Twilio-Signature": signature}
    return await http.post(f"{STATUS_CALLBACK_PATH}?{query}", data=form, headers=headers)


@pytest.mark.parametrize("mode", ["stand-in", "live"])
async def test_an_empty_auth_token_accepts_no_webhook(app_for: Any, mode: str) -> None:
    empty = app_for(twilio_auth_token=SecretStr(""), public_base_url=PUBLIC, notifier_mode=mode)
    forged = await _status_callback(empty, "")
    assert forged.status_code == 403
    assert forged.json()["error"] == "bad_signature"
    # The control: the same request signed with a configured token is accepted.
    real = app_for(twilio_auth_token=SecretStr("tw-hook-token"), public_base_url=PUBLIC)
    assert (await _status_callback(real, "tw-hook-token")).status_code == 204


DOC_PATHS = ["/docs", "/redoc", "/openapi.json"]


async def test_docs_are_served_in_the_local_stand_in_mode(app_for: Any) -> None:
    http = app_for()
    for path in DOC_PATHS:
        assert (await http.get(path)).status_code == 200, path
    assert "/v1/tickets" in (await http.get("/openapi.json")).json()["paths"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"public_base_url": PUBLIC},
        {"api_host": "0.0.0.0"},
        {"notifier_mode": "live"},
        {"api_docs": False},
    ],
    ids=["public-url", "public-host", "live", "turned-off"],
)
async def test_docs_are_off_outside_it_or_when_turned_off(
    app_for: Any, overrides: dict[str, Any]
) -> None:
    http = app_for(**overrides)
    for path in DOC_PATHS:
        assert (await http.get(path)).status_code == 404, path
    assert (await http.get("/healthz")).status_code == 200


async def test_docs_can_be_turned_on_in_production(app_for: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("SLAWATCH_API_DOCS", "true")
    http = app_for(public_base_url=PUBLIC)
    assert (await http.get("/openapi.json")).status_code == 200
