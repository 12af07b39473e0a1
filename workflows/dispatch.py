"""Sending one ladder step: each recipient on each channel, through the notification activities."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.notify import NotificationActivities
    from policies.schema import Channel
    from slawatch.messages import build_sms_body
    from slawatch.models import (
        EscalationInput,
        PlaceCallInput,
        Recipient,
        SendEmailInput,
        SendResult,
        SendSmsInput,
        SentNotification,
        ticket_ref,
    )
    from slawatch.settings import notify_queue_for
    from slawatch.telemetry import record_notification, record_page_lag
    from workflows.grouping import await_digest, page_group
    from workflows.notices import email_body, email_subject
    from workflows.notify_options import (
        ACCOUNT_FAILURE,
        NOTIFY_RETRY,
        NOTIFY_RETRY_ASSURED,
        NOTIFY_SCHEDULE_TO_CLOSE,
        NOTIFY_START_TO_CLOSE,
    )
    from workflows.versions import patched

DELIVERY_ASSURANCE = "delivery-assurance"
# The label escalation.py gives round 1, step 1: the page whose lag the alert watches.
FIRST_STEP_LABEL = "r1s1"

SendInput = TypeVar("SendInput", SendSmsInput, PlaceCallInput, SendEmailInput)
Notify = Callable[[NotificationActivities, SendInput], Awaitable[SendResult]]


def idempotency_key(input: EscalationInput, label: str, channel: Channel, who: str) -> str:
    """One key per (ticket, breach, step, channel, recipient): a retry reuses it, never resends."""
    return f"{input.ticket_workflow_id}/{input.breach_id}/{label}/{channel.value}/{who}"


async def send_step(
    input: EscalationInput,
    people: list[Recipient],
    channels: list[Channel],
    label: str,
    codes: dict[str, str] | None = None,
) -> list[SentNotification]:
    """Send one step; `codes` gives each person's one-time acknowledgement code for phones."""
    jobs = []
    for person in people:
        for channel in channels:
            address = person.email if channel is Channel.EMAIL else person.phone
            if address:
                code = (codes or {}).get(person.id) if channel is not Channel.EMAIL else None
                jobs.append((person, channel, address, code))
    results = await asyncio.gather(*(send_one(input, p, c, a, label, k) for p, c, a, k in jobs))
    return list(results)


async def send_one(
    input: EscalationInput,
    person: Recipient,
    channel: Channel,
    address: str,
    label: str,
    code: str | None,
) -> SentNotification:
    key = idempotency_key(input, label, channel, person.id)
    ref = ticket_ref(input.tenant, input.ticket_id)
    arg: SendSmsInput | PlaceCallInput | SendEmailInput
    if channel is Channel.SMS:
        body = build_sms_body(
            ref, input.severity, input.kind.value, code=code, language=person.language
        )
        arg = SendSmsInput(
            to=address,
            body=body,
            idempotency_key=key,
            ticket_workflow_id=input.ticket_workflow_id,
            breach_id=input.breach_id,
        )
    elif channel is Channel.VOICE:
        arg = PlaceCallInput(
            to=address,
            ticket_ref=ref,
            severity=input.severity,
            idempotency_key=key,
            language=person.language,
            ticket_workflow_id=input.ticket_workflow_id,
            breach_id=input.breach_id,
        )
    else:
        arg = SendEmailInput(
            to=[address],
            subject=email_subject(ref, input.severity, input.kind.value),
            body=email_body(ref, input.severity, input.kind.value, input.breached_at),
            idempotency_key=key,
        )
    ok, detail, failure = True, "", None
    assured = patched(DELIVERY_ASSURANCE, input.revision)
    # Outage grouping (workflows/grouping.py): None unless the page may be folded.
    group = page_group(input, ref, channel)
    if group is not None and not isinstance(arg, SendEmailInput):
        arg.group = group
    folded, group_id = False, None
    try:
        retry = NOTIFY_RETRY_ASSURED if assured else NOTIFY_RETRY
        result = await _notify(arg, retry, summary=f"{channel.value} to {person.id}")
        if result.digest_at is not None:
            folded = True
            result = await await_digest(input, result, channel, address, key, retry)
            code = result.code or code
        ok, detail, group_id = result.ok, result.provider_id or result.detail, result.group
    except ActivityError as err:
        # Rejected (invalid number, 4xx) or out of retries: recorded, and the ladder moves on.
        cause = err.cause
        ok = False
        detail = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
        if isinstance(cause, ApplicationError) and assured:
            failure = "account" if cause.type == ACCOUNT_FAILURE else "recipient"
    meter = workflow.metric_meter()
    record_notification(meter, input.tenant, channel.value, "sent" if ok else "failed")
    if ok:
        lag = (workflow.now() - input.breached_at).total_seconds()
        emergency = input.policy.classes[input.severity].emergency
        first = label == FIRST_STEP_LABEL
        record_page_lag(
            meter, input.tenant, channel.value, lag, first_step=first, emergency=emergency
        )
    return SentNotification(
        breach_id=input.breach_id,
        key=key,
        channel=channel,
        to=address,
        recipient=person.id,
        at=workflow.now(),
        ok=ok,
        detail=detail[:300],
        code=code,
        failure=failure,
        group=group_id,
        folded=folded,
    )


def _notify(
    arg: SendSmsInput | PlaceCallInput | SendEmailInput, retry: RetryPolicy, summary: str
) -> Awaitable[SendResult]:
    """The channel's activity by method reference, so the type checker sees its input; the
    activity type names (`send_sms`, `place_call`, `send_email`) are the ones older histories
    hold, so they replay."""
    if isinstance(arg, SendSmsInput):
        return _execute(NotificationActivities.send_sms, arg, retry, summary)
    if isinstance(arg, PlaceCallInput):
        return _execute(NotificationActivities.place_call, arg, retry, summary)
    return _execute(NotificationActivities.send_email, arg, retry, summary)


def _execute(
    method: Notify[SendInput], arg: SendInput, retry: RetryPolicy, summary: str
) -> Awaitable[SendResult]:
    return workflow.execute_activity_method(
        method,
        arg,
        task_queue=notify_queue_for(workflow.info().task_queue),
        start_to_close_timeout=NOTIFY_START_TO_CLOSE,
        schedule_to_close_timeout=NOTIFY_SCHEDULE_TO_CLOSE,
        retry_policy=retry,
        summary=summary,
    )
