"""`slawatch policy check|deadlines|show`: outputs, exit codes, and never a traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from policies.loader import BUILTIN_DIR
from slawatch.tools.cli import app

runner = CliRunner()
SEED = (BUILTIN_DIR / "prokuria.yaml").read_text(encoding="utf-8")


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    result = runner.invoke(app, ["policy", *args], env=env)
    # Exceptions other than the Exit a command raises on purpose mean a traceback for a user.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


def test_check_valid_files(tmp_path: Path) -> None:
    result = run("check", "prokuria", str(BUILTIN_DIR / "cargotask.yaml"))
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(
        "prokuria.yaml: OK (tenant prokuria: 3 classes, 2 calendars, 2 ladders)"
    )
    assert lines[1].startswith(str(BUILTIN_DIR / "cargotask.yaml") + ": OK")
    assert result.stderr == ""


def test_check_reports_every_problem_of_every_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        SEED.replace('opens: "07:00"', 'opens: "19:00"').replace('"+40 721 555 101"', '"+40 1"')
    )
    broken = tmp_path / "broken.yaml"
    broken.write_text("tenant: [unclosed\n")
    result = run("check", str(bad), "prokuria", str(broken), str(tmp_path / "missing.yaml"))
    assert result.exit_code == 1
    assert result.stdout.count(": OK") == 1
    assert result.stderr.splitlines() == [
        f"{bad}: calendars.working_hours.opens: "
        "opening time 19:00 must be before closing time 18:00",
        f"{bad}: responders.ana.phone: "
        "invalid phone number '+40 1': the string supplied is too short to be a phone number",
        f"{broken}: line 2, column 1: malformed YAML: expected ',' or ']', but got '<stream end>'",
        f"{tmp_path / 'missing.yaml'}: no such file",
    ]  # fmt: skip


def test_deadlines_json() -> None:
    # Fri 27 Nov 17:00 CET; Mon 30 Nov and Tue 1 Dec are RO holidays (see tests/test_clock.py).
    result = run(
        "deadlines",
        "prokuria",
        "--severity",
        "major",
        "--opened-at",
        "2026-11-27T17:00+01:00",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "response_due": "2026-12-02T06:30:00+00:00",
        "resolution_due": "2026-12-08T09:00:00+00:00",
    }


def test_deadlines_json_null_without_target_and_default_class() -> None:
    # CargoTASK's default class is standard: Fri 19:00 Tallinn is after closing, so 8 h from
    # Mon 09:00 ends exactly at Mon 17:00 EET = 15:00 UTC. CargoTASK has no resolution target.
    result = run("deadlines", "cargotask", "--opened-at", "2026-11-27T17:00:00Z", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "response_due": "2026-11-30T15:00:00+00:00",
        "resolution_due": None,
    }


def test_deadlines_category_selects_class() -> None:
    # Prokuria inquiry -> minor: 24 h from Mon 07:00 = Mon, Tue and 2 h of Wed.
    args = ("deadlines", "prokuria", "--opened-at", "2026-02-02T07:00+01:00", "--json")
    result = run(*args, "--category", "inquiry")
    assert json.loads(result.stdout)["response_due"] == "2026-02-04T08:00:00+00:00"
    assert run(*args, "--category", "incident").stdout == run(*args, "--severity", "minor").stdout


def test_deadlines_readable_in_the_policy_zone() -> None:
    result = run("deadlines", "prokuria", "--severity", "minor", "--opened-at", "2026-03-27T15:00Z")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("prokuria minor, opened Fri 2026-03-27 16:00:00 CET (UTC+0100)")
    # 24 h: Fri 16-18, Mon 30 and Tue 31 Mar (CEST after the DST change), due at Tue's closing.
    assert lines[1] == "response due    Tue 2026-03-31 18:00:00 CEST (UTC+0200) [24 hours]"
    assert lines[2].startswith("resolution due  ") and lines[2].endswith("[7 days]")
    no_target = run(
        "deadlines", "cargotask", "--severity", "serious", "--opened-at", "2026-03-27T15:00Z"
    )
    assert no_target.stdout.splitlines()[2] == "resolution due  no target"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("acme", "--opened-at", "2026-01-01T00:00Z"), "unknown policy 'acme'"),
        (("prokuria", "--severity", "urgent", "--opened-at", "2026-01-01T00:00Z"),
         "--severity: unknown class 'urgent' (known: critical, major, minor)"),
        (("prokuria", "--category", "rant", "--opened-at", "2026-01-01T00:00Z"),
         "--category: unknown category 'rant'"),
        (("prokuria", "--opened-at", "2026-01-01T09:00"), "has no UTC offset"),
        (("prokuria", "--opened-at", "next tuesday"), "is not an ISO-8601 date-time"),
        (("prokuria", "--opened-at", "2026-02-30T09:00Z"), "is not an ISO-8601 date-time"),
    ],
)  # fmt: skip
def test_deadlines_bad_input_exits_2_with_one_line(args: tuple[str, ...], message: str) -> None:
    result = run("deadlines", *args, "--json")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("error: ") and message in result.stderr


def test_usage_errors_exit_2() -> None:
    assert run("deadlines", "prokuria").exit_code == 2  # --opened-at missing
    assert run("check").exit_code == 2


def test_policy_dir_from_settings(tmp_path: Path) -> None:
    (tmp_path / "acme.yaml").write_text(SEED.replace("tenant: prokuria", "tenant: acme"))
    env = {"SLAWATCH_POLICY_DIR": str(tmp_path)}
    result = run("show", "acme", env=env)
    assert result.exit_code == 0 and result.stdout.startswith("acme: ")
    # The built-in tenants are not in that directory.
    missing = run("show", "prokuria", env=env)
    assert missing.exit_code == 2 and "(known: acme)" in missing.stderr
    bad_env = run("show", "acme", env={"SLAWATCH_API_PORT": "eighty"})
    assert bad_env.exit_code == 2
    assert bad_env.stderr.startswith("error: SLAWATCH_API_PORT: ")


def test_show() -> None:
    result = run("show", "prokuria")
    assert result.exit_code == 0
    out = result.stdout
    assert "emergency line +40724011885; default class minor" in out
    assert "class critical: emergency response 60 minutes, resolution 24 hours" in out
    assert "calendar working_hours: mon,tue,wed,thu,fri 07:00-18:00 Europe/Berlin, RO" in out
    assert "    emergency line, primary by sms, wait 5 minutes" in out
    as_json = run("show", "cargotask", "--json")
    data = json.loads(as_json.stdout)
    assert data["emergency_line"] == "+3725019559"
    assert "pin_hash" not in as_json.stdout and "pbkdf2" not in as_json.stdout


def test_console_script_end_to_end() -> None:
    exe = shutil.which("slawatch")
    assert exe is not None
    ok = subprocess.run(
        [exe, "policy", "deadlines", "prokuria", "--severity", "critical", "--opened-at",
         "2026-03-28T12:00+01:00", "--json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    # 24x7: 24 real hours across the spring DST change.
    assert (ok.returncode, json.loads(ok.stdout)["resolution_due"]) == (
        0,
        "2026-03-29T11:00:00+00:00",
    )
    bad = subprocess.run(
        [exe, "policy", "deadlines", "prokuria", "--opened-at", "garbage"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "Traceback" not in bad.stderr + bad.stdout
