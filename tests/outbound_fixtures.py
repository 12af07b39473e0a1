"""Outbound test set-up: a signature-checking webhook receiver, and the harness with the
outbound worker beside the ticket and notification workers."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from policies.loader import BUILTIN_DIR
from slawatch.outbound import EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from slawatch.tools.standins.server import ThreadedServer
from slawatch.tools.standins.tools import free_port
from tests.harness import Harness, StandInNotifier, _bounded, time_skipping_server
from workers.worker import ensure_search_attributes, notify_worker, outbound_worker, ticket_worker


@dataclass
class Receiver:
    """A tenant's webhook endpoint as its docs tell it to be written: verify, then dedupe."""

    secret: str
    down: bool = False
    # Event bodies accepted, first delivery of each id only, in the order they arrived.
    events: list[dict[str, Any]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        if self.down:
            self.answers.append(503)
            return Response(status_code=503)
        ok = verify(
            self.secret,
            request.headers.get(TIMESTAMP_HEADER, ""),
            body,
            request.headers.get(SIGNATURE_HEADER, ""),
            time.time(),
        )
        if not ok:
            self.answers.append(401)
            return JSONResponse({"error": "bad signature"}, status_code=401)
        event = json.loads(body)
        assert event["id"] == request.headers[EVENT_ID_HEADER]
        with self._lock:
            if all(e["id"] != event["id"] for e in self.events):
                self.events.append(event)
        self.answers.append(200)
        return Response(status_code=200)

    def types(self, ticket_id: str | None = None) -> list[str]:
        return [e["type"] for e in self.events if ticket_id in (None, e["ticket_id"])]


@contextmanager
def serve(receiver: Receiver) -> Iterator[str]:
    """The receiver on a free loopback port; yields its URL."""
    app = Starlette(routes=[Route("/hook", receiver.hook, methods=["POST"])])
    server = ThreadedServer(app, free_port(), "webhook-receiver").start()
    try:
        yield f"{server.url}/hook"
    finally:
        server.stop()


def policy_with(root: Path, tenant: str, outbound_yaml: str) -> Path:
    """A policy directory holding `tenant`'s seed with its `outbound:` section replaced."""
    text = (BUILTIN_DIR / f"{tenant}.yaml").read_text()
    text = text[: text.index("\noutbound:")] if "\noutbound:" in text else text
    directory = root / f"policies-{uuid.uuid4().hex[:6]}"
    directory.mkdir()
    (directory / f"{tenant}.yaml").write_text(text + "\n" + outbound_yaml)
    notices = BUILTIN_DIR / tenant / "notices"
    if notices.is_dir():
        (directory / tenant / "notices").mkdir(parents=True)
        for template in notices.iterdir():
            (directory / tenant / "notices" / template.name).write_text(template.read_text())
    return directory


@asynccontextmanager
async def outbound_harness(
    policy_dir: Path, activities: Callable[[Harness], list[Any]]
) -> AsyncIterator[Harness]:
    """tests/harness.py's harness, plus the outbound worker with `activities(harness)`."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=time_skipping_server(),
    )
    try:
        await ensure_search_attributes(env.client)
        queue = f"tickets-{uuid.uuid4().hex[:8]}"
        notifier = StandInNotifier(env)
        h = Harness(env, env.client, queue, notifier, policy_dir)
        workers = AsyncExitStack()
        await workers.enter_async_context(ticket_worker(env.client, queue, policy_dir))
        await workers.enter_async_context(
            notify_worker(env.client, queue, notifier.activities(), None)
        )
        await workers.enter_async_context(outbound_worker(env.client, queue, activities(h)))
        try:
            yield h
        finally:
            await _bounded("stopping the workers", workers.aclose())
    finally:
        await _bounded("stopping the time-skipping server", env.shutdown())
