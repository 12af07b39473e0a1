"""The `grouping` policy setting: default on (two minutes), off, and one-line errors."""

from __future__ import annotations

import pytest

from policies.loader import PolicyError, load_policy, parse_policy
from slawatch.tools.testing import seconds_policy, step

BASE = seconds_policy("g", 60, [step("sms", 60)]).replace("grouping: {enabled: false}\n", "")


def test_a_policy_without_grouping_groups_pages_within_two_minutes() -> None:
    assert parse_policy(BASE, "g.yaml").grouping.seconds() == 120
    assert load_policy("prokuria").grouping.seconds() == 120
    off = parse_policy(BASE + "grouping: {enabled: false}\n", "g.yaml")
    assert off.grouping.seconds() == 0


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ("{amount: 1, unit: days}", "g.yaml: grouping.window: a grouping window is real time"),
        ("{amount: 61, unit: minutes}", "grouping.window: 61 minutes is longer than the 1 hour"),
        ("{amount: 0, unit: minutes}", "grouping.window.amount"),
    ],
)
def test_a_bad_window_is_one_line_naming_the_field(window: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(BASE + f"grouping: {{window: {window}}}\n", "g.yaml")
    text = str(caught.value)
    assert message in text and "\n" not in text.strip(), text
