"""Serving the intake API with uvicorn over one Temporal client (`slawatch api`, `slawatch dev`)."""

from __future__ import annotations

import asyncio

import structlog
import uvicorn

from intake.app import create_app
from slawatch.settings import Settings
from slawatch.temporal import connect

log = structlog.get_logger("slawatch.api")


async def serve_api(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Serve until `stop` is set (or, without one, until uvicorn sees SIGINT/SIGTERM)."""
    client = await connect(settings)
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
    server = uvicorn.Server(config)
    log.info("api_listening", url=f"http://{settings.api_host}:{settings.api_port}")
    if stop is None:
        await server.serve()
        return
    serving = asyncio.create_task(server.serve())
    await stop.wait()
    server.should_exit = True
    await serving
