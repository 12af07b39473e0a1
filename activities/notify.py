"""Notification activities: SMS and voice calls through Twilio, email through SendGrid.

Each send goes through the idempotency ledger first, so a Temporal retry or a restarted worker
never repeats a step that the vendor already accepted. A vendor error is read by
activities/vendor_errors.py and raised as one of three ApplicationError types:

- "NotificationRejected", non-retryable: this recipient's number or address is bad; the ladder
  records it and moves on.
- "DeliveryAccountFailure", retryable: the vendor refuses our account (authentication,
  permissions, geo permission for a country, sender number, quota). Every recipient would get
  the same answer, so moving on would page nobody; Temporal backs off and tries again.
- "NotificationUnavailable", retryable: the vendor or the network hiccupped.

Every error carries one details dict: vendor, channel, status, code, reason, scope (and
country/prefix for geo permissions), never a secret or the message body.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.clients import vendors_from_settings
from activities.digest import DigestActivities
from activities.grouping import GroupStore, Placement, open_group_store
from activities.ledger import InFlight, SendLedger, describe, open_ledger
from activities.vendor_errors import Scope, classify
from activities.vendors import Email, Mailer, Telephony, VendorError
from policies.contacts import EMAIL, e164
from slawatch.messages import GATHER_PATH, STATUS_CALLBACK_PATH, sms_language, webhook_url
from slawatch.models import PageGroup, PlaceCallInput, SendEmailInput, SendResult, SendSmsInput
from slawatch.settings import Settings
from slawatch.telemetry import record_delivery_failure
from slawatch.twiml import build_call_twiml

REJECTED = "NotificationRejected"
UNAVAILABLE = "NotificationUnavailable"
ACCOUNT_FAILURE = "DeliveryAccountFailure"
# Another attempt of the same key is sending right now (another host, or a timed-out attempt
# still waiting on the vendor): retryable, so Temporal asks again after backoff.
IN_FLIGHT = "NotificationInFlight"


def _log() -> structlog.typing.FilteringBoundLogger:
    # A fresh proxy per send: a logger cached at import would outlive logging reconfiguration.
    return structlog.get_logger("slawatch.notify")  # type: ignore[no-any-return]


def _rejected(message: str, **details: object) -> ApplicationError:
    return ApplicationError(message, details, type=REJECTED, non_retryable=True)


def _invalid(message: str, **details: object) -> ApplicationError:
    """A rejection of the activity's own input, before any vendor is asked."""
    _log().warning("notify.send", outcome="invalid", reason=message)
    return _rejected(message, **details)


def _e164(field: str, value: str) -> str:
    """`value` if it is a valid E.164 number; a rejection naming the field otherwise."""
    try:
        written = e164(value)
    except ValueError:
        raise _invalid(f"{field}: {value!r} is not a valid phone number", field=field) from None
    if written != value:
        raise _invalid(f"{field}: {value!r} is not in E.164 form (+<country><number>)", field=field)
    return value


def _key(value: str) -> str:
    if not value.strip():
        raise _invalid("idempotency_key: must not be empty", field="idempotency_key")
    return value


class NotificationActivities:
    """The send_sms, place_call and send_email activities over injected vendor clients."""

    def __init__(
        self,
        telephony: Telephony,
        mailer: Mailer,
        ledger: SendLedger,
        public_base_url: str,
        groups: GroupStore | None = None,
    ) -> None:
        self._telephony = telephony
        self._mailer = mailer
        self._ledger = ledger
        self._public = public_base_url
        # Outage grouping (activities/grouping.py); None sends every page on its own.
        self.groups = groups

    async def _grouped(
        self, key: str, to: str, channel: str, group: PageGroup | None, language: str | None
    ) -> tuple[Placement | None, SendResult | None]:
        """Where the page goes in its outage group, and the answer when it was folded; a page
        that opens a group gives it its `language` (the digest's)."""
        if group is None or self.groups is None:
            return None, None
        placed = await asyncio.to_thread(self.groups.place, key, to, channel, group, language)
        if placed.leader:
            return placed, None
        _log().info("notify.send", key=key, channel=channel, outcome="folded", group=placed.group)
        return placed, SendResult(
            ok=True,
            detail=f"folded into {placed.group}",
            group=placed.group,
            digest_at=placed.window_end,
        )

    async def _once(
        self, key: str, channel: str, send: Callable[[], str], to: str = ""
    ) -> SendResult:
        """Send unless the ledger says `key` already went out; record the outcome."""
        logger = _log().bind(key=key, channel=channel)
        try:
            prior = await asyncio.to_thread(self._ledger.begin, key, channel)
        except InFlight:
            logger.warning("notify.send", outcome="in_flight")
            raise ApplicationError("another attempt is sending this key", type=IN_FLIGHT) from None
        if prior is not None:
            logger.info("notify.send", outcome="duplicate", provider_id=prior.provider_id)
            return prior
        try:
            provider_id = await asyncio.to_thread(send)
        except VendorError as exc:
            found = classify(exc, channel, activity.info().attempt, to)
            details = found.details
            if found.scope is not Scope.RECIPIENT:
                # Retryable (transient or account-wide): this attempt is over and nothing was
                # delivered, or a timed-out request may still arrive (the design resends rather
                # than miss a page). Either way Temporal's retry need not wait out the lease.
                await asyncio.to_thread(self._ledger.release, key)
            if found.scope is Scope.TRANSIENT:
                logger.warning("notify.send", outcome="retry", **details)
                raise ApplicationError(exc.message, details, type=UNAVAILABLE) from None
            meter = activity.metric_meter()
            record_delivery_failure(meter, exc.vendor, channel, found.scope.value)
            if found.scope is Scope.ACCOUNT:
                # The ledger entry stays "sending" (released above): the retry sends.
                logger.error("notify.send", outcome="account_failure", **details)
                raise ApplicationError(str(exc), details, type=ACCOUNT_FAILURE) from None
            result = SendResult(ok=False, detail=str(exc))
            await asyncio.to_thread(self._ledger.mark_rejected, key, result)
            logger.warning("notify.send", outcome="rejected", **details)
            raise _rejected(str(exc), **details) from None
        except Exception:
            # Not a vendor answer (a bug in a client): the attempt is over all the same. A
            # cancelled attempt keeps its lease: its request may still be on its way.
            await asyncio.to_thread(self._ledger.release, key)
            raise
        result = SendResult(ok=True, provider_id=provider_id, detail=f"{channel} accepted")
        await asyncio.to_thread(self._ledger.mark_sent, key, result)
        logger.info("notify.send", outcome="sent", provider_id=provider_id)
        return result

    async def send_once(
        self, key: str, channel: str, send: Callable[[], str], to: str = ""
    ) -> SendResult:
        """`send` through the ledger, as every page goes (the digest's send, too)."""
        return await self._once(key, channel, send, to)

    def _status_url(self, key: str, workflow_id: str, breach_id: str) -> str:
        # The key in the callback URL lets intake route a delivery status to its step.
        return webhook_url(
            self._public, STATUS_CALLBACK_PATH, key=key, wf=workflow_id, breach=breach_id
        )

    @activity.defn(name="send_sms")
    async def send_sms(self, input: SendSmsInput) -> SendResult:
        """Send one escalation SMS (text built by the workflow from messages.py)."""
        key, to = _key(input.idempotency_key), _e164("to", input.to)
        if not input.body.strip():
            raise _invalid("body: must not be empty", field="body")
        # The workflow wrote the body in the responder's language; the digest follows it.
        language = sms_language(input.body)
        placed, folded = await self._grouped(key, to, "sms", input.group, language)
        if folded is not None:
            return folded
        callback = self._status_url(key, input.ticket_workflow_id, input.breach_id)
        result = await self._once(
            key,
            "sms",
            lambda: self._telephony.send_sms(to=to, body=input.body, status_callback=callback),
            to,
        )
        return result if placed is None else result.model_copy(update={"group": placed.group})

    @activity.defn(name="place_call")
    async def place_call(self, input: PlaceCallInput) -> SendResult:
        """Place one escalation call that reads the ticket and class and asks for 1 to ack."""
        key, to = _key(input.idempotency_key), _e164("to", input.to)
        gather = webhook_url(
            self._public, GATHER_PATH, key=key, wf=input.ticket_workflow_id, breach=input.breach_id
        )
        try:
            twiml = build_call_twiml(input.ticket_ref, input.severity, gather, input.language)
        except ValueError as exc:
            raise _invalid(str(exc)) from None
        placed, folded = await self._grouped(key, to, "voice", input.group, input.language)
        if folded is not None:
            return folded
        callback = self._status_url(key, input.ticket_workflow_id, input.breach_id)
        result = await self._once(
            key,
            "voice",
            lambda: self._telephony.place_call(to=to, twiml=twiml, status_callback=callback),
            to,
        )
        return result if placed is None else result.model_copy(update={"group": placed.group})

    @activity.defn(name="send_email")
    async def send_email(self, input: SendEmailInput) -> SendResult:
        """Send one escalation or warning email to every address in `to`."""
        key = _key(input.idempotency_key)
        bad = [addr for addr in input.to if not EMAIL.match(addr)]
        if bad:
            raise _invalid(f"to: {bad[0]!r} is not an email address", field="to")
        if not input.subject.strip():
            raise _invalid("subject: must not be empty", field="subject")
        email = Email(tuple(input.to), input.subject, input.body, key)
        return await self._once(key, "email", lambda: self._mailer.send_email(email))

    def all(self) -> list[Callable[..., Awaitable[SendResult]]]:
        """The activity methods, for Worker(activities=...)."""
        return [self.send_sms, self.place_call, self.send_email]


def notification_activities(settings: Settings) -> list[Callable[..., Awaitable[SendResult]]]:
    """The activities wired to the real vendor clients, the ledger settings name and the
    outage groups beside it: the three sends and `send_digest`."""
    telephony, mailer = vendors_from_settings(settings)
    ledger = open_ledger(settings)
    _log().info("notify.ledger", at=describe(settings))
    groups = open_group_store(settings)
    notify = NotificationActivities(telephony, mailer, ledger, settings.public_base_url, groups)
    digest = DigestActivities(telephony, groups, notify.send_once, settings.public_base_url)
    return [*notify.all(), digest.send_digest]
