"""Hypothesis against policy files and ticket events: clear errors, never a traceback, and no
accepted event lost.

Policies: the Prokuria seed with a key deleted, a value of the wrong type, a bad zone, phone or
unit, or no YAML at all. `parse_policy` returns a Policy or raises PolicyError whose problems
name the file and field in one line each; `slawatch policy check` exits 0 or 1 without a trace.
Events: random update sequences against one ticket on the time-skipping server.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError
from typer.testing import CliRunner

from policies.loader import PolicyError, load_policy_file
from slawatch.models import (
    AcknowledgeInput,
    CloseInput,
    FirstResponseInput,
    HistoryEntry,
    PauseInput,
    ReopenInput,
    ResolveInput,
    ResumeInput,
)
from slawatch.tools.cli import app
from tests.harness import harness
from tests.policy_fuzz import JUNK, RECORDED, SEED, DocPath, check_outcome, paths_of, set_at
from tests.profiles import examples

# A Tuesday morning inside Prokuria's working hours, so a major ticket's clock runs.
TUESDAY_0800 = datetime(2026, 12, 8, 8, 0, tzinfo=ZoneInfo("Europe/Berlin"))


PATHS = paths_of(SEED)


def _named(leaf: str) -> list[DocPath]:
    return [p for p in PATHS if p[-1] == leaf]


def field_of(path: DocPath) -> str:
    """A path written the way PolicyError names fields: a.b[0].c."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# (leaf key, bad values): each must be refused, naming the field it was put in.
TARGETED: dict[str, list[Any]] = {
    "timezone": ["Mars/Olympus", "Europe/Berlinn", "", "UTC+2", 3],
    "phone": ["+40 1", "0724011885", "+999", "call me", 40724011885],
    "unit": ["weeks", "second", "MINUTES", 5, None],
    "emergency_line": ["+40 1", "112", ""],
    "opens": ["25:00", "7am", "19:00"],
}
targeted = st.sampled_from(sorted(TARGETED)).flatmap(
    lambda leaf: st.tuples(st.sampled_from(_named(leaf)), st.sampled_from(TARGETED[leaf]))
)
mutated = st.one_of(
    st.sampled_from(PATHS).map(lambda p: yaml.safe_dump(set_at(SEED, p, None, delete=True))),
    st.tuples(st.sampled_from(PATHS), JUNK).map(lambda pv: yaml.safe_dump(set_at(SEED, *pv))),
    st.text(max_size=200),
    st.sampled_from(["", "tenant: [unclosed", "a: &x [*x]", "- 1\n- 2", "{{{", "\t: x"]),
)


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated)
def test_a_mutated_policy_is_a_policy_or_an_error_naming_file_and_field(text: str) -> None:
    check_outcome(text)


@settings(max_examples=examples(60), deadline=None)
@given(targeted)
def test_a_bad_zone_phone_unit_or_time_is_refused_at_its_field(case: tuple[DocPath, Any]) -> None:
    path, value = case
    outcome = check_outcome(yaml.safe_dump(set_at(SEED, path, value)))
    assert isinstance(outcome, PolicyError), f"{field_of(path)} = {value!r} was accepted"
    fields = [p.field for p in outcome.problems]
    # "opens: 19:00" is refused on the calendar as a pair (opens after closes), still by name.
    assert any(f.startswith(field_of(path)) for f in fields), (field_of(path), fields)


runner = CliRunner()


def _temp_file(data: bytes) -> Path:
    # Not tmp_path: hypothesis runs many examples in one test, a fixture would be shared anyway.
    handle, name = tempfile.mkstemp(suffix=".yaml", prefix="fuzz-policy-")
    os.write(handle, data)
    os.close(handle)
    return Path(name)


@settings(max_examples=examples(30), deadline=None)
@given(st.binary(max_size=300))
def test_a_file_of_random_bytes_is_an_error_not_a_crash(data: bytes) -> None:
    path = _temp_file(data)
    try:
        load_policy_file(path)
    except PolicyError as exc:
        assert all(p.file == str(path) for p in exc.problems)
    finally:
        path.unlink()


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated)
def test_policy_check_answers_ok_or_problems_never_a_traceback(text: str) -> None:
    path = _temp_file(text.encode())
    try:
        result = runner.invoke(app, ["policy", "check", str(path)])
    finally:
        path.unlink()
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    if result.exit_code == 0:
        assert result.stdout.startswith(f"{path}: OK")
    else:
        assert result.exit_code == 1 and result.stderr
        assert all(line.startswith(f"{path}") for line in result.stderr.splitlines())


def test_the_real_command_on_broken_files_prints_problems_only(tmp_path: Path) -> None:
    files = {
        "bytes.yaml": b"\xff\xfe\x00garbage",
        "types.yaml": yaml.safe_dump(
            set_at(SEED, ("classes", "critical", "response"), 60)
        ).encode(),
        "gone.yaml": yaml.safe_dump(set_at(SEED, ("ladders",), None, delete=True)).encode(),
        "yaml.yaml": b"tenant: [unclosed\n",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    slawatch = str(Path(sys.executable).parent / "slawatch")
    args = [slawatch, "policy", "check", *(str(tmp_path / n) for n in files)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    named = {line.split(":")[0] for line in done.stderr.splitlines()}
    assert named == {str(tmp_path / n) for n in files}, done.stderr


# -- events ----------------------------------------------------------------------------------

event = st.one_of(
    st.just(("first_response", FirstResponseInput(by="agent"))),
    st.sampled_from(["critical", "major", "minor", "bogus", ""]).map(
        lambda sev: ("reclassify", {"severity": sev, "reason": "fuzz"})
    ),
    st.just(("pause", PauseInput())),
    st.just(("resume", ResumeInput())),
    st.just(("resolve", ResolveInput())),
    st.just(("reopen", ReopenInput())),
    st.just(("close", CloseInput())),
    st.sampled_from([None, "response-1", "resolution-1", "nope"]).map(
        lambda b: ("acknowledge", AcknowledgeInput(breach_id=b, responder="ana", channel="api"))
    ),
    # Time passing lets breaches (and acknowledgements of them) happen between events.
    st.sampled_from([30, 90, 600]).map(lambda m: ("wait", timedelta(minutes=m))),
)


TIMED = {
    "first_response": FirstResponseInput,
    "pause": PauseInput,
    "resume": ResumeInput,
    "resolve": ResolveInput,
    "reopen": ReopenInput,
    "close": CloseInput,
}


def _at(name: str, minutes: int) -> Callable[[datetime], Any]:
    """An event with the help desk's instant (`at`), `minutes` from the ticket's now when sent."""
    return lambda now: TIMED[name](at=now + timedelta(minutes=minutes))


# Entries the clock writes on its own (a target missed, a ladder ended), not any event's doing.
CLOCK_ENTRIES = {"breached", "escalation_finished"}


def _caused(history: list[HistoryEntry]) -> list[HistoryEntry]:
    return [entry for entry in history if entry.event not in CLOCK_ENTRIES]


async def _play(events: list[tuple[str, Any]]) -> tuple[int, int]:
    async with harness() as h:
        handle = await h.open("prokuria", "EV-1", severity="major", opened_at=TUESDAY_0800)
        await h.advance_to(TUESDAY_0800)
        accepted = rejected = 0
        for name, arg in events:
            if name == "wait":
                # Skips time, then holds it still until the ticket has acted on the new moment:
                # a read-act-read below never straddles a deadline firing.
                await h.sleep(arg)
                continue
            before = (await h.status(handle)).history
            if callable(arg):
                arg = arg(await h.now())
            try:
                await h.update(handle, name, arg)
            except (WorkflowUpdateFailedError, RPCError):
                # Rejected (or the ticket is closed): nothing the event could cause happened.
                rejected += 1
                after = (await h.status(handle)).history
                assert after[: len(before)] == before, f"a rejected {name} rewrote history"
                assert _caused(after) == _caused(before), name
                continue
            accepted += 1
            after = (await h.status(handle)).history
            assert after[: len(before)] == before, "an accepted event rewrote history"
            assert RECORDED[name] in [e.event for e in after[len(before) :]], name
        return accepted, rejected


@settings(max_examples=examples(12), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(event, min_size=1, max_size=10))
# Found by a random run: the 90-minute response deadline fired between the two reads around
# a rejected resume, and "a rejected event changes nothing" failed on the clock's own entry.
@example([("wait", timedelta(minutes=90)), ("resume", ResumeInput()), ("resume", ResumeInput())])
# A first response from 45 min ago, reported after the 90-minute deadline: the breach is
# withdrawn (an entry the event caused); a pause dated before the opening, or 5 min ahead, is
# refused and changes nothing.
@example(
    [
        ("wait", timedelta(minutes=100)),
        ("first_response", _at("first_response", -45)),
        ("pause", _at("pause", -900)),
        ("pause", _at("pause", 5)),
        ("pause", _at("pause", -1)),
    ]
)
def test_random_events_rejected_change_nothing_accepted_are_recorded(
    events: list[tuple[str, Any]],
) -> None:
    # Its own event loop per example: hypothesis drives this test synchronously.
    accepted, rejected = asyncio.run(_play(events))
    assert accepted + rejected == len([e for e in events if e[0] != "wait"])


@pytest.mark.parametrize("key", ["\n", " spaced out ", "a:b", "\u2028"])
def test_an_unknown_key_that_is_no_plain_name_is_named_on_one_line(key: str) -> None:
    # Found by `make fuzz` (seed 10): an extra key "\n" under a step's wait made the problem
    # "fuzz.yaml: ladders.critical.steps[0].wait.\n: Extra inputs..." span two lines.
    path = ("ladders", "critical", "steps", 0, "wait", key)
    outcome = check_outcome(yaml.safe_dump(set_at(SEED, path, 1)))
    assert isinstance(outcome, PolicyError)
    assert any(p.field.endswith(json.dumps(key)) for p in outcome.problems), outcome.problems
