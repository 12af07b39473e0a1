"""`slawatch oncall who|show|override`: answers, tables, the shared store, one-line errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from intake.oncall_feed import feed_key
from slawatch.tools.cli import app
from tests.oncall_policies import write_policies

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "SLAWATCH_POLICY_DIR": str(write_policies(tmp_path / "policies")),
        "SLAWATCH_DATA_DIR": str(tmp_path / "data"),
    }


def run(env: dict[str, str], *args: str) -> Result:
    result = runner.invoke(app, ["oncall", *args], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


def test_who_says_who_and_why(env: dict[str, str]) -> None:
    night = run(env, "who", "prokuria", "primary", "--at", "2026-12-24T22:00")
    assert night.exit_code == 0
    assert night.stdout.splitlines() == [
        "prokuria primary at Thu 2026-12-24 22:00 EET: carmen",
        "why: layer nights, shift 354",
    ]
    answer = json.loads(
        run(env, "who", "prokuria", "primary", "--at", "2026-12-24T12:00Z", "--json").stdout
    )
    assert (answer["people"], answer["layer"], answer["at"]) == (
        ["ana"],
        "days",
        "2026-12-24T12:00:00Z",
    )
    fixed = json.loads(run(env, "who", "prokuria", "team", "--json").stdout)
    assert (fixed["people"], fixed["why"]) == (["ana", "bogdan", "carmen"], "fixed list")


def test_show_prints_a_table_of_shifts(env: dict[str, str]) -> None:
    result = run(env, "show", "prokuria", "primary", "--from", "2026-03-02", "--to", "2026-03-03")
    assert result.exit_code == 0, result.output
    # Columns are at least two spaces apart; cells have single spaces.
    rows = [re.split(r"\s{2,}", line) for line in result.stdout.splitlines()]
    assert [row[:4] for row in rows] == [
        ["FROM", "TO", "HOURS", "ON CALL"],
        ["Mon 2026-03-02 00:00 EET", "Mon 2026-03-02 09:00 EET", "9", "bogdan"],
        ["Mon 2026-03-02 09:00 EET", "Mon 2026-03-02 20:00 EET", "11", "ana"],
        ["Mon 2026-03-02 20:00 EET", "Tue 2026-03-03 07:00 EET", "11", "carmen"],
        ["Tue 2026-03-03 07:00 EET", "Tue 2026-03-03 20:00 EET", "13", "ana"],
        ["Tue 2026-03-03 20:00 EET", "Wed 2026-03-04 00:00 EET", "4", "carmen"],
    ]
    assert [row[4] for row in rows] == [
        "WHY",
        "layer days, shift 8",
        "layer days, shift 9",
        "layer nights, shift 57",
        "layer days, shift 9",
        "layer nights, shift 58",
    ]


def test_an_override_from_the_cli_is_seen_by_every_later_process(
    env: dict[str, str], tmp_path: Path
) -> None:
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    at = (start + timedelta(hours=1)).isoformat()
    before = json.loads(run(env, "who", "prokuria", "primary", "--at", at, "--json").stdout)
    (on_call,) = before["people"]
    cover = "bogdan" if on_call != "bogdan" else "ana"
    added = run(
        env, "override", "add", "prokuria", "primary", cover, "--instead-of", on_call,
        "--from", start.isoformat(), "--to", (start + timedelta(hours=5)).isoformat(), "--json",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    override = json.loads(added.stdout)
    listed = run(env, "override", "list", "prokuria")
    assert override["id"] in listed.stdout and f"{cover} " in listed.stdout
    # Another process (the real command, not this test's interpreter) reads the same store.
    slawatch = shutil.which("slawatch")
    assert slawatch
    other = subprocess.run(
        [slawatch, "oncall", "who", "prokuria", "primary", "--at", at, "--json"],
        env={"PATH": str(Path(slawatch).parent), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer = json.loads(other.stdout)
    assert (answer["people"], answer["overrides"]) == ([cover], [override["id"]])
    assert run(env, "override", "delete", "prokuria", override["id"]).exit_code == 0
    assert run(env, "override", "list", "prokuria").stdout.strip() == "no overrides"
    again = run(env, "override", "delete", "prokuria", override["id"])
    assert again.exit_code == 2
    assert (
        again.stderr.strip() == f"error: OVERRIDE_ID: no override {override['id']!r} for prokuria"
    )


MISTAKES = [
    (
        "who prokuria tertiary",
        "ROLE: unknown role 'tertiary' for prokuria "
        "(known: duty_manager, primary, secondary, team)",
    ),
    (
        "who prokuria primary --at noon",
        "--at: 'noon' is not an ISO-8601 date or date-time (e.g. 2026-12-24T18:00)",
    ),
    (
        "who prokuria primary --at 2027-03-28T03:30",
        "--at: 2027-03-28 03:30 does not exist in Europe/Bucharest (DST skips it)",
    ),
    (
        "who prokuria primary --zone Mars/Olympus",
        "--zone: unknown time zone 'Mars/Olympus' (use an IANA name like Europe/Berlin)",
    ),
    ("who nowhere primary", None),
    ("who prokuria primary --at 9999-12-31T23:59", "--at: must be between 2000 and 2099"),
    ("show prokuria primary --from 2026-03-02 --to 2026-03-01", "--to: must be after --from"),
    (
        "override add prokuria primary dan --from 2030-01-01 --to 2030-01-02",
        "PERSON: unknown responder 'dan'",
    ),
    (
        "override add prokuria secondary ana --instead-of carmen --from 2030-01-01 --to 2030-01-02",
        "--instead-of: 'carmen' is never on call for role 'secondary'",
    ),
    (
        "override add prokuria primary ana --from 2020-01-01 --to 2020-01-02",
        "--to: the override ends in the past",
    ),
]


@pytest.mark.parametrize(("args", "message"), MISTAKES)
def test_mistakes_are_one_line_and_exit_2(
    env: dict[str, str], args: str, message: str | None
) -> None:
    result = run(env, *args.split())
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    if message is not None:
        assert lines[0] == f"error: {message}"
    else:
        assert "unknown policy 'nowhere'" in lines[0]


def test_feed_url_prints_the_url_the_api_serves_by_its_key(env: dict[str, str]) -> None:
    with_secret = env | {
        "SLAWATCH_ONCALL_FEED_SECRET": "cli-feed-secret-42",
        "SLAWATCH_PUBLIC_BASE_URL": "https://slawatch.example.test",
    }
    printed = run(with_secret, "feed-url", "prokuria", "primary")
    assert printed.exit_code == 0, printed.output
    url = printed.stdout.strip()
    assert url == (
        "https://slawatch.example.test/v1/oncall/prokuria/primary.ics?key="
        + feed_key("cli-feed-secret-42", "prokuria", "primary")
    )
    assert "cli-feed-secret-42" not in printed.output
    off = run(env, "feed-url", "prokuria", "primary")
    assert off.exit_code == 2
    assert off.stderr.strip() == (
        "error: SLAWATCH_ONCALL_FEED_SECRET is not set: feed URLs are off (bearer tokens only)"
    )
    unknown = run(with_secret, "feed-url", "prokuria", "tertiary")
    assert unknown.exit_code == 2 and "unknown role 'tertiary'" in unknown.stderr
