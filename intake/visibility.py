"""The ticket search attributes and list queries over Temporal visibility."""

from __future__ import annotations

from temporalio.client import WorkflowExecution

from intake.errors import ApiError
from intake.schemas import SLA_STATES, TicketSummary
from slawatch.models import (
    TENANT_NAME,
    TICKET_WORKFLOW_TYPE,
    legacy_workflow_id,
    parse_ticket_workflow_id,
)
from slawatch.search_attributes import CLASS as SLA_CLASS
from slawatch.search_attributes import ESCALATION_LEVEL as SLA_ESCALATION_LEVEL
from slawatch.search_attributes import RESOLUTION_DUE as SLA_RESOLUTION_DUE
from slawatch.search_attributes import RESPONSE_DUE as SLA_RESPONSE_DUE
from slawatch.search_attributes import STATE as SLA_STATE
from slawatch.search_attributes import TENANT as SLA_TENANT

WORKFLOW_TYPE = TICKET_WORKFLOW_TYPE

# Values quoted into a visibility query: fullmatch, so no trailing newline slips through.
_NAME = TENANT_NAME


def list_query(
    tenant: str | None,
    state: str | None,
    severity: str | None,
    allowed: frozenset[str] | None,
) -> str:
    """A visibility query for ticket workflows; every value is checked before it is quoted."""
    if tenant is not None and not _NAME.fullmatch(tenant):
        raise ApiError(422, f"tenant {tenant!r} is not a tenant name", field="tenant")
    if severity is not None and not _NAME.fullmatch(severity):
        raise ApiError(422, f"severity {severity!r} is not a class name", field="severity")
    if state is not None and state not in SLA_STATES:
        raise ApiError(422, f"state must be one of {', '.join(SLA_STATES)}", field="state")
    clauses = [f"WorkflowType = '{WORKFLOW_TYPE}'"]
    if tenant is not None:
        if allowed is not None and tenant not in allowed:
            raise ApiError(403, f"this token may not act for tenant {tenant!r}")
        clauses.append(f"SlaTenant = '{tenant}'")
    elif allowed is not None:
        # Tokens come from settings, but quote only names that could be tenants.
        names = sorted(t for t in allowed if _NAME.fullmatch(t))
        if not names:
            raise ApiError(403, "this token may not list any tenant")
        clauses.append("SlaTenant IN (" + ", ".join(f"'{t}'" for t in names) + ")")
    if state is not None:
        clauses.append(f"SlaState = '{state}'")
    if severity is not None:
        clauses.append(f"SlaClass = '{severity}'")
    return " AND ".join(clauses)


def summary(execution: WorkflowExecution) -> TicketSummary:
    """A list row from a workflow's search attributes (visibility, no worker involved)."""
    attrs = execution.typed_search_attributes
    tenant = attrs.get(SLA_TENANT) or ""
    parsed = parse_ticket_workflow_id(execution.id)
    if parsed is not None:
        ticket_id = parsed[1]
    else:  # the legacy form: its tenant is known from the search attribute
        prefix = legacy_workflow_id(tenant, "")
        ticket_id = execution.id.removeprefix(prefix) if tenant else execution.id
    return TicketSummary(
        tenant=tenant,
        ticket_id=ticket_id,
        workflow_id=execution.id,
        run_status=execution.status.name.lower() if execution.status else "unknown",
        opened_at=execution.start_time,
        severity=attrs.get(SLA_CLASS),
        sla_state=attrs.get(SLA_STATE),
        response_due=attrs.get(SLA_RESPONSE_DUE),
        resolution_due=attrs.get(SLA_RESOLUTION_DUE),
        escalation_level=attrs.get(SLA_ESCALATION_LEVEL),
    )
