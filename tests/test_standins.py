"""The stand-ins: Prism checks requests against Twilio's spec; SendGrid body checks; faults."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest

from slawatch.settings import DEV_ACCOUNT_SID
from slawatch.tools.standins.faults import Fault, FaultPlan
from slawatch.tools.standins.outbox import SENDGRID_OUTBOX, TWILIO_OUTBOX, read_jsonl, read_outboxes
from slawatch.tools.standins.sendgrid import validate_mail
from slawatch.tools.standins.stack import Standins
from slawatch.tools.standins.tools import (
    PORT_RANGE,
    StandinToolsMissing,
    free_port,
    prism_binary,
    twilio_spec,
)
from tests import standins_fixtures
from tests.standins_fixtures import SENDGRID_KEY, TWILIO_TOKEN

# Registered here until tests/conftest.py imports it (one Prism is shared either way).
standins = standins_fixtures.standins

AUTH = (DEV_ACCOUNT_SID, TWILIO_TOKEN)
MESSAGES = f"/2010-04-01/Accounts/{DEV_ACCOUNT_SID}/Messages.json"
MAIL: dict[str, object] = {
    "personalizations": [{"to": [{"email": "oncall@example.com"}]}],
    "from": {"email": "slawatch@example.com"},
    "subject": "breach",
    "content": [{"type": "text/plain", "value": "body"}],
}


def last_twilio_line(standins: Standins) -> dict[str, object]:
    return read_jsonl(standins.twilio.standin.outbox.path)[-1]


def test_prism_rejects_what_twilio_spec_forbids(standins: Standins) -> None:
    with httpx.Client(base_url=standins.twilio.url) as http:
        missing_to = http.post(MESSAGES, data={"From": "+15005550006", "Body": "x"}, auth=AUTH)
        assert missing_to.status_code == 422
        assert "'To'" in missing_to.json()["validation"][0]["message"]
        assert last_twilio_line(standins)["status"] == 422
        bad_sid = http.post(
            "/2010-04-01/Accounts/AC123/Messages.json", data={"To": "+40721555101"}, auth=AUTH
        )
        assert bad_sid.status_code == 422


def test_proxy_checks_token_and_numbers_like_twilio(standins: Standins) -> None:
    form = {"To": "+40721555101", "From": "+15005550006", "Body": "x"}
    with httpx.Client(base_url=standins.twilio.url) as http:
        wrong = http.post(MESSAGES, data=form, auth=(DEV_ACCOUNT_SID, "nope"))
        assert (wrong.status_code, wrong.json()["code"]) == (401, 20003)
        local = http.post(MESSAGES, data={**form, "To": "0721555101"}, auth=AUTH)
        assert (local.status_code, local.json()["code"]) == (400, 21211)
        ok = http.post(MESSAGES, data=form, auth=AUTH)
        assert ok.status_code == 201 and ok.json()["sid"].startswith("SM")
    assert last_twilio_line(standins)["form"] == form


def test_faults_are_set_live_and_recorded(standins: Standins) -> None:
    form = {"To": "+40721555101", "From": "+15005550006", "Body": "x"}
    with httpx.Client(base_url=standins.twilio.url) as http:
        try:
            assert http.post("/_standin/faults", content="throttle=1").status_code == 200
            answer = http.post(MESSAGES, data=form, auth=AUTH)
            assert (answer.status_code, answer.json()["code"]) == (429, 20429)
            assert last_twilio_line(standins)["fault"] == "throttle"
            http.post("/_standin/faults", content="delay=1,delay_seconds=0.05")
            assert http.post(MESSAGES, data=form, auth=AUTH).status_code == 201
            assert last_twilio_line(standins)["fault"] == "delay"
            bad = http.post("/_standin/faults", content="error=2")
            assert bad.status_code == 400 and bad.json()["error"].startswith("error:")
        finally:
            standins.twilio.standin.faults = FaultPlan()


def test_fault_plan_shares_and_parse_errors() -> None:
    plan = FaultPlan(error=0.2, throttle=0.3, seed=7)
    picks = Counter(plan.pick() for _ in range(2000))
    assert set(picks) == {Fault.ERROR, Fault.THROTTLE, None}
    assert 300 < picks[Fault.ERROR] < 500 and 500 < picks[Fault.THROTTLE] < 700
    assert {FaultPlan(error=1.0).pick() for _ in range(50)} == {Fault.ERROR}
    assert FaultPlan.parse("").pick() is None
    for spec, field in [
        ("error=x", "error:"),
        ("boom=1", "faults:"),
        ("delay=0.6,error=0.6", "add up"),
    ]:
        with pytest.raises(ValueError, match=field):
            FaultPlan.parse(spec)


def test_sendgrid_capture_checks_key_and_body(standins: Standins) -> None:
    bearer = {"Authorization": f"Bearer {SENDGRID_KEY}"}
    before = len(read_jsonl(standins.sendgrid.standin.outbox.path))
    with httpx.Client(base_url=standins.sendgrid.url) as http:
        assert http.post("/v3/mail/send", json=MAIL).status_code == 401
        bad = http.post("/v3/mail/send", json={**MAIL, "content": []}, headers=bearer)
        assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "content"
        ok = http.post("/v3/mail/send", json=MAIL, headers=bearer)
        assert ok.status_code == 202 and ok.headers["X-Message-Id"]
    lines = read_jsonl(standins.sendgrid.standin.outbox.path)
    assert len(lines) == before + 1 and lines[-1]["message_id"] == ok.headers["X-Message-Id"]


def test_validate_mail_names_each_bad_field() -> None:
    assert validate_mail(MAIL) == []
    body = {"personalizations": [{"to": [{"email": "nope"}]}], "from": {}, "content": []}
    fields = [field for field, _ in validate_mail(body)]
    assert fields == ["personalizations.0.to.0.email", "from.email", "subject", "content"]
    per_person = {k: v for k, v in MAIL.items() if k != "subject"}
    per_person["personalizations"] = [{"to": [{"email": "a@example.com"}], "subject": "s"}]
    assert [f for f, _ in validate_mail({**per_person, "personalizations": [{"to": []}]})] == [
        "personalizations.0.to",
        "subject",
    ]
    templated = {k: v for k, v in MAIL.items() if k != "content"} | {"template_id": "d-1"}
    assert validate_mail(per_person) == [] and validate_mail(templated) == []


def test_missing_tools_say_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SLAWATCH_STANDINS_DIR", str(tmp_path))
    for locate in (prism_binary, twilio_spec):
        with pytest.raises(StandinToolsMissing, match=r"run \.ci/install-system"):
            locate()


def test_outboxes_merge_in_time_order_and_skip_a_half_written_line(tmp_path: Path) -> None:
    callback = "https://h.test/twilio/status?key=k-sms&wf=w"
    (tmp_path / TWILIO_OUTBOX).write_text(
        '{"at": "2026-01-01T10:00:02+00:00", "path": "/2010-04-01/Accounts/AC/Messages.json",'
        f' "form": {{"To": "+40721555101", "Body": "hi", "StatusCallback": "{callback}"}},'
        ' "status": 201}\n{"at": "2026-01-01T10:00:03'
    )
    (tmp_path / SENDGRID_OUTBOX).write_text(
        '{"at": "2026-01-01T10:00:01+00:00", "to": ["a@example.com"], "subject": "s",'
        ' "custom_args": {"idempotency_key": "k-mail"}, "status": 202}\n'
    )
    records = read_outboxes(tmp_path)
    assert [(r.vendor, r.channel, r.idempotency_key) for r in records] == [
        ("sendgrid", "email", "k-mail"),
        ("twilio", "sms", "k-sms"),
    ]
    assert (records[1].to, records[1].text) == (["+40721555101"], "hi")


def test_standins_command_reports_bad_fault_setting_without_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "SLAWATCH_DATA_DIR": str(tmp_path)}
    env["SLAWATCH_STANDIN_TWILIO_FAULTS"] = "error=lots"
    done = subprocess.run(
        [sys.executable, "-m", "slawatch.tools.standins"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "slawatch stand-ins: SLAWATCH_STANDIN_TWILIO_FAULTS: error: 'lots' is not a number"
    )


def test_account_faults_are_set_live_and_answer_like_the_vendor(standins: Standins) -> None:
    form = {"To": "+40721555101", "From": "+15005550006", "Body": "x"}
    calls = MESSAGES.replace("Messages.json", "Calls.json")
    bearer = {"Authorization": f"Bearer {SENDGRID_KEY}"}
    try:
        with httpx.Client(base_url=standins.twilio.url) as http:
            # An expired token: the right credentials get 401 20003 all the same.
            assert http.post("/_standin/faults", content="unauthorized=1").status_code == 200
            expired = http.post(MESSAGES, data=form, auth=AUTH)
            assert (expired.status_code, expired.json()["code"]) == (401, 20003)
            assert last_twilio_line(standins)["fault"] == "unauthorized"
            http.post("/_standin/faults", content="geo_blocked=+40|+44")
            geo = http.post(MESSAGES, data=form, auth=AUTH)
            assert (geo.status_code, geo.json()["code"]) == (400, 21408)
            voice = http.post(calls, data={**form, "Twiml": "<Response/>"}, auth=AUTH)
            assert (voice.status_code, voice.json()["code"]) == (400, 21215)
            estonia = http.post(MESSAGES, data={**form, "To": "+3725019559"}, auth=AUTH)
            assert estonia.status_code == 201
            bad = http.post("/_standin/faults", content="geo_blocked=40")
            assert bad.status_code == 400 and bad.json()["error"].startswith("geo_blocked:")
        with httpx.Client(base_url=standins.sendgrid.url) as http:
            http.post("/_standin/faults", content="quota_exceeded=1")
            quota = http.post("/v3/mail/send", json=MAIL, headers=bearer)
            assert quota.status_code == 401
            assert quota.json()["errors"][0]["message"] == "Maximum credits exceeded"
            http.post("/_standin/faults", content="unauthorized=true")
            revoked = http.post("/v3/mail/send", json=MAIL, headers=bearer)
            assert (
                revoked.status_code == 401 and "revoked" in revoked.json()["errors"][0]["message"]
            )
            http.post("/_standin/faults", content="")
            assert http.post("/v3/mail/send", json=MAIL, headers=bearer).status_code == 202
    finally:
        standins.twilio.standin.faults = FaultPlan()
        standins.sendgrid.standin.faults = FaultPlan()


def test_account_fault_specs_parse_and_name_bad_values() -> None:
    plan = FaultPlan.parse("unauthorized=0,quota_exceeded=true,geo_blocked=+40 | +372")
    assert (plan.unauthorized, plan.quota_exceeded, plan.geo_blocked) == (
        False,
        True,
        ("+40", "+372"),
    )
    assert FaultPlan.parse("geo_blocked=+40").account_fault("+40721555101") is Fault.GEO_BLOCKED
    assert FaultPlan.parse("geo_blocked=+40").account_fault("+3725019559") is None
    assert FaultPlan.parse("error=1").account_fault("+40721555101") is None
    for spec, field in [("unauthorized=yes", "unauthorized:"), ("geo_blocked=+0", "geo_blocked:")]:
        with pytest.raises(ValueError, match=field):
            FaultPlan.parse(spec)


def test_free_port_keeps_to_its_range_and_never_hands_a_port_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PORT_RANGE, "45100-45139")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 45100))
        ports = [free_port() for _ in range(10)]
    assert all(45101 <= p <= 45139 for p in ports), ports  # 45100 was in use
    assert len(set(ports)) == 10, ports
    monkeypatch.setenv(PORT_RANGE, "10000")
    with pytest.raises(ValueError, match="SLAWATCH_PORT_RANGE: '10000' is not LOW-HIGH"):
        free_port()
