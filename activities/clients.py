"""The real Twilio and SendGrid clients, built from settings, behind the vendors.py Protocols.

SDK-level retries are off: Temporal retries the activity with backoff, and a hidden SDK retry
would send a second SMS outside the idempotency ledger's view.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from typing import Any

import requests
from python_http_client.exceptions import HTTPError as SendGridHTTPError
from requests.adapters import HTTPAdapter
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import (
    Attachment,
    CustomArg,
    Disposition,
    FileContent,
    FileName,
    FileType,
    Mail,
)
from twilio.base import values
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client as TwilioRestClient

from activities.vendors import Email, VendorError
from slawatch.settings import Settings

TWILIO_LIVE_URL = "https://api.twilio.com"
SENDGRID_LIVE_URL = "https://api.sendgrid.com"
# The SDK logs every request URL at INFO; ours are enough, so keep its chatter at WARNING.
_sdk_log = logging.getLogger("slawatch.vendor.twilio")
_sdk_log.setLevel(logging.WARNING)


class TwilioTelephony:
    """Telephony over the official twilio client (stand-in or live, by base URL)."""

    def __init__(self, client: TwilioRestClient, from_number: str) -> None:
        self._client = client
        self._from = from_number

    def _call(self, what: str, send: Callable[[], Any]) -> str:
        try:
            sid = send().sid
        except TwilioRestException as exc:
            raise VendorError(
                "twilio",
                f"{what} refused: {exc.msg}",
                status=exc.status,
                code=exc.code,
            ) from None
        except (requests.RequestException, TwilioException, OSError) as exc:
            raise VendorError("twilio", f"{what} failed: {exc}") from None
        return str(sid)

    def send_sms(self, *, to: str, body: str, status_callback: str | None) -> str:
        """Send one SMS; without a status callback (`slawatch doctor --test-page`) none is asked."""
        messages = self._client.api.v2010.account.messages
        callback = values.unset if status_callback is None else status_callback
        return self._call(
            "SMS",
            lambda: messages.create(to=to, from_=self._from, body=body, status_callback=callback),
        )

    def place_call(self, *, to: str, twiml: str, status_callback: str) -> str:
        calls = self._client.api.v2010.account.calls
        return self._call(
            "call",
            lambda: calls.create(
                to=to,
                from_=self._from,
                twiml=twiml,
                # Only the default "completed" event: its CallStatus (completed, no-answer,
                # busy, failed) is the outcome the ladder needs.
                status_callback=status_callback,
                # Answering-machine detection: the callback's AnsweredBy says when voicemail
                # took the call, and a voicemail is no acknowledgement (the ladder moves on).
                machine_detection="Enable",
            ),
        )


class SendGridMailer:
    """Mailer over the official sendgrid client."""

    def __init__(self, client: SendGridAPIClient, from_email: str) -> None:
        self._client = client
        self._from = from_email

    def send_email(self, email: Email) -> str:
        message = Mail(
            from_email=self._from,
            to_emails=list(email.to),
            subject=email.subject,
            plain_text_content=email.body,
            html_content=email.html,
            is_multiple=True,
        )
        for file in email.attachments:
            message.add_attachment(
                Attachment(
                    FileContent(base64.b64encode(file.content).decode("ascii")),
                    FileName(file.filename),
                    FileType(file.content_type),
                    Disposition("attachment"),
                )
            )
        # SendGrid has no idempotency header; custom_args at least tie the mail to our key.
        message.custom_arg = CustomArg("idempotency_key", email.idempotency_key)
        try:
            response = self._client.send(message)
        except SendGridHTTPError as exc:
            reason, fields = _sendgrid_errors(exc.body)
            raise VendorError(
                "sendgrid", f"email refused: {reason}", status=exc.status_code, fields=fields
            ) from None
        except OSError as exc:  # URLError, timeouts, refused connections
            raise VendorError("sendgrid", f"email failed: {exc}") from None
        return str(response.headers.get("X-Message-Id") or "")


def _sendgrid_errors(body: bytes | str | None) -> tuple[str, tuple[str, ...]]:
    """The messages joined, and the fields SendGrid named, from its `errors` body."""
    try:
        errors = json.loads(body or b"{}").get("errors") or []
        reason = "; ".join(str(e.get("message")) for e in errors) or "no reason given"
        return reason, tuple(str(e["field"]) for e in errors if e.get("field"))
    except (ValueError, AttributeError, TypeError):
        return "unreadable error body", ()


def sendgrid_reason(body: bytes | str | None) -> str:
    """SendGrid's error messages on one line (credential checks report only these)."""
    return _sendgrid_errors(body)[0]


def twilio_client(settings: Settings, timeout: float | None = None) -> TwilioRestClient:
    """The official client pointed at the stand-in or Twilio, with SDK retries off."""
    http = TwilioHttpClient(timeout=timeout or settings.vendor_request_timeout, logger=_sdk_log)
    if http.session is not None:
        for scheme in ("http://", "https://"):
            http.session.mount(scheme, HTTPAdapter(max_retries=0))
    client = TwilioRestClient(
        settings.twilio_account_sid,
        settings.twilio_auth_token.get_secret_value(),
        http_client=http,
    )
    live = settings.notifier_mode == "live"
    client.api.base_url = TWILIO_LIVE_URL if live else settings.twilio_base_url.rstrip("/")
    return client


def sendgrid_client(settings: Settings, timeout: float | None = None) -> SendGridAPIClient:
    """The official client pointed at the capture stand-in or SendGrid."""
    live = settings.notifier_mode == "live"
    host = SENDGRID_LIVE_URL if live else settings.sendgrid_base_url.rstrip("/")
    client = SendGridAPIClient(settings.sendgrid_api_key.get_secret_value(), host=host)
    client.client.timeout = timeout or settings.vendor_request_timeout
    return client


def vendors_from_settings(settings: Settings) -> tuple[TwilioTelephony, SendGridMailer]:
    """Both adapters, ready for NotificationActivities."""
    return (
        TwilioTelephony(twilio_client(settings), settings.twilio_from_number),
        SendGridMailer(sendgrid_client(settings), settings.email_from),
    )
