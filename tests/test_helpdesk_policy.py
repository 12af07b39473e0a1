"""The policy's helpdesk section and the adapters' secrets: checked before anything runs."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from policies.class_rules import rule_class
from policies.loader import BUILTIN_DIR, PolicyError, parse_policy
from slawatch.safety import Role, production_problems
from slawatch.settings import Settings
from tests.helpdesk_fixtures import HELPDESK


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        (
            "  zendesk:\n    priorities: {urgent: blocker}\n",
            "x.yaml: helpdesk.zendesk.priorities.urgent: unknown class 'blocker' (known: critical,"
            " major, minor)",
        ),
        (
            "  zendesk:\n    priorities: {vital: major}\n",
            "x.yaml: helpdesk.zendesk.priorities.vital: Input should be 'urgent', 'high', 'normal'"
            " or 'low'",
        ),
        (
            '  jira:\n    statuses: {"Waiting for customer": snooze}\n',
            "x.yaml: helpdesk.jira.statuses.\"Waiting for customer\": Input should be 'open',"
            " 'pause', 'resolve' or 'close'",
        ),
        (
            '  jira:\n    priorities: {"Very High": blocker}\n',
            "x.yaml: helpdesk.jira.priorities.\"Very High\": unknown class 'blocker' (known:"
            " critical, major, minor)",
        ),
        # Secrets come from the environment only: a policy that holds one is refused.
        ("  jira:\n    secret: hunter2\n", "x.yaml: helpdesk.jira.secret: Extra inputs are"),
    ],
)
def test_helpdesk_policy_mistakes_are_one_line_naming_the_field(section: str, problem: str) -> None:
    text = (BUILTIN_DIR / "prokuria.yaml").read_text(encoding="utf-8") + "helpdesk:\n" + section
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "x.yaml")
    (line,) = str(caught.value).splitlines()
    assert line.startswith(problem), line


def test_the_helpdesk_mapping_never_enters_a_tickets_snapshot() -> None:
    policy = parse_policy((BUILTIN_DIR / "prokuria.yaml").read_text() + HELPDESK, "x.yaml")
    assert policy.helpdesk.zendesk is not None
    assert "helpdesk" not in policy.model_dump()


@pytest.mark.parametrize(
    ("secrets", "needle"),
    [
        (
            "prokuria=tiny-secret-1",
            "SLAWATCH_ZENDESK_SECRETS: the secret for 'prokuria' is shorter",
        ),
        ("tiny-secret-1", "SLAWATCH_ZENDESK_SECRETS entry 1: expected tenant=secret"),
    ],
)
def test_weak_or_malformed_helpdesk_secrets_refuse_to_start_outside_the_local_mode(
    secrets: str, needle: str
) -> None:
    live = Settings(
        api_host="0.0.0.0",
        zendesk_secrets=SecretStr(secrets),
        api_tokens=SecretStr("a-long-random-token-0123456789=*"),
    )
    problems = production_problems(live, {Role.API})
    assert any(needle in p for p in problems), problems
    assert not any("tiny-secret" in p for p in problems)  # never the secret itself
    local = Settings(zendesk_secrets=SecretStr(secrets))
    assert production_problems(local, {Role.API}) == []


@pytest.mark.parametrize(
    ("rules", "problem"),
    [
        (
            "  - {channel: phone, class: blocker}\n",
            "x.yaml: class_rules[0].class: unknown class 'blocker' (known: critical, major, minor)",
        ),
        ("  - {class: major}\n", "x.yaml: class_rules[0]: a rule needs at least one"),
        (
            "  - {language: english!, class: major}\n",
            "x.yaml: class_rules[0].language: 'english!' is not a language code",
        ),
        (
            "  - {category: outage, class: major}\n",
            "x.yaml: class_rules[0].category: unknown category 'outage'",
        ),
    ],
)
def test_class_rule_mistakes_are_one_line_naming_the_field(rules: str, problem: str) -> None:
    text = (BUILTIN_DIR / "prokuria.yaml").read_text(encoding="utf-8") + "class_rules:\n" + rules
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "x.yaml")
    (line,) = str(caught.value).splitlines()
    assert line.startswith(problem), line


def test_class_rules_match_every_condition_given_first_match_wins() -> None:
    policy = parse_policy((BUILTIN_DIR / "prokuria.yaml").read_text() + HELPDESK, "x.yaml")
    assert "class_rules" not in policy.model_dump()  # never in a ticket's snapshot
    rules = policy.class_rules
    assert rule_class(rules, "PHONE", "Site DOWN", None, None, None) == "critical"
    assert rule_class(rules, "phone", "slow", "de-AT", None, None) == "major"
    assert rule_class(rules, "web", "down", "pt-BR", None, None) is None
    assert rule_class(rules, "web", None, "deu", None, None) is None  # "de" is not "deu"
