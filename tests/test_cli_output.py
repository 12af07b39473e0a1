"""`slawatch ticket status` output: the pages' timeline and a failing delivery stand out."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from slawatch.tools.cli import app
from slawatch.tools.cli_output import print_status, table


def _status(**extra: Any) -> dict[str, Any]:
    target = {"kind": "response", "state": "breached", "due": "2026-12-08T04:00:00Z"}
    return {
        "tenant": "prokuria",
        "ticket_id": "T-1",
        "severity": "critical",
        "phase": "open",
        "sla_state": "breached",
        "escalation_level": 1,
        "response": target,
        "resolution": {**target, "kind": "resolution", "state": "on_track"},
        "acknowledgements": [],
        "history": [],
        **extra,
    }


def test_status_lists_every_page_with_its_outcome(capsys: pytest.CaptureFixture[str]) -> None:
    page = {"at": "2026-12-08T04:00:01Z", "breach_id": "response-1", "recipient": "ana"}
    sent = [
        {**page, "channel": "sms", "ok": True, "outcome": "undelivered"},
        {**page, "channel": "voice", "ok": True, "outcome": None},
        {**page, "channel": "sms", "ok": False, "failure": "account", "outcome": None},
    ]
    print_status(_status(sent=sent, delivery="failing", delivery_problems=["sms refused"]))
    out = capsys.readouterr().out
    assert "DELIVERY FAILING: sms refused" in out
    rows = [line.split() for line in out.splitlines() if "response-1" in line]
    assert [row[-1] for row in rows] == ["undelivered", "sent", "(account)"]
    assert all("ana" in row for row in rows)


def test_status_without_pages_or_failures_says_neither(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_status(_status(sent=[], delivery="ok"))
    out = capsys.readouterr().out
    assert "pages:" not in out and "FAILING" not in out


def test_tables_print_cells_as_they_are_one_row_per_line() -> None:
    long = "x" * 300
    out = table(["at", "text"], [("now", "[bold]not markup[/bold]"), ("later", long)])
    assert out.splitlines() == [
        "AT     TEXT",
        "now    [bold]not markup[/bold]",
        f"later  {long}",
    ]


def test_status_names_the_message_that_paged_a_digest_included(
    capsys: pytest.CaptureFixture[str],
) -> None:
    page = {"at": "2026-12-08T04:00:01Z", "breach_id": "response-1", "recipient": "ana"}
    sent = [
        {**page, "channel": "sms", "ok": True, "detail": "SM" + "1" * 32, "group": "grp_1"},
        {**page, "channel": "voice", "ok": True, "detail": "CA" + "2" * 32, "folded": True},
    ]
    print_status(_status(sent=sent))
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if "response-1" in line]
    assert [row[row.index("ana") + 1 : -1] for row in rows] == [
        ["SM" + "1" * 32],
        ["digest", "CA" + "2" * 32],
    ]


def test_the_timeline_shows_when_a_late_event_happened(capsys: pytest.CaptureFixture[str]) -> None:
    history = [
        {
            "at": "2026-12-08T10:03:00Z",
            "event": "first_response",
            "happened_at": "2026-12-08T09:59:00Z",
        },
        {"at": "2026-12-08T10:03:00Z", "event": "breach_withdrawn", "detail": "response-1: ..."},
    ]
    print_status(_status(history=history))
    out = capsys.readouterr().out
    assert "2026-12-08 10:03 UTC  first_response  (happened 2026-12-08 09:59 UTC)" in out
    assert "breach_withdrawn  response-1: ..." in out


@pytest.mark.parametrize(
    ("at", "problem"),
    [("yesterday", "is not an instant"), ("2026-12-08T10:59:00", "has no offset")],
)
def test_a_malformed_at_is_one_line_naming_the_field(at: str, problem: str) -> None:
    result = CliRunner().invoke(app, ["ticket", "event", "prokuria", "T-1", "pause", "--at", at])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[0].startswith("error: at: ")
    assert problem in result.output
