"""The small surfaces the notification activities need from Twilio and SendGrid.

The activities depend on these Protocols, not on the SDKs, so a unit test can pass a fake and
the worker passes the real adapters from activities/clients.py. Calls are blocking; the
activities run them in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class VendorError(Exception):
    """A vendor call that failed, as the vendor said it; activities/vendor_errors.py reads it.

    `status` is None when no answer came back (refused connection, timeout). `code` is the
    vendor's own error code (Twilio's); `fields` the request fields it named (SendGrid's).
    """

    def __init__(
        self,
        vendor: str,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        fields: tuple[str, ...] = (),
    ) -> None:
        super().__init__(f"{vendor}: {message}")
        self.vendor = vendor
        self.message = message
        self.status = status
        self.code = code
        self.fields = fields


@dataclass(frozen=True)
class Attachment:
    """A file sent with an email (the monthly report's CSV)."""

    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class Email:
    """One email, plain text (and HTML when given); each recipient gets their own copy."""

    to: tuple[str, ...]
    subject: str
    body: str
    idempotency_key: str
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()


class Telephony(Protocol):
    """What we ask of Twilio: send one SMS, place one call. Both return the provider's SID."""

    def send_sms(self, *, to: str, body: str, status_callback: str) -> str: ...

    def place_call(self, *, to: str, twiml: str, status_callback: str) -> str: ...


class Mailer(Protocol):
    """What we ask of SendGrid: send one email and return its message ID."""

    def send_email(self, email: Email) -> str: ...
