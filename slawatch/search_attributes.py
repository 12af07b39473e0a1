"""The custom search attributes that make the Temporal UI the operator's console."""

from __future__ import annotations

import re

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.common import SearchAttributeKey

TENANT = SearchAttributeKey.for_keyword("SlaTenant")
CLASS = SearchAttributeKey.for_keyword("SlaClass")
STATE = SearchAttributeKey.for_keyword("SlaState")
RESPONSE_DUE = SearchAttributeKey.for_datetime("SlaResponseDue")
RESOLUTION_DUE = SearchAttributeKey.for_datetime("SlaResolutionDue")
ESCALATION_LEVEL = SearchAttributeKey.for_int("SlaEscalationLevel")
# Phone numbers paged for a breach still escalating: a reply from a phone finds its tickets
# by this (one visibility query), not by reading tickets one by one.
PAGED_TO = SearchAttributeKey.for_keyword_list("SlaPagedTo")
# "failing" while a vendor refuses our account for this ticket's pages; "ok" once they go again.
DELIVERY = SearchAttributeKey.for_keyword("SlaDelivery")
# True from the ticket's first breach on, also after a downgrade withdrew it: `SlaBreached = true`.
BREACHED = SearchAttributeKey.for_bool("SlaBreached")

# Name -> Temporal type, for registering them on a server (dev stack, tests, deploy jobs).
DEFINITIONS = {
    TENANT.name: "Keyword",
    CLASS.name: "Keyword",
    STATE.name: "Keyword",
    RESPONSE_DUE.name: "Datetime",
    RESOLUTION_DUE.name: "Datetime",
    ESCALATION_LEVEL.name: "Int",
    PAGED_TO.name: "KeywordList",
    DELIVERY.name: "Keyword",
    BREACHED.name: "Bool",
}


def indexed_value_type(kind: str) -> IndexedValueType.ValueType:
    """The wire enum for a DEFINITIONS type: "KeywordList" is INDEXED_VALUE_TYPE_KEYWORD_LIST."""
    enum = re.sub(r"(?<!^)(?=[A-Z])", "_", kind).upper()
    return IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{enum}")
