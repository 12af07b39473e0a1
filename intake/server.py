"""Serving the intake API with uvicorn over one Temporal client (`slawatch api`, `slawatch dev`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import structlog
import uvicorn

from intake.app import create_app
from slawatch.settings import Settings
from slawatch.telemetry import runtime_for
from slawatch.temporal import connect

log = structlog.get_logger("slawatch.api")


class _OwnedSignalsServer(uvicorn.Server):
    """A uvicorn server that leaves SIGINT/SIGTERM to its owner, who sets `stop`."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_api(
    settings: Settings, stop: asyncio.Event | None = None, serve_metrics: bool = True
) -> None:
    """Serve until `stop` is set (or, without one, until uvicorn sees SIGINT/SIGTERM).

    With `serve_metrics`, the Temporal client's runtime serves /metrics on
    SLAWATCH_METRICS_BIND_ADDRESS (the API's own pods are scraped too); `slawatch dev` runs the
    worker in the same process, whose runtime already serves them there.
    """
    client = await connect(settings, runtime_for(settings) if serve_metrics else None)
    app = create_app(settings, client)
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
        # The server's own access log would print query strings (Twilio's wf/key): keep it off.
        access_log=False,
        lifespan="off",
    )
    log.info("api_listening", url=f"http://{settings.api_host}:{settings.api_port}")
    if stop is None:
        await uvicorn.Server(config).serve()
        return
    server = _OwnedSignalsServer(config)
    serving = asyncio.create_task(server.serve())
    await stop.wait()
    server.should_exit = True
    await serving
