"""Outage grouping in the workflows: which pages may fold, and the wait for a folded page's digest.

The send activity decides (activities/grouping.py): a page either goes at once, as before, or
comes back folded into its number's open group with the instant the group's window ends. Only
then does this module add anything: a durable timer to that instant and the `send_digest`
activity, whose answer (the digest's SID and the group's code) is the page's record. The path
of a page that is not folded gains no workflow task and no activity.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.digest import DigestActivities
    from policies.schema import Channel
    from slawatch.models import EscalationInput, PageGroup, SendDigestInput, SendResult
    from slawatch.settings import notify_queue_for
    from workflows.versions import patched

# Patch: phone pages carry their outage group; a folded page waits for its group's digest.
OUTAGE_GROUPING = "outage-grouping"
DIGEST_START_TO_CLOSE = timedelta(seconds=30)
DIGEST_SCHEDULE_TO_CLOSE = timedelta(minutes=10)


def page_group(input: EscalationInput, ticket_ref: str, channel: Channel) -> PageGroup | None:
    """The grouping a phone page asks for, or None (email, grouping off, or an old ticket)."""
    if channel is Channel.EMAIL:
        return None
    seconds = input.policy.grouping.seconds()
    if not seconds or not patched(OUTAGE_GROUPING, input.revision):
        return None
    return PageGroup(
        tenant=input.tenant,
        window_seconds=seconds,
        ticket_ref=ticket_ref,
        severity=input.severity,
        kind=input.kind.value,
        at=workflow.now(),
    )


async def await_digest(
    input: EscalationInput,
    folded: SendResult,
    channel: Channel,
    to: str,
    key: str,
    retry_policy: RetryPolicy,
) -> SendResult:
    """A folded page: wait until its group's window ends, then the group's digest (sent once
    by whichever member asks first; the others get the same message)."""
    assert folded.group is not None and folded.digest_at is not None
    delay = folded.digest_at - workflow.now()
    if delay > timedelta(0):
        await workflow.sleep(
            delay, summary=f"folded into {folded.group}: digest at {folded.digest_at:%H:%M:%S}"
        )
    result: SendResult = await workflow.execute_activity_method(
        DigestActivities.send_digest,
        SendDigestInput(
            group=folded.group,
            channel=channel,
            to=to,
            idempotency_key=key,
            ticket_workflow_id=input.ticket_workflow_id,
            breach_id=input.breach_id,
        ),
        task_queue=notify_queue_for(workflow.info().task_queue),
        start_to_close_timeout=DIGEST_START_TO_CLOSE,
        schedule_to_close_timeout=DIGEST_SCHEDULE_TO_CLOSE,
        retry_policy=retry_policy,
        summary=f"digest of {folded.group}",
    )
    return result
