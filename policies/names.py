"""The one spelling of a name (tenant, class, role, person, schedule) and of a ticket id.

Standard library only: workflows, the page texts and the API all check against these. Pydantic
checks them with Rust's regex, where `$` is the very end; Python code uses re.fullmatch on the
bare forms, never re.match (whose `$` also matches before a trailing newline).
"""

from __future__ import annotations

NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"
TICKET_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
# The same without the anchors, to build larger patterns from (the legacy workflow id).
NAME = NAME_PATTERN.strip("^$")
TICKET_ID = TICKET_ID_PATTERN.strip("^$")
