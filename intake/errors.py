"""JSON error bodies for every client mistake, a body-size limit, and no tracebacks to clients."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.service import RPCError

from slawatch.models import EventType

log = structlog.get_logger("slawatch.intake")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    503: "unavailable",
}


class ApiError(Exception):
    """A client-facing failure: HTTP status, a stable code, a sentence, and the field if any."""

    def __init__(self, status: int, detail: str, field: str | None = None, code: str = "") -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.field = field
        self.code = code or _CODES.get(status, "error")


def error_body(status: int, detail: str, fields: list[dict[str, str]] | None = None) -> Any:
    body: dict[str, Any] = {"error": _CODES.get(status, "error"), "detail": detail}
    if fields:
        body["fields"] = fields
    return body


def _field_name(loc: tuple[Any, ...]) -> tuple[str, str]:
    where = str(loc[0]) if loc else "body"
    # Discriminated unions put the tag in the location ("body", "reclassify", "severity").
    parts = [str(p) for p in loc[1:] if not (isinstance(p, str) and p.islower() and p in _TAGS)]
    return where, ".".join(parts) or where


# Event type tags that pydantic puts into error locations; they are not field names.
_TAGS = {e.value for e in EventType} | {"function-after", "json-or-python"}


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into a JSON body naming the problem."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        fields = [{"field": exc.field, "problem": exc.detail}] if exc.field else None
        body = error_body(exc.status, exc.detail, fields)
        body["error"] = exc.code
        return JSONResponse(body, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            error_body(exc.status_code, str(exc.detail)),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = []
        for err in exc.errors():
            where, name = _field_name(tuple(err.get("loc", ())))
            if str(err.get("type", "")).startswith("union_tag"):
                # A missing or unknown event type is reported on the union, not on "type".
                name = str(err.get("ctx", {}).get("discriminator", name)).strip("'")
            fields.append({"in": where, "field": name, "problem": str(err.get("msg", "invalid"))})
        summary = "; ".join(f"{f['field']}: {f['problem']}" for f in fields)
        return JSONResponse(error_body(422, summary, fields), status_code=422)

    @app.exception_handler(RPCError)
    async def _temporal_down(_: Request, exc: RPCError) -> JSONResponse:
        # A Temporal failure is ours, not the client's: say so without internals.
        log.error("temporal_rpc_failed", status=str(exc.status), message=exc.message)
        return JSONResponse(error_body(503, "the ticket store is unavailable; retry"), 503)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", error_type=type(exc).__name__)
        return JSONResponse({"error": "internal", "detail": "internal error"}, status_code=500)


class BodyLimit:
    """Refuses request bodies over `limit` bytes with 413, whatever Content-Length claims."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(scope, receive, send)
            return
        # Read the body up front (it is small by construction) so a chunked body that grows
        # past the limit is refused before the app sees any of it.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"request body over {self.limit} bytes"
        await JSONResponse(error_body(413, detail), status_code=413)(scope, receive, send)
