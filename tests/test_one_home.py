"""Facts with one definition each: the outcomes and stop reasons, the workflow type name, the
name rule, the escalation level and a duration in elapsed time (docs/design.md, "One home per
fact")."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from temporalio import workflow

from intake.errors import _field_name
from intake.schemas import EVENT_INPUTS
from policies.calendar import Duration, Unit
from policies.names import NAME_PATTERN
from slawatch.models import (
    TICKET_WORKFLOW_TYPE,
    Breach,
    BreachOutcome,
    EscalationResult,
    EventType,
    StopEscalationInput,
    StopReason,
    TargetKind,
    escalation_level,
    live_breaches,
)
from slawatch.tools.cli_ticket import EVENTS
from workflows.ticket import TicketSlaWorkflow


def _breach(level: int, outcome: BreachOutcome) -> Breach:
    at = datetime(2026, 12, 8, tzinfo=UTC)
    return Breach(
        breach_id=f"b{level}",
        kind=TargetKind.RESPONSE,
        at=at,
        severity="critical",
        escalation_workflow_id="esc",
        level=level,
        outcome=outcome,
    )


def test_the_ticket_workflow_is_registered_under_the_shared_type_name() -> None:
    defn = workflow._Definition.must_from_class(TicketSlaWorkflow)
    assert defn.name == TICKET_WORKFLOW_TYPE


@pytest.mark.parametrize(
    ("reason", "outcome"),
    [
        (StopReason.ACKNOWLEDGED, BreachOutcome.ACKNOWLEDGED),
        (StopReason.MET, BreachOutcome.STOPPED),
        (StopReason.RECLASSIFIED, BreachOutcome.STOPPED),
        (StopReason.CLOSED, BreachOutcome.STOPPED),
    ],
)
def test_a_stop_reason_decides_the_breach_outcome(
    reason: StopReason, outcome: BreachOutcome
) -> None:
    assert reason.outcome() is outcome


def test_enums_travel_as_the_strings_older_histories_hold() -> None:
    # Payloads in committed histories carry plain strings: they must read back, and new
    # payloads must be written the same way (tests/test_replay.py replays them).
    stop = StopEscalationInput.model_validate_json('{"reason": "met"}')
    assert stop.reason is StopReason.MET
    result = EscalationResult(breach_id="b1", outcome=BreachOutcome.EXHAUSTED)
    assert json.loads(result.model_dump_json())["outcome"] == "exhausted"
    assert f"{result.outcome}" == "exhausted"


def test_the_escalation_level_counts_only_live_breaches() -> None:
    breaches = [_breach(3, BreachOutcome.ACKNOWLEDGED), _breach(2, BreachOutcome.ESCALATING)]
    assert [b.breach_id for b in live_breaches(breaches)] == ["b2"]
    assert escalation_level(breaches) == 2
    assert escalation_level(breaches[:1]) == 0


@pytest.mark.parametrize(
    ("amount", "unit", "elapsed"),
    [
        (30, Unit.SECONDS, timedelta(seconds=30)),
        (5, Unit.MINUTES, timedelta(minutes=5)),
        (2, Unit.HOURS, timedelta(hours=2)),
        (1, Unit.DAYS, timedelta(hours=24)),
    ],
)
def test_a_duration_in_elapsed_time(amount: int, unit: Unit, elapsed: timedelta) -> None:
    assert Duration(amount=amount, unit=unit).as_timedelta() == elapsed


def test_one_name_rule() -> None:
    assert re.fullmatch(NAME_PATTERN.strip("^$"), "prokuria")
    assert not re.fullmatch(NAME_PATTERN.strip("^$"), "Prokuria")


def test_the_api_cli_and_error_messages_share_the_event_names() -> None:
    assert set(EVENT_INPUTS) == set(EventType)
    assert set(EVENTS) == set(EventType) - {EventType.ACKNOWLEDGE}
    # An event's tag in a validation error's location is not reported as a field.
    assert _field_name(("body", "reclassify", "severity")) == ("body", "severity")
