"""`slawatch doctor` against a real Temporal dev server and the Twilio/SendGrid stand-ins.

Twilio's 401 comes from the Twilio stand-in itself: it checks the auth token.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from google.protobuf.duration_pb2 import Duration
from pydantic import SecretStr
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.testing import WorkflowEnvironment

from slawatch.safety import ALL_ROLES, Role
from slawatch.search_attributes import DEFINITIONS
from slawatch.settings import Settings
from slawatch.tools.doctor import TEST_PAGE_TEXT, Check, Outcome, run_checks
from slawatch.tools.standins.outbox import read_jsonl
from slawatch.tools.standins.stack import Standins
from tests.standins_fixtures import SENDGRID_KEY, TWILIO_TOKEN
from workers.worker import ensure_search_attributes


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> None:
    # The machine's own SLAWATCH_* variables must not leak into the settings under test.
    for name in [n for n in os.environ if n.startswith("SLAWATCH_")]:
        monkeypatch.delenv(name)


@pytest.fixture
async def doctor_settings(
    standins: Standins, dev_env: WorkflowEnvironment, tmp_path: Path
) -> Settings:
    """The local stand-in mode against the session's dev server and stand-ins."""
    # Registered the way `slawatch dev` does it, so the server has every attribute slawatch
    # defines, whatever list the shared fixture started it with.
    await ensure_search_attributes(dev_env.client)
    return Settings(
        temporal_address=dev_env.client.service_client.config.target_host,
        twilio_base_url=standins.twilio.url,
        twilio_auth_token=SecretStr(TWILIO_TOKEN),
        sendgrid_base_url=standins.sendgrid.url,
        sendgrid_api_key=SecretStr(SENDGRID_KEY),
        data_dir=tmp_path,
    )


def _by_name(checks: list[Check]) -> dict[str, tuple[Outcome, str]]:
    return {c.name: (c.outcome, c.detail) for c in checks}


def test_doctor_passes_everything_and_sends_one_test_page(
    doctor_settings: Settings, standins: Standins
) -> None:
    to = "+40721555177"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLAWATCH_")}
    env |= {
        "SLAWATCH_TEMPORAL_ADDRESS": doctor_settings.temporal_address,
        "SLAWATCH_TWILIO_BASE_URL": doctor_settings.twilio_base_url,
        "SLAWATCH_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "SLAWATCH_SENDGRID_BASE_URL": doctor_settings.sendgrid_base_url,
        "SLAWATCH_SENDGRID_API_KEY": SENDGRID_KEY,
    }
    slawatch = str(Path(sys.executable).parent / "slawatch")
    done = subprocess.run(
        [slawatch, "doctor", "--test-page", to], env=env, capture_output=True, text=True, timeout=60
    )
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    names = [line.split()[1] for line in lines[:-1]]
    assert names == ["settings", "temporal", "search", "policies", "twilio", "sendgrid", "test"]
    assert all(line.startswith("PASS  ") for line in lines[:-1]), done.stdout
    assert lines[-1] == "7 passed, 0 failed, 0 skipped"
    sent = [
        line
        for line in read_jsonl(standins.twilio.standin.outbox.path)
        if line["form"].get("To") == to
    ]
    assert len(sent) == 1 and sent[0]["form"]["Body"] == TEST_PAGE_TEXT
    assert "StatusCallback" not in sent[0]["form"]  # not a ladder step: nothing to call back
    assert TWILIO_TOKEN not in done.stdout + done.stderr


async def test_doctor_without_a_test_page_skips_it(doctor_settings: Settings) -> None:
    checks = _by_name(await run_checks(doctor_settings, ALL_ROLES, None))
    assert checks["test page"][0] is Outcome.SKIP
    assert {name for name, (o, _) in checks.items() if o is Outcome.PASS} == {
        "settings",
        "temporal",
        "search attributes",
        "policies",
        "twilio",
        "sendgrid",
    }


async def test_doctor_names_a_refused_twilio_token(doctor_settings: Settings) -> None:
    wrong = doctor_settings.model_copy(update={"twilio_auth_token": SecretStr("wrong-token")})
    outcome, detail = _by_name(await run_checks(wrong, ALL_ROLES, None))["twilio"]
    assert outcome is Outcome.FAIL
    assert detail.startswith("SLAWATCH_TWILIO_AUTH_TOKEN was refused by the Twilio stand-in (401)")


async def test_doctor_names_a_refused_sendgrid_key(doctor_settings: Settings) -> None:
    wrong = doctor_settings.model_copy(update={"sendgrid_api_key": SecretStr("SG.wrong")})
    outcome, detail = _by_name(await run_checks(wrong, ALL_ROLES, None))["sendgrid"]
    assert outcome is Outcome.FAIL
    assert detail.startswith("SLAWATCH_SENDGRID_API_KEY was refused by the SendGrid stand-in (401)")


async def test_doctor_finds_stopped_stand_ins_and_temporal(doctor_settings: Settings) -> None:
    down = doctor_settings.model_copy(
        update={
            "temporal_address": "127.0.0.1:1",
            "twilio_base_url": "http://127.0.0.1:1",
            "sendgrid_base_url": "http://127.0.0.1:1",
        }
    )
    checks = _by_name(await run_checks(down, ALL_ROLES, None))
    assert checks["temporal"] == (
        Outcome.FAIL,
        "cannot connect to 127.0.0.1:1: connection refused; check SLAWATCH_TEMPORAL_ADDRESS"
        " and the SLAWATCH_TEMPORAL_TLS_*/API_KEY settings",
    )
    assert checks["search attributes"][0] is Outcome.SKIP
    for vendor in ("twilio", "sendgrid"):
        assert checks[vendor][0] is Outcome.FAIL
        assert checks[vendor][1].endswith("are the stand-ins running (`slawatch dev`)?")


async def test_doctor_finds_a_missing_namespace(doctor_settings: Settings) -> None:
    missing = doctor_settings.model_copy(update={"temporal_namespace": "no-such-namespace"})
    checks = _by_name(await run_checks(missing, ALL_ROLES, None))
    assert checks["temporal"][0] is Outcome.FAIL
    assert "namespace 'no-such-namespace' does not exist" in checks["temporal"][1]
    assert checks["search attributes"][0] is Outcome.SKIP


async def test_doctor_finds_missing_search_attributes(
    doctor_settings: Settings, dev_env: WorkflowEnvironment
) -> None:
    # A namespace nobody set up: it exists, but has none of slawatch's attributes.
    namespace = f"bare-{os.getpid()}-{time.monotonic_ns()}"
    await dev_env.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    bare = doctor_settings.model_copy(update={"temporal_namespace": namespace})
    checks = _by_name(await run_checks(bare, ALL_ROLES, None))
    assert checks["temporal"][0] is Outcome.PASS
    outcome, detail = checks["search attributes"]
    assert outcome is Outcome.FAIL
    everything = ", ".join(f"{name} ({kind})" for name, kind in DEFINITIONS.items())
    assert detail.startswith(f"missing: {everything}; ")
    assert "SlaTenant (Keyword), SlaClass (Keyword)" in everything  # not vacuous
    # Registered under the wrong type is as bad as missing: the workflow's upserts would fail.
    await dev_env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=namespace,
            search_attributes={"SlaTenant": IndexedValueType.INDEXED_VALUE_TYPE_TEXT},
        )
    )
    outcome, detail = _by_name(await run_checks(bare, ALL_ROLES, None))["search attributes"]
    assert outcome is Outcome.FAIL
    assert detail.startswith("missing: SlaClass (Keyword), ")
    assert "; wrong type: SlaTenant (should be Keyword); " in detail


async def test_doctor_reports_broken_policies(doctor_settings: Settings, tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "acme.yaml").write_text("tenant: acme\nclasses: [\n")
    broken = doctor_settings.model_copy(update={"policy_dir": policies})
    outcome, detail = _by_name(await run_checks(broken, ALL_ROLES, None))["policies"]
    assert outcome is Outcome.FAIL and detail.startswith(str(policies / "acme.yaml"))
    empty = doctor_settings.model_copy(update={"policy_dir": tmp_path / "nothing"})
    outcome, detail = _by_name(await run_checks(empty, ALL_ROLES, None))["policies"]
    assert outcome is Outcome.FAIL and "SLAWATCH_POLICY_DIR" in detail


async def test_doctor_reports_every_unsafe_setting(doctor_settings: Settings) -> None:
    public = doctor_settings.model_copy(update={"api_host": "0.0.0.0"})
    checks = await run_checks(public, ALL_ROLES, None)
    unsafe = [c.detail.split()[0] for c in checks if c.name == "settings"]
    # The session's test token and key are not development values; these are.
    assert unsafe == ["SLAWATCH_API_TOKENS", "SLAWATCH_TWILIO_ACCOUNT_SID"]
    assert all(c.outcome is Outcome.FAIL for c in checks if c.name == "settings")
    api_only = _by_name(await run_checks(public, frozenset({Role.API}), None))
    assert api_only["sendgrid"][0] is Outcome.SKIP


async def test_doctor_refuses_a_test_page_to_a_non_e164_number(doctor_settings: Settings) -> None:
    checks = _by_name(await run_checks(doctor_settings, ALL_ROLES, "0721 555 177"))
    assert checks["test page"] == (
        Outcome.FAIL,
        "'0721 555 177' is not an E.164 number (+<country><number>)",
    )


def test_doctor_exit_code_is_one_when_a_check_fails() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLAWATCH_")}
    env |= {
        "SLAWATCH_TEMPORAL_ADDRESS": "127.0.0.1:1",
        "SLAWATCH_TWILIO_BASE_URL": "http://127.0.0.1:1",
        "SLAWATCH_SENDGRID_BASE_URL": "http://127.0.0.1:1",
    }
    slawatch = str(Path(sys.executable).parent / "slawatch")
    done = subprocess.run([slawatch, "doctor"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1] == "2 passed, 3 failed, 2 skipped"
    assert "Traceback" not in done.stderr
