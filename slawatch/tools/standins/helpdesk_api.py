"""Zendesk and Jira REST stand-ins: the two calls slawatch's write-back makes, checked as the
vendors document them, and recorded one JSON line each.

- Zendesk Support API, "Update Ticket": `PUT /api/v2/tickets/{ticket_id}` (the `.json`
  suffix is accepted, as Zendesk does), basic authentication `{email}/token:{api_token}`,
  body `{"ticket": {"comment": {"body": "...", "public": false}}}`; a comment is added by
  updating the ticket (developer.zendesk.com/api-reference/ticketing/tickets/tickets/
  #update-ticket, and "Ticket Comments": "Ticket comments are created by including a comment
  object in the ticket object when creating or updating the ticket"). Answers 200 with the
  ticket and its audit; 401 `{"error": "Couldn't authenticate you"}`; 422 `RecordInvalid`
  for a comment without a body or with a non-boolean `public`.
- Jira Cloud platform REST API v3, "Add comment": `POST /rest/api/3/issue/{issueIdOrKey}/
  comment`, basic authentication `email:api_token`, body `{"body": <Atlassian Document
  Format doc>, "properties": [...]}` (developer.atlassian.com/cloud/jira/platform/rest/v3/
  api-group-issue-comments/#api-rest-api-3-issue-issueidorkey-comment-post). A Service
  Management internal note carries the property `sd.public.comment` = `{"internal": true}`.
  Answers 201 with the comment; 401; 400 `{"errorMessages": [], "errors": {"comment": ...}}`
  for a body that is not an ADF doc of paragraphs of text; 404 for an issue key it does not
  know the shape of.

`down` makes both answer 503, as a help desk in maintenance does.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from slawatch.tools.standins.outbox import OutboxWriter
from slawatch.tools.standins.server import ThreadedServer

HELPDESK_OUTBOX = "helpdesk-outbox.jsonl"
_JIRA_KEY = re.compile(r"[A-Z][A-Z0-9_]+-[1-9][0-9]*")


def _basic(request: Request) -> tuple[str, str] | None:
    auth = request.headers.get("authorization", "")
    if not auth.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, password


def adf_problem(doc: Any) -> str | None:
    """Why `doc` is not an ADF document of paragraphs of text nodes (None when it is)."""
    if not isinstance(doc, dict) or doc.get("type") != "doc" or doc.get("version") != 1:
        return "Comment body must be an Atlassian Document Format doc (type doc, version 1)."
    content = doc.get("content")
    if not isinstance(content, list) or not content:
        return "Comment body can not be empty!"
    for block in content:
        if not isinstance(block, dict) or block.get("type") != "paragraph":
            return "Only paragraph blocks are expected in this comment."
        for node in block.get("content", []):
            if not isinstance(node, dict) or node.get("type") != "text":
                return "A paragraph holds text nodes."
            if not isinstance(node.get("text"), str) or not node["text"]:
                return "A text node needs non-empty text."
    return None


class HelpdeskApiStandin:
    """The ASGI app; `zendesk` and `jira` are the (user, token) pairs it accepts."""

    def __init__(
        self, outbox: OutboxWriter, zendesk: tuple[str, str], jira: tuple[str, str]
    ) -> None:
        self.outbox = outbox
        self.zendesk = zendesk
        self.jira = jira
        self.down = False
        self.answers: list[int] = []
        self.app = Starlette(
            routes=[
                Route("/api/v2/tickets/{ticket_id}", self.zendesk_update, methods=["PUT"]),
                Route("/rest/api/3/issue/{key}/comment", self.jira_comment, methods=["POST"]),
            ]
        )

    def _answer(self, response: Response) -> Response:
        self.answers.append(response.status_code)
        return response

    async def zendesk_update(self, request: Request) -> Response:
        if self.down:
            return self._answer(Response(status_code=503))
        ticket_id = request.path_params["ticket_id"].removesuffix(".json")
        if not ticket_id.isdigit():
            return self._answer(JSONResponse({"error": "RecordNotFound"}, status_code=404))
        if _basic(request) != (f"{self.zendesk[0]}/token", self.zendesk[1]):
            return self._answer(
                JSONResponse({"error": "Couldn't authenticate you"}, status_code=401)
            )
        try:
            body = json.loads(await request.body())
        except ValueError:
            return self._answer(JSONResponse({"error": "Unprocessable JSON"}, status_code=400))
        ticket = body.get("ticket") if isinstance(body, dict) else None
        comment = ticket.get("comment") if isinstance(ticket, dict) else None
        problems = {}
        if not isinstance(comment, dict) or not str(comment.get("body") or "").strip():
            problems["comment"] = [{"description": "Comment: body can't be blank"}]
        elif not isinstance(comment.get("public", True), bool):
            problems["public"] = [{"description": "Public must be true or false"}]
        if problems:
            invalid = {
                "error": "RecordInvalid",
                "description": "Record validation errors",
                "details": problems,
            }
            return self._answer(JSONResponse(invalid, status_code=422))
        assert isinstance(comment, dict)
        self.outbox.append(
            {
                "vendor": "zendesk",
                "ticket_id": ticket_id,
                "body": comment["body"],
                "public": comment.get("public", True),
                "status": 200,
            }
        )
        audit = {"ticket_id": int(ticket_id), "events": [{"type": "Comment"}]}
        return self._answer(JSONResponse({"ticket": {"id": int(ticket_id)}, "audit": audit}))

    async def jira_comment(self, request: Request) -> Response:
        if self.down:
            return self._answer(Response(status_code=503))
        key = request.path_params["key"]
        if _basic(request) != self.jira:
            return self._answer(Response(status_code=401))
        if not _JIRA_KEY.fullmatch(key):
            missing = "Issue does not exist or you do not have permission to see it."
            return self._answer(
                JSONResponse({"errorMessages": [missing], "errors": {}}, status_code=404)
            )
        try:
            body = json.loads(await request.body())
        except ValueError:
            return self._answer(JSONResponse({"errorMessages": ["Bad JSON"]}, status_code=400))
        problem = adf_problem(body.get("body") if isinstance(body, dict) else None)
        if problem is not None:
            errors = {"errorMessages": [], "errors": {"comment": problem}}
            return self._answer(JSONResponse(errors, status_code=400))
        properties = {p.get("key"): p.get("value") for p in body.get("properties", [])}
        text = "\n".join(
            node["text"] for block in body["body"]["content"] for node in block["content"]
        )
        internal = (properties.get("sd.public.comment") or {}).get("internal") is True
        self.outbox.append(
            {"vendor": "jira", "issue": key, "body": text, "internal": internal, "status": 201}
        )
        return self._answer(
            JSONResponse({"id": "10000", "body": body["body"], "jsdPublic": not internal}, 201)
        )


@dataclass
class RunningHelpdeskApi:
    server: ThreadedServer
    standin: HelpdeskApiStandin

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.server.stop()


def start_helpdesk_api(
    port: int, outbox: Path, zendesk: tuple[str, str], jira: tuple[str, str]
) -> RunningHelpdeskApi:
    """Serve both help-desk APIs on 127.0.0.1:`port` (one host: the test sets both URLs)."""
    standin = HelpdeskApiStandin(OutboxWriter(outbox), zendesk, jira)
    return RunningHelpdeskApi(ThreadedServer(standin.app, port, "helpdesk-api").start(), standin)
