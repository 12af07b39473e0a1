"""The custom search attributes that make the Temporal UI the operator's console."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

TENANT = SearchAttributeKey.for_keyword("SlaTenant")
CLASS = SearchAttributeKey.for_keyword("SlaClass")
STATE = SearchAttributeKey.for_keyword("SlaState")
RESPONSE_DUE = SearchAttributeKey.for_datetime("SlaResponseDue")
RESOLUTION_DUE = SearchAttributeKey.for_datetime("SlaResolutionDue")
ESCALATION_LEVEL = SearchAttributeKey.for_int("SlaEscalationLevel")

# Name -> Temporal type, for registering them on a server (dev stack, tests, deploy jobs).
DEFINITIONS = {
    TENANT.name: "Keyword",
    CLASS.name: "Keyword",
    STATE.name: "Keyword",
    RESPONSE_DUE.name: "Datetime",
    RESOLUTION_DUE.name: "Datetime",
    ESCALATION_LEVEL.name: "Int",
}
