"""End to end on the real stack (`slawatch dev`): breach, SMS then call, ack by key press."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from twilio.request_validator import RequestValidator

from slawatch.settings import DEV_ACCOUNT_SID
from slawatch.tools.testing import EMERGENCY
from tests.e2e_fixtures import API_TOKEN, TENANT, TWILIO_TOKEN, Stack, dev_stack, wait_for

_ACTION = re.compile(r'action="([^"]+)"')


def test_critical_breach_pages_then_a_signed_key_press_stops_the_ladder(e2e_stack: Stack) -> None:
    ticket_id = f"E2E-{uuid.uuid4().hex[:8]}"
    with e2e_stack.http() as api:
        opened = api.post("/v1/tickets", json={"tenant": TENANT, "ticket_id": ticket_id})
        assert opened.status_code == 201, opened.text
        assert opened.json()["severity"] == "critical"

        def mine() -> list[Any]:
            # This ticket's pages (the session's stack also serves tests/test_grouping_e2e.py).
            return [r for r in e2e_stack.outbox() if f"/{ticket_id}/" in (r.idempotency_key or "")]

        def pages(channel: str) -> list[Any]:
            return [r for r in mine() if r.channel == channel and r.to == [EMERGENCY]]

        sms = wait_for("the SMS to the emergency line", lambda: pages("sms"))
        assert f"{TENANT}/{ticket_id}" in sms[0].text and "critical" in sms[0].text
        # Never before the deadline; how long after is a figure (kept as an artifact), not a
        # timed assertion: this machine is shared.
        due = datetime.fromisoformat(
            api.get(f"/v1/tickets/{TENANT}/{ticket_id}").json()["response"]["due"]
        )
        lag = (sms[0].at - due).total_seconds()
        assert lag >= 0, f"SMS went {-lag:.3f} s before the deadline"
        artifacts = Path("test-artifacts")
        artifacts.mkdir(exist_ok=True)
        (artifacts / "e2e-deadline-to-sms.txt").write_text(f"{lag:.3f} s\n")
        calls = wait_for("the call to the emergency line", lambda: pages("voice"))
        assert [r.channel for r in mine()][:2] == ["sms", "voice"]

        # The call's TwiML carries the Gather action Twilio would post the key press to.
        twiml = calls[0].text
        found = _ACTION.search(twiml)
        assert found, twiml
        action = html.unescape(found.group(1))
        parts = urlsplit(action)
        assert action.startswith(e2e_stack.api)
        target = f"{parts.path}?{parts.query}"
        form = {
            "AccountSid": DEV_ACCOUNT_SID,
            "CallSid": "CA" + "e2e0" * 8,
            "Digits": "1",
            "To": EMERGENCY,
            "Direction": "outbound-api",
            "CallStatus": "in-progress",
        }
        sent_before = len(mine())

        forged = api.post(target, data=form, headers={"X-Twilio-Signature": "Zm9yZ2Vk"})
        assert forged.status_code == 403
        before = api.get(f"/v1/tickets/{TENANT}/{ticket_id}").json()
        assert before["acknowledgements"] == []
        assert before["breaches"][0]["outcome"] == "escalating"

        signature = RequestValidator(TWILIO_TOKEN).compute_signature(action, form)
        acked = api.post(target, data=form, headers={"X-Twilio-Signature": signature})
        assert acked.status_code == 200
        assert "Acknowledged" in acked.text

        def acknowledged() -> dict[str, Any] | None:
            s: dict[str, Any] = api.get(f"/v1/tickets/{TENANT}/{ticket_id}").json()
            return s if s["breaches"][0]["outcome"] == "acknowledged" else None

        status = wait_for("the breach to be acknowledged", acknowledged)
        [ack] = status["acknowledgements"]
        assert (ack["responder"], ack["channel"]) == ("emergency_line", "voice")
        assert any(h["event"].startswith("ack") for h in status["history"])
        # The ladder has stopped: no page to Ana (step 3), nothing more at all.
        assert len(mine()) == sent_before
        assert all(r.to == [EMERGENCY] for r in mine())


def test_tickets_survive_a_restart_of_the_stack(tmp_path: Path) -> None:
    ticket_id = f"KEEP-{uuid.uuid4().hex[:8]}"
    path = f"/v1/tickets/{TENANT}/{ticket_id}"
    with dev_stack(tmp_path) as first, first.http() as api:
        assert api.post("/v1/tickets", json={"tenant": TENANT, "ticket_id": ticket_id}).is_success
        assert api.post(f"{path}/events", json={"type": "first_response"}).is_success
        before = api.get(path).json()
    # A new server process on the same data directory: the ticket replays from its history.
    with dev_stack(tmp_path) as second, second.http() as api:
        after = api.get(path)
        assert after.status_code == 200, after.text
        assert after.json()["opened_at"] == before["opened_at"]
        # Nothing was lost: the history before the restart is the start of the history after.
        assert after.json()["history"][: len(before["history"])] == before["history"]
        assert "first_response" in [h["event"] for h in before["history"]]
        assert (
            api.post("/v1/tickets", json={"tenant": TENANT, "ticket_id": ticket_id}).status_code
            == 200
        )


def _cli(e2e_stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SLAWATCH_API_URL": e2e_stack.api,
        "SLAWATCH_API_TOKEN": API_TOKEN,
        "SLAWATCH_DATA_DIR": str(e2e_stack.data_dir),
    }
    slawatch = str(Path(sys.executable).parent / "slawatch")
    return subprocess.run(
        [slawatch, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_cli_ticket_commands_and_outbox(e2e_stack: Stack) -> None:
    tid = f"CLI-{uuid.uuid4().hex[:8]}"
    opened = _cli(e2e_stack, "ticket", "open", TENANT, tid, "--json")
    assert opened.returncode == 0, opened.stderr
    assert json.loads(opened.stdout)["workflow_id"] == f"ticket/{TENANT}/{tid}"

    bad = _cli(
        e2e_stack,
        "ticket",
        "event",
        TENANT,
        tid,
        "reclassify",
        "--severity",
        "huge",
        "--reason",
        "x",
    )
    assert bad.returncode == 2
    assert "severity: unknown class 'huge'" in bad.stderr and "Traceback" not in bad.stderr

    # pause, not first_response: its outcome does not depend on beating the 3 s target.
    table = _cli(e2e_stack, "ticket", "event", TENANT, tid, "pause", "--reason", "waiting on logs")
    assert table.returncode == 0, table.stderr
    assert f"{TENANT}/{tid}  class critical  phase waiting_on_customer" in table.stdout
    assert re.search(r"^resolution\s+paused\s", table.stdout, re.M)

    def listed() -> list[Any]:
        out = _cli(e2e_stack, "ticket", "list", "--tenant", TENANT, "--json")
        return [t for t in json.loads(out.stdout)["tickets"] if t["ticket_id"] == tid]

    assert wait_for("the CLI to list the ticket", listed)[0]["severity"] == "critical"

    wait_for("a page in the outbox", lambda: e2e_stack.outbox())
    outbox = _cli(e2e_stack, "outbox")
    assert outbox.returncode == 0 and EMERGENCY in outbox.stdout and "sms" in outbox.stdout
