"""Settings come from SLAWATCH_* variables with secrets hidden; logs are JSON unless on a TTY."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from pydantic import ValidationError
from temporalio.testing import ActivityEnvironment

from slawatch.logging import configure_logging
from slawatch.settings import Settings


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Whatever the machine's environment says must not leak into these tests.
    for name in [n for n in os.environ if n.startswith("SLAWATCH_")]:
        monkeypatch.delenv(name)
    yield
    structlog.reset_defaults()


def test_defaults_are_local_and_safe() -> None:
    s = Settings()
    assert s.temporal_address == "127.0.0.1:7233"
    assert s.policy_dir is None
    assert s.notifier_mode == "stand-in"
    assert s.twilio_account_sid.startswith("AC") and len(s.twilio_account_sid) == 34


def test_values_come_from_prefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLAWATCH_TEMPORAL_ADDRESS", "temporal.internal:7233")
    monkeypatch.setenv("SLAWATCH_POLICY_DIR", "/etc/slawatch/policies")
    monkeypatch.setenv("SLAWATCH_API_PORT", "9001")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "unprefixed:1")  # not ours: ignored
    s = Settings()
    assert s.temporal_address == "temporal.internal:7233"
    assert s.policy_dir == Path("/etc/slawatch/policies")
    assert s.api_port == 9001


def test_bad_values_name_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLAWATCH_LOG_FORMAT", "xml")
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert caught.value.errors()[0]["loc"] == ("log_format",)


def test_secrets_never_show(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLAWATCH_TWILIO_AUTH_TOKEN", "tw-secret-123")
    monkeypatch.setenv("SLAWATCH_SENDGRID_API_KEY", "SG.secret-456")
    monkeypatch.setenv("SLAWATCH_TEMPORAL_API_KEY", "tc-secret-789")
    s = Settings()
    assert s.twilio_auth_token.get_secret_value() == "tw-secret-123"
    for shown in (repr(s), str(s), s.model_dump_json(), str(s.model_dump())):
        for secret in ("tw-secret-123", "SG.secret-456", "tc-secret-789"):
            assert secret not in shown


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.splitlines()


def test_json_logs_with_level_and_utc_timestamp(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "INFO")
    log = structlog.get_logger()
    log.debug("too_detailed")
    log.info("ticket_opened", tenant="prokuria", severity="major")
    (line,) = _lines(capsys)
    event = json.loads(line)
    assert event["event"] == "ticket_opened" and event["level"] == "info"
    assert (event["tenant"], event["severity"]) == ("prokuria", "major")
    assert event["timestamp"].endswith("Z")


def test_level_filters(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "warning")
    log = structlog.get_logger()
    log.info("quiet")
    log.warning("loud")
    assert [json.loads(x)["event"] for x in _lines(capsys)] == ["loud"]


def test_auto_is_json_off_a_tty_and_console_on_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_logging("auto")
    structlog.get_logger().info("piped")
    assert json.loads(_lines(capsys)[0])["event"] == "piped"
    structlog.reset_defaults()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    configure_logging("auto")
    structlog.get_logger().info("on_terminal", tenant="cargotask")
    (line,) = _lines(capsys)
    assert "on_terminal" in line and "tenant" in line and "cargotask" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_settings_logged_keep_secrets_hidden(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLAWATCH_TWILIO_AUTH_TOKEN", "tw-secret-123")
    configure_logging("json")
    structlog.get_logger().info("worker_started", settings=Settings())
    out = capsys.readouterr().err
    assert "worker_started" in out and "tw-secret-123" not in out


def test_activity_context_is_added(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json")

    def activity_body() -> None:
        structlog.get_logger().info("sms_sent")

    env = ActivityEnvironment()
    env.run(activity_body)
    event = json.loads(_lines(capsys)[0])
    assert event["workflow_id"] == env.info.workflow_id
    assert event["run_id"] == env.info.workflow_run_id
    assert event["activity"] == env.info.activity_type
    # Outside an activity nothing is added.
    structlog.get_logger().info("plain")
    assert "workflow_id" not in json.loads(_lines(capsys)[0])
