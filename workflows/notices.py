"""What people read: the ticket's one-line summary, email texts, and warning emails."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.notify import NotificationActivities
    from policies.oncall import members_at
    from policies.schema import Channel
    from slawatch.models import (
        SendEmailInput,
        SentNotification,
        TargetKind,
        TicketState,
        escalation_level,
        ticket_ref,
    )
    from slawatch.settings import notify_queue_for
    from workflows import sla
    from workflows.notify_options import (
        NOTIFY_RETRY,
        NOTIFY_SCHEDULE_TO_CLOSE,
        NOTIFY_START_TO_CLOSE,
    )


def email_subject(ref: str, severity: str, kind: str, percent: int | None = None) -> str:
    if percent is None:
        return f"[slawatch] BREACH {ref} ({severity}): {kind} target missed"
    return f"[slawatch] Warning {ref} ({severity}): {percent}% of {kind} target used"


def email_body(ref: str, severity: str, kind: str, at: datetime, percent: int | None = None) -> str:
    # Reference and class only, like SMS: details live in the help desk, behind its login.
    what = "was breached" if percent is None else f"reached {percent}% of its target"
    return (
        f"Ticket {ref}, class {severity}: the {kind} target {what} at {at.isoformat()}.\n"
        f"Acknowledge by replying ACK {ref} to the SMS, pressing 1 on the call, or via the API.\n"
    )


def summary_line(ticket_id: str, s: TicketState, now: datetime) -> str:
    """The ticket as one line in the Temporal UI."""
    parts = [f"{s.policy.tenant} {ticket_id}", s.severity, s.phase.value]
    for kind in TargetKind:
        status = sla.target_status(s, kind, now)
        if status.due is not None and status.state.value in ("on_track", "at_risk"):
            parts.append(f"{kind.value} due {status.due:%Y-%m-%d %H:%M}Z")
        elif status.state.value != "none":
            parts.append(f"{kind.value} {status.state.value}")
    level = escalation_level(s.breaches)
    if level:
        parts.append(f"escalation level {level}")
    if s.delivery_failing:
        # The operator's first clue when Twilio or SendGrid refuses the account.
        parts.append("DELIVERY FAILING: " + sorted(set(s.delivery_failing.values()))[0])
    return " · ".join(parts)


async def send_warning(
    s: TicketState, ticket_id: str, kind: TargetKind, percent: int, now: datetime
) -> None:
    """Email the warning roles (and the support address) that a target is running out."""
    policy = s.policy
    # A schedule named here is read from the ticket's snapshot at the warning (no overrides).
    people = [p for role in policy.warnings.email_roles for p in members_at(policy, role, now)]
    to = [policy.responders[p].email for p in dict.fromkeys(people)] or [policy.support_email]
    ref = ticket_ref(policy.tenant, ticket_id)
    key = f"{workflow.info().workflow_id}/warning-{kind.value}-{percent}-{s.severity}"
    record = SentNotification(
        breach_id=f"warning-{kind.value}-{percent}",
        key=key,
        channel=Channel.EMAIL,
        to=",".join(to),
        recipient=",".join(dict.fromkeys(people)) or "support",
        at=now,
        ok=True,
    )
    try:
        await workflow.execute_activity_method(
            NotificationActivities.send_email,
            SendEmailInput(
                to=to,
                subject=email_subject(ref, s.severity, kind.value, percent),
                body=email_body(ref, s.severity, kind.value, now, percent),
                idempotency_key=key,
            ),
            task_queue=notify_queue_for(workflow.info().task_queue),
            start_to_close_timeout=NOTIFY_START_TO_CLOSE,
            schedule_to_close_timeout=NOTIFY_SCHEDULE_TO_CLOSE,
            retry_policy=NOTIFY_RETRY,
            summary=f"{kind.value} warning {percent}%",
        )
    except ActivityError as err:
        # A lost warning email must never stop the clock: note it and carry on.
        workflow.logger.warning("warning email failed: %s", err)
        record.ok, record.detail = False, str(err.cause or err)[:300]
    # In the ticket's timeline beside the pages: who was warned, when, and whether it went.
    record.at = workflow.now()
    s.sent.append(record)
