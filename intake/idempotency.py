"""`Idempotency-Key` on the intake API's POSTs: a retried request gets the first answer again.

A key is scoped to the bearer token that sent it (a digest of the token, never the token). The
first request with a key claims it; when it succeeds (2xx) its status and body are kept for
KEY_TTL, and the same key with the same request (path and body) gets them back, marked
`Idempotent-Replayed: true`, without touching the ticket again. The same key with another
request is a 422. A request that failed changed nothing, so its key is released and may be
retried. While the first request is still running, a second one with its key gets a 409.

The keys live beside the webhook replay guard (intake/idempotency_store.py): SQLite on one host,
PostgreSQL at SLAWATCH_LEDGER_URL for every replica; a restarted API still knows them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re

import structlog
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from intake.auth import TokenAuth
from intake.errors import error_body
from intake.idempotency_store import IdempotencyStore, Stored

log = structlog.get_logger("slawatch.intake.idempotency")

HEADER = "Idempotency-Key"
_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, as Stripe and the IETF draft use


def fingerprint(path: str, query: str, body: bytes) -> str:
    """What "the same request" means: the path, the query and the body's JSON (key order and
    spacing do not matter), or its bytes when it is no JSON."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    digest = hashlib.sha256(f"{path}?{query}\n".encode())
    digest.update(canonical)
    return digest.hexdigest()


def _refuse(status: int, detail: str, code: str) -> JSONResponse:
    body = error_body(status, detail, [{"in": "header", "field": HEADER, "problem": detail}])
    body["error"] = code
    return JSONResponse(body, status_code=status)


class Idempotency:
    """ASGI middleware for POSTs that carry an Idempotency-Key and a valid bearer token.

    It sits inside BodyLimit, so the body it reads is already bounded. Requests without the
    header, or without a token the API knows (they get their 401 from the route), pass through.
    """

    def __init__(self, app: ASGIApp, store: IdempotencyStore, auth: TokenAuth) -> None:
        self.app = app
        self.store = store
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        key = headers.get(HEADER.lower())
        owner = self.auth.scope_of(headers.get("authorization", ""))
        if key is None or owner is None:
            await self.app(scope, receive, send)
            return
        if not _KEY.fullmatch(key):
            detail = f"{HEADER} must be 1 to 255 printable ASCII characters"
            await _refuse(422, detail, "invalid")(scope, receive, send)
            return
        body = await _read_body(receive)
        query = scope.get("query_string", b"").decode("latin-1")
        claim_args = (owner, key, fingerprint(scope["path"], query, body))
        try:
            claim = await asyncio.to_thread(self.store.claim, *claim_args)
        except Exception as exc:
            log.error("idempotency_store_failed", error_type=type(exc).__name__)
            await JSONResponse(
                error_body(503, "the idempotency store is unavailable; retry"), status_code=503
            )(scope, receive, send)
            return
        if claim.kind == "mismatch":
            detail = (
                f"{HEADER} {key!r} was already used for another request (a different path or"
                " body); send a new key for a new request"
            )
            await _refuse(422, detail, "idempotency_key_reused")(scope, receive, send)
        elif claim.kind == "in_flight":
            detail = f"a request with {HEADER} {key!r} is still being handled; retry shortly"
            await _refuse(409, detail, "idempotency_key_in_use")(scope, receive, send)
        elif claim.stored is not None:
            await _replay(claim.stored, send)
        else:
            await self._first(scope, body, send, owner, key)

    async def _first(self, scope: Scope, body: bytes, send: Send, owner: str, key: str) -> None:
        # The answer is kept before the client sees it: a retry sent the moment the first
        # answer arrives must find it, not the claim.
        start: Message = {}
        chunks: list[bytes] = []
        kept = False

        async def receive_once() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            nonlocal start, kept
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            status = int(start["status"])
            if 200 <= status < 300:
                types = [v for k, v in start.get("headers", []) if k.lower() == b"content-type"]
                content_type = types[0].decode("latin-1") if types else "application/json"
                answer = Stored(status, b"".join(chunks), content_type)
                await asyncio.to_thread(self.store.complete, owner, key, answer)
                kept = True
            await send(start)
            await send({"type": "http.response.body", "body": b"".join(chunks)})

        try:
            await self.app(scope, receive_once, capture)
        finally:
            if not kept:
                # Nothing changed (a 4xx), or we cannot know (a 5xx): let a retry run afresh.
                await asyncio.to_thread(self.store.release, owner, key)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _replay(stored: Stored, send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": stored.status,
            "headers": [
                (b"content-type", stored.content_type.encode("latin-1")),
                (b"content-length", str(len(stored.body)).encode()),
                (b"idempotent-replayed", b"true"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": stored.body})
