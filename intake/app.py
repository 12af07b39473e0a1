"""The intake API: `create_app(settings, client)` builds the FastAPI app (OpenAPI at /docs).

The docs (/docs, /redoc, /openapi.json) are served when SLAWATCH_API_DOCS says so, by default
only in the local stand-in mode (slawatch/safety.py).
"""

from __future__ import annotations

from fastapi import FastAPI
from temporalio.client import Client

from activities.overrides import open_override_store
from intake import errors, oncall, tickets, webhooks
from intake.auth import TokenAuth
from intake.gateway import TicketGateway
from intake.policybook import PolicyBook
from intake.twilio_guard import TwilioConfig
from intake.webhook_store import open_webhook_store
from slawatch.safety import api_docs_enabled
from slawatch.settings import Settings

# Ticket events are a few hundred bytes; Twilio webhooks a few KB. Anything near this is abuse.
MAX_BODY_BYTES = 64 * 1024


def create_app(settings: Settings, client: Client, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """The API and the Twilio webhooks over one Temporal client; settings are read, not kept."""
    docs = api_docs_enabled(settings)
    app = FastAPI(
        title="slawatch intake API",
        version="1",
        description="Open support tickets, send their events, read their SLA status.",
        openapi_url="/openapi.json" if docs else None,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
    )
    app.state.auth = TokenAuth(settings.api_tokens.get_secret_value())
    app.state.gateway = TicketGateway(client, settings.ticket_task_queue)
    app.state.policies = PolicyBook(settings.policy_dir)
    app.state.twilio = TwilioConfig.from_settings(settings)
    app.state.webhook_store = open_webhook_store(settings)
    app.state.oncall = open_override_store(settings)
    errors.install(app)
    app.include_router(tickets.router)
    app.include_router(webhooks.router)
    app.include_router(oncall.router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(errors.BodyLimit, limit=max_body_bytes)
    return app
