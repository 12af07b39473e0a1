"""`slawatch ticket status` output: the pages' timeline and a failing delivery stand out."""

from __future__ import annotations

from typing import Any

import pytest

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
