"""SendGrid stand-in: captures POST /v3/mail/send after checking it the way SendGrid does.

Answers 202 with X-Message-Id for a valid v3 body, 400 with SendGrid-style `errors` for an
invalid one, 401 without a Bearer key (or with the wrong one when `api_key` is set). Accepted
mail is appended to the outbox as one JSON line. Faults: FaultPlan's fractions, and its account
faults `unauthorized` (401, a revoked key) and `quota_exceeded` (401 "Maximum credits exceeded").
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from policies.contacts import EMAIL
from slawatch.tools.standins.faults import Fault, FaultPlan, faults_route, inject
from slawatch.tools.standins.outbox import OutboxWriter
from slawatch.tools.standins.server import ThreadedServer

REVOKED = "The provided authorization grant is invalid, expired, or revoked"


def sendgrid_errors(status: int, *errors: tuple[str | None, str]) -> JSONResponse:
    """SendGrid's error body: a list of {field, message, help}."""
    items = [{"field": field, "message": message, "help": None} for field, message in errors]
    return JSONResponse({"errors": items}, status_code=status)


def _error(status: int, message: str) -> Response:
    return sendgrid_errors(status, (None, message))


def validate_mail(body: Any) -> list[tuple[str | None, str]]:
    """The problems SendGrid would report for this v3 mail/send body (empty when valid)."""
    if not isinstance(body, dict):
        return [(None, "The request body must be a JSON object.")]
    problems: list[tuple[str | None, str]] = []
    people = body.get("personalizations")
    if not isinstance(people, list) or not people:
        problems.append(("personalizations", "The personalizations field is required."))
        people = []
    for i, person in enumerate(people):
        to = person.get("to") if isinstance(person, dict) else None
        if not isinstance(to, list) or not to:
            problems.append((f"personalizations.{i}.to", "The to array is required."))
            continue
        for j, address in enumerate(to):
            email = address.get("email") if isinstance(address, dict) else None
            if not isinstance(email, str) or not EMAIL.match(email):
                field = f"personalizations.{i}.to.{j}.email"
                problems.append((field, "Does not contain a valid address."))
    sender = body.get("from")
    email = sender.get("email") if isinstance(sender, dict) else None
    if not isinstance(email, str) or not EMAIL.match(email):
        problems.append(("from.email", "The from object must contain a valid email."))
    subjects = [p.get("subject") for p in people if isinstance(p, dict)]
    if not body.get("subject") and not (subjects and all(subjects)):
        problems.append(("subject", "The subject is required."))
    content = body.get("content")
    if "template_id" not in body and not (
        isinstance(content, list)
        and content
        and all(isinstance(c, dict) and c.get("type") and c.get("value") for c in content)
    ):
        problems.append(("content", "There must be at least one defined content block."))
    attachments = body.get("attachments", [])
    for i, file in enumerate(attachments if isinstance(attachments, list) else [None]):
        if not isinstance(file, dict) or not file.get("filename"):
            problems.append((f"attachments.{i}.filename", "The attachment filename is required."))
        elif not _base64(file.get("content")):
            problems.append((f"attachments.{i}.content", "The attachment content must be base64."))
    return problems


def _base64(content: Any) -> bool:
    if not isinstance(content, str) or not content:
        return False
    try:
        base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


class SendgridStandin:
    """The ASGI capture server."""

    def __init__(
        self, outbox: OutboxWriter, faults: FaultPlan | None = None, api_key: str | None = None
    ) -> None:
        self.outbox = outbox
        self.faults = faults or FaultPlan()
        self.api_key = api_key
        routes = [faults_route(self), Route("/v3/mail/send", self.send, methods=["POST"])]
        self.app = Starlette(routes=routes)

    async def send(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth.removeprefix("Bearer ").strip():
            return _error(401, "authorization required")
        if self.api_key is not None and auth.removeprefix("Bearer ") != self.api_key:
            return _error(401, REVOKED)
        refused = self.faults.account_fault()
        if refused is Fault.QUOTA_EXCEEDED:
            return _error(401, "Maximum credits exceeded")
        if refused is Fault.UNAUTHORIZED:
            return _error(401, REVOKED)
        _, faulted = await inject(self.faults, _error)
        if faulted is not None:
            return faulted
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(400, "Bad Request: the body is not valid JSON.")
        problems = validate_mail(body)
        if problems:
            return sendgrid_errors(400, *problems)
        message_id = secrets.token_urlsafe(16)[:22]
        self.outbox.append(
            {
                "message_id": message_id,
                "from": body["from"]["email"],
                "to": [a["email"] for p in body["personalizations"] for a in p["to"]],
                "subject": body.get("subject") or body["personalizations"][0].get("subject"),
                "content": body.get("content", []),
                "attachments": body.get("attachments", []),
                "custom_args": body.get("custom_args", {}),
                "status": 202,
            }
        )
        return Response(status_code=202, headers={"X-Message-Id": message_id})


@dataclass
class RunningSendgrid:
    """The capture server; point SendGridAPIClient(host=...) at `url`."""

    server: ThreadedServer
    standin: SendgridStandin

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.server.stop()


def start_sendgrid(
    port: int, outbox: Path, faults: FaultPlan | None = None, api_key: str | None = None
) -> RunningSendgrid:
    """Serve the capture stand-in on 127.0.0.1:`port` until stop()."""
    standin = SendgridStandin(OutboxWriter(outbox), faults, api_key)
    return RunningSendgrid(ThreadedServer(standin.app, port, "sendgrid-standin").start(), standin)
