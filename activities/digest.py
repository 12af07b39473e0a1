"""The digest of an outage group: one SMS or call listing the folded pages' tickets.

Like a page, it carries ticket references, classes and which target breached, never customer
data; the reply hint is the group's own code, which acknowledges every ticket of the group
(intake/webhooks.py). Sent once through the send ledger under the key `digest/<group>/...`,
whichever folded page's workflow asks first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.grouping import ClosedGroup, GroupStore
from activities.vendors import Telephony
from policies.schema import Channel
from slawatch.messages import (
    ACK_DIGIT,
    CLASS,
    GATHER_PATH,
    REF,
    STATUS_CALLBACK_PATH,
    check_field,
    spoken,
    texts_for,
    webhook_url,
)
from slawatch.models import SendDigestInput, SendResult
from slawatch.twiml import digest_voice, gather_twice

# An SMS digest lists this many tickets by name and counts the rest: it stays a few segments.
LISTED = 8
# And never more characters of names than this (references may be 160 characters long): the
# whole text stays well under Twilio's 1,600.
LISTED_CHARS = 900
SendOnce = Callable[[str, str, Callable[[], str], str], Awaitable[SendResult]]


def _line(t: dict[str, str], ref: str, severity: str, kind: str) -> str:
    check_field("ticket_ref", ref, REF)
    check_field("severity", severity, CLASS)
    check_field("kind", kind, CLASS)
    return t["digest_line"].format(ref=ref, severity=severity, kind=t.get(f"digest_{kind}", kind))


def build_digest_sms(group: ClosedGroup) -> str:
    """'slawatch: 19 more tickets breached: a/1 (critical response), ... Reply 4821 to
    acknowledge all 20 (with a/0), or ACK <ticket> for one.', in the language of the page
    that opened the group (English when it had none). The code and "ACK" are the same in
    every language: the webhooks parse them, not the words around them."""
    t = texts_for(group.language)
    folded, leader = group.folded, group.leader
    names: list[str] = []
    for m in folded[:LISTED]:
        line = _line(t, m.ticket_ref, m.severity, m.kind)
        if names and sum(len(n) + 2 for n in names) + len(line) > LISTED_CHARS:
            break
        names.append(line)
    rest = len(folded) - len(names)
    return t["digest"].format(
        count=len(folded),
        names=", ".join(names),
        more=t["digest_more"].format(count=rest) if rest else "",
        code=group.code,
        total=len(group.members),
        leader=leader.ticket_ref,
    )


def build_digest_twiml(group: ClosedGroup, gather_url: str) -> str:
    """A call that reads the folded tickets and asks for 1 to acknowledge the whole group, in
    the `<Say>` language and voice of the page that opened the group."""
    (said, item, tail), goodbye, how = digest_voice(group.language)
    folded = group.folded
    names = "; ".join(
        item.format(ref=spoken(m.ticket_ref), severity=m.severity) for m in folded[:LISTED]
    )
    more = tail.format(count=len(folded) - LISTED) if len(folded) > LISTED else ""
    text = said.format(
        count=len(folded),
        names=names,
        more=more,
        digit=ACK_DIGIT,
        total=len(group.members),
        leader=spoken(group.leader.ticket_ref),
    )
    return gather_twice(text, goodbye, gather_url, how)


class DigestActivities:
    """`send_digest` over the telephony client, the group store and the send ledger."""

    def __init__(
        self, telephony: Telephony, groups: GroupStore, send_once: SendOnce, public_base_url: str
    ) -> None:
        self._telephony = telephony
        self._groups = groups
        self._once = send_once
        self._public = public_base_url

    @activity.defn(name="send_digest")
    async def send_digest(self, input: SendDigestInput) -> SendResult:
        """Close the group and send its digest once; every later caller gets the same SID."""
        try:
            group = await asyncio.to_thread(self._groups.close, input.group)
        except KeyError:
            raise ApplicationError(
                f"group: no outage group {input.group!r}",
                type="NotificationRejected",
                non_retryable=True,
            ) from None
        if (group.address, group.channel) != (input.to, input.channel.value):
            raise ApplicationError(
                f"to: group {input.group} pages {group.channel}, not {input.channel.value}"
                " to this number",
                type="NotificationRejected",
                non_retryable=True,
            )
        callback = webhook_url(
            self._public,
            STATUS_CALLBACK_PATH,
            key=input.idempotency_key,
            wf=input.ticket_workflow_id,
            breach=input.breach_id,
        )
        key = f"digest/{group.group}/{group.channel}"
        if input.channel is Channel.SMS:
            body = build_digest_sms(group)

            def send() -> str:
                return self._telephony.send_sms(
                    to=group.address, body=body, status_callback=callback
                )
        else:
            gather = webhook_url(
                self._public,
                GATHER_PATH,
                key=input.idempotency_key,
                wf=input.ticket_workflow_id,
                breach=input.breach_id,
                group=group.group,
            )
            twiml = build_digest_twiml(group, gather)

            def send() -> str:
                return self._telephony.place_call(
                    to=group.address, twiml=twiml, status_callback=callback
                )

        result = await self._once(key, group.channel, send, group.address)
        return result.model_copy(update={"group": group.group, "code": group.code})
