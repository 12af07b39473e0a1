"""Class rules: the policy picks a ticket's class from what intake says of it.

A rule matches on the fields intake sends with a ticket (`channel`, `subject`, `language`,
`customer_ref`, `category`); the first rule whose every condition holds names the class. They
apply only when intake names no class: a class given is the intake system's decision.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from policies import names
from policies.calendar import Name, Strict


class ClassRule(Strict):
    """`class` for a ticket that matches every condition given (at least one)."""

    channel: str | None = Field(default=None, min_length=1, max_length=64)  # any case
    subject_contains: str | None = Field(default=None, min_length=1, max_length=200)  # any case
    # A primary language ("de" matches "de-AT") or a full tag ("pt-BR"), any case.
    language: str | None = None
    customer_ref: str | None = Field(default=None, min_length=1, max_length=256)
    category: Name | None = None
    class_: Name = Field(alias="class")

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        return names.language_tag(value)

    @model_validator(mode="after")
    def _some_condition(self) -> ClassRule:
        given = (self.channel, self.subject_contains, self.language, self.customer_ref)
        if all(v is None for v in (*given, self.category)):
            raise ValueError("a rule needs at least one condition besides its class")
        return self

    def matches(
        self,
        channel: str | None,
        subject: str | None,
        language: str | None,
        customer_ref: str | None,
        category: str | None,
    ) -> bool:
        if self.channel is not None and (channel or "").casefold() != self.channel.casefold():
            return False
        wanted = self.subject_contains
        if wanted is not None and wanted.casefold() not in (subject or "").casefold():
            return False
        if self.language is not None and not _same_language(self.language, language):
            return False
        if self.customer_ref is not None and customer_ref != self.customer_ref:
            return False
        return self.category is None or category == self.category


def _same_language(rule: str, given: str | None) -> bool:
    if given is None:
        return False
    rule, given = rule.casefold(), given.casefold()
    return given == rule or ("-" not in rule and given.split("-")[0] == rule)


def rule_class(
    rules: list[ClassRule],
    channel: str | None,
    subject: str | None,
    language: str | None,
    customer_ref: str | None,
    category: str | None,
) -> str | None:
    """The class of the first matching rule, or None."""
    for rule in rules:
        if rule.matches(channel, subject, language, customer_ref, category):
            return rule.class_
    return None
