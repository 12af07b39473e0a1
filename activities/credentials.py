"""Cheap authenticated reads that show Twilio and SendGrid accept our credentials.

Used at start-up in live mode and by `slawatch doctor`. Each check returns None when the vendor
(or its local stand-in) accepts the credentials, otherwise one line naming the setting to fix.
Nothing is sent: Twilio reads the Account resource, SendGrid lists the key's own scopes.
"""

from __future__ import annotations

import json

import requests
from python_http_client.exceptions import HTTPError as SendGridHTTPError
from twilio.base.exceptions import TwilioException, TwilioRestException

from activities.clients import sendgrid_client, sendgrid_reason, twilio_client
from slawatch.settings import Settings

# Start-up waits at most this long per vendor; a vendor slower than this would page late anyway.
CHECK_TIMEOUT = 5.0
MAIL_SEND_SCOPE = "mail.send"


def _network(who: str, url: str, exc: BaseException, timeout: float) -> str:
    # The exception's own text can be a page long (and carries the request URL): the kind is enough.
    if isinstance(exc, TimeoutError | requests.Timeout) or isinstance(
        getattr(exc, "reason", None), TimeoutError
    ):
        return f"{who} at {url} did not answer within {timeout:g} s (network error)"
    return f"cannot reach {who} at {url}: network error ({type(exc).__name__})"


def twilio_problem(settings: Settings, timeout: float = CHECK_TIMEOUT) -> str | None:
    """GET /2010-04-01/Accounts/{Sid}.json with our SID and auth token."""
    client = twilio_client(settings, timeout)
    who = "Twilio" if settings.notifier_mode == "live" else "the Twilio stand-in"
    url = client.api.base_url
    try:
        account = client.api.v2010.accounts(settings.twilio_account_sid).fetch()
    except TwilioRestException as exc:
        if exc.status == 401:
            return (
                f"SLAWATCH_TWILIO_AUTH_TOKEN was refused by {who} (401);"
                " check it belongs to SLAWATCH_TWILIO_ACCOUNT_SID"
            )
        if exc.status in (403, 404):
            return f"SLAWATCH_TWILIO_ACCOUNT_SID was refused by {who} ({exc.status})"
        return f"{who} answered {exc.status} to the account check (Twilio error {exc.code})"
    except (requests.RequestException, TwilioException, OSError) as exc:
        return _network(who, url, exc, timeout)
    if account.status not in (None, "active"):
        return f"the Twilio account (SLAWATCH_TWILIO_ACCOUNT_SID) is {account.status}, not active"
    return None


def sendgrid_problem(settings: Settings, timeout: float = CHECK_TIMEOUT) -> str | None:
    """Live: GET /v3/scopes (any key may read its own scopes). Stand-in: an empty mail."""
    client = sendgrid_client(settings, timeout)
    live = settings.notifier_mode == "live"
    who = "SendGrid" if live else "the SendGrid stand-in"
    try:
        if live:
            response = client.client.scopes.get()
        else:
            # The capture stand-in serves only mail/send. An empty mail is refused 400 after the
            # key is checked, so 400 means "answering, key accepted", and nothing is captured.
            client.client.mail.send.post(request_body={})
            return f"{who} accepted an empty mail: is {client.host} really the stand-in?"
    except SendGridHTTPError as exc:
        if exc.status_code in (401, 403):
            return f"SLAWATCH_SENDGRID_API_KEY was refused by {who} ({exc.status_code})"
        if not live and exc.status_code == 400:
            return None
        return f"{who} answered {exc.status_code}: {sendgrid_reason(exc.body)}"
    except OSError as exc:  # URLError, refused connections, timeouts
        return _network(who, client.host, exc, timeout)
    try:
        scopes = json.loads(response.body or b"{}").get("scopes") or []
    except (ValueError, AttributeError):
        return f"{who} answered /v3/scopes with an unreadable body"
    if MAIL_SEND_SCOPE not in scopes:
        return f"SLAWATCH_SENDGRID_API_KEY lacks the {MAIL_SEND_SCOPE} permission; grant Mail Send"
    return None
