"""Signed Twilio webhook posts and ticket status reads, shared by the webhook tests."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

import httpx
from twilio.request_validator import RequestValidator

from slawatch.models import TicketStatus
from slawatch.settings import DEV_ACCOUNT_SID
from tests.intake_fixtures import PUBLIC_BASE, TWILIO_TOKEN, Api

ANA = "+40721555101"  # prokuria's example primary on-call (PIN 1234)


async def post(
    api: Api, path: str, query: dict[str, str], form: dict[str, str], token: str = TWILIO_TOKEN
) -> httpx.Response:
    """A webhook as Twilio sends it: its account, fresh SIDs, signed over the public URL."""
    qs = urlencode(query)
    url = f"{PUBLIC_BASE}{path}" + (f"?{qs}" if qs else "")
    sids = {"MessageSid": f"SM{uuid.uuid4().hex}", "CallSid": f"CA{uuid.uuid4().hex}"}
    form = {"AccountSid": DEV_ACCOUNT_SID, **sids, **form}
    signature = RequestValidator(token).compute_signature(url, form)
    headers = {"X-Twilio-Signature": signature}
    return await api.http.post(f"{path}?{qs}", data=form, headers=headers)


async def status(api: Api, wf: str) -> TicketStatus:
    result: TicketStatus = await api.client.get_workflow_handle(wf).query(
        "status", result_type=TicketStatus
    )
    return result
