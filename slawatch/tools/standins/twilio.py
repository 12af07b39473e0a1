"""Twilio stand-in: a recording reverse proxy in front of Prism serving Twilio's own spec.

Prism checks each request against the official OpenAPI spec (path, account SID, required form
fields, Basic auth) and answers with the spec's fixed example, so tests assert on the outbox:
one JSON line per request with its form fields and the status we answered. On top of Prism it
behaves like Twilio where the spec cannot say so: invalid or Twilio's magic-invalid To numbers
get 400 code 21211, a wrong auth token 401 code 20003; and it can inject faults, including the
account-wide ones (every request 401 for an expired token; 21408/21215 for a geo-blocked prefix).
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from slawatch.tools.standins.faults import Fault, FaultPlan, faults_route, inject
from slawatch.tools.standins.outbox import OutboxWriter
from slawatch.tools.standins.prism import PrismProcess
from slawatch.tools.standins.server import ThreadedServer

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
# Twilio's test-credential number that always fails as "invalid To" (error 21211).
MAGIC_INVALID_NUMBERS = frozenset({"+15005550001"})


def twilio_error(status: int, message: str, code: int | None = None) -> JSONResponse:
    """An error body shaped like Twilio's, so the real client raises TwilioRestException."""
    code = code or {429: 20429, 401: 20003}.get(status, 20500)
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return JSONResponse(body, status_code=status)


def account_refusal(fault: Fault, path: str, to: str | None) -> JSONResponse:
    """Twilio's answer when the account itself is refused (as FaultPlan.account_fault says)."""
    if fault is Fault.GEO_BLOCKED:
        if path.endswith("/Calls.json"):
            return twilio_error(400, f"Account not authorized to call {to}.", 21215)
        return twilio_error(
            400,
            "Permission to send an SMS has not been enabled for the region indicated by the"
            f" 'To' number: {to}",
            21408,
        )
    # An expired or revoked token, or an account suspended (quota_exceeded: out of funds):
    # Twilio's 20003 lists both causes, and answers it to every request.
    return twilio_error(401, "Authenticate", 20003)


def _unique_sid(content: bytes) -> bytes:
    """Prism answers every create with the spec's one example SID; Twilio gives each message
    and call its own, and tests tell pages apart by it (the digest that paged a ticket)."""
    try:
        data = json.loads(content)
    except ValueError:
        return content
    if not isinstance(data, dict) or not isinstance(data.get("sid"), str):
        return content
    data["sid"] = data["sid"][:2] + uuid.uuid4().hex
    return json.dumps(data).encode()


def _sid_of(content: bytes | memoryview) -> str | None:
    try:
        data = json.loads(bytes(content))
    except ValueError:
        return None
    sid = data.get("sid") if isinstance(data, dict) else None
    return sid if isinstance(sid, str) else None


class TwilioStandin:
    """The ASGI proxy: record, maybe fault, check what Prism cannot, forward to Prism."""

    def __init__(
        self,
        prism_url: str,
        outbox: OutboxWriter,
        faults: FaultPlan | None = None,
        auth_token: str | None = None,
    ) -> None:
        self.prism_url = prism_url
        self.outbox = outbox
        self.faults = faults or FaultPlan()
        self.auth_token = auth_token
        self._http: httpx.AsyncClient | None = None
        routes = [faults_route(self), Route("/{path:path}", self.handle, methods=["GET", "POST"])]
        self.app = Starlette(routes=routes, lifespan=self._lifespan)

    @asynccontextmanager
    async def _lifespan(self, _: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(base_url=self.prism_url, timeout=30) as http:
            self._http = http
            yield

    def _authorized(self, header: str) -> bool:
        if self.auth_token is None:
            return True  # Prism still insists on Basic credentials being present
        try:
            _, _, token = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
        except ValueError:
            return False
        return token == self.auth_token

    async def _answer(
        self, request: Request, body: bytes, form: dict[str, str]
    ) -> tuple[Response, str | None]:
        if not self._authorized(request.headers.get("authorization", "")):
            return twilio_error(401, "Authenticate", 20003), None
        to = form.get("To")
        refused = self.faults.account_fault(to)
        if refused is not None:
            return account_refusal(refused, request.url.path, to), refused
        fault, faulted = await inject(self.faults, twilio_error)
        if faulted is not None:
            return faulted, fault
        if to is not None and (not _E164.match(to) or to in MAGIC_INVALID_NUMBERS):
            return twilio_error(400, f"Invalid 'To' Phone Number: {to}", 21211), fault
        assert self._http is not None, "lifespan not started"
        headers = {
            k: v for k, v in request.headers.items() if k in ("authorization", "content-type")
        }
        upstream = await self._http.request(
            request.method,
            request.url.path,
            params=request.query_params,
            content=body,
            headers=headers,
        )
        answer = Response(
            _unique_sid(upstream.content) if upstream.is_success else upstream.content,
            status_code=upstream.status_code,
            media_type=upstream.headers.get("content-type"),
        )
        return answer, fault

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        # Repeated fields (StatusCallbackEvent) are joined; the outbox is for reading.
        form = {k: ",".join(v) for k, v in parse_qs(body.decode(errors="replace")).items()}
        response, fault = await self._answer(request, body, form)
        self.outbox.append(
            {
                "sid": _sid_of(response.body),
                "method": request.method,
                "path": request.url.path,
                "query": str(request.query_params),
                "form": form,
                "status": response.status_code,
                "fault": fault,
            }
        )
        return response


@dataclass
class RunningTwilio:
    """Prism and the proxy in front of it; point the twilio client at `url`."""

    prism: PrismProcess
    proxy: ThreadedServer
    standin: TwilioStandin

    @property
    def url(self) -> str:
        return self.proxy.url

    def stop(self) -> None:
        self.proxy.stop()
        self.prism.stop()


def start_twilio(
    port: int,
    prism_port: int,
    outbox: Path,
    faults: FaultPlan | None = None,
    auth_token: str | None = None,
) -> RunningTwilio:
    """Start Prism on `prism_port` and the recording proxy on `port`; stop() ends both."""
    prism = PrismProcess(prism_port, outbox.parent / "prism.log").start()
    standin = TwilioStandin(prism.url, OutboxWriter(outbox), faults, auth_token)
    try:
        proxy = ThreadedServer(standin.app, port, "twilio-standin").start()
    except BaseException:
        prism.stop()
        raise
    return RunningTwilio(prism, proxy, standin)
