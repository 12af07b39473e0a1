"""The one spelling of a name (tenant, class, role, person, schedule), of a ticket id and of a
language tag.

Standard library only: workflows, the page texts and the API all check against these. Pydantic
checks them with Rust's regex, where `$` is the very end; Python code uses re.fullmatch on the
bare forms, never re.match (whose `$` also matches before a trailing newline).
"""

from __future__ import annotations

import re

NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"
TICKET_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
# The same without the anchors, to build larger patterns from (the legacy workflow id).
NAME = NAME_PATTERN.strip("^$")
TICKET_ID = TICKET_ID_PATTERN.strip("^$")

# A language tag as BCP 47 writes it, in the short forms help desks send: en, ro, pt-BR, zh-Hant.
LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}")


def language_tag(value: str | None) -> str | None:
    """A pydantic field validator's body: None, or a language tag; else one line saying so."""
    if value is not None and not LANGUAGE_TAG.fullmatch(value):
        raise ValueError(f"{value!r} is not a language code (BCP 47: en, ro, pt-BR)")
    return value
