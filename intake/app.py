"""The intake API: `create_app(settings, client)` builds the FastAPI app (OpenAPI at /docs).

The docs (/docs, /redoc, /openapi.json) are served when SLAWATCH_API_DOCS says so, by default
only in the local stand-in mode (slawatch/safety.py).
"""

from __future__ import annotations

from fastapi import FastAPI
from temporalio.client import Client

from activities.overrides import open_override_store
from intake import email_intake, errors, jira, oncall, tickets, webhooks, zendesk
from intake.auth import TokenAuth
from intake.gateway import TicketGateway
from intake.idempotency import Idempotency
from intake.idempotency_store import open_idempotency_store
from intake.policybook import PolicyBook
from intake.reports import Records
from intake.reports import router as reports_router
from intake.twilio_guard import TwilioConfig
from intake.webhook_store import open_webhook_store
from slawatch.safety import api_docs_enabled
from slawatch.secret_specs import parse_secrets
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
    # The SLA record store, opened on the first report (intake/reports.py).
    app.state.records = Records(settings)
    app.state.gateway = TicketGateway(client, settings.ticket_task_queue)
    app.state.policies = PolicyBook(settings.policy_dir)
    app.state.twilio = TwilioConfig.from_settings(settings)
    app.state.webhook_store = open_webhook_store(settings)
    app.state.oncall = open_override_store(settings)
    # Kept as a value for the feed routes (intake/oncall.py); never logged or returned bare.
    app.state.feed_secret = settings.oncall_feed_secret.get_secret_value()
    app.state.public_base_url = settings.public_base_url
    errors.install(app)
    app.include_router(reports_router)
    app.include_router(tickets.router)
    app.include_router(webhooks.router)
    app.state.helpdesk_secrets = {
        "zendesk": parse_secrets(
            settings.zendesk_secrets.get_secret_value(), "SLAWATCH_ZENDESK_SECRETS"
        ),
        "jira": parse_secrets(settings.jira_secrets.get_secret_value(), "SLAWATCH_JIRA_SECRETS"),
        "email": parse_secrets(settings.email_parse_keys, "SLAWATCH_EMAIL_PARSE_KEYS"),
    }
    app.include_router(zendesk.router)
    app.include_router(jira.router)
    app.include_router(email_intake.router)
    app.include_router(oncall.router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # Inside BodyLimit (added later = outside): the body it keys on is already bounded.
    idempotency = open_idempotency_store(settings)
    app.add_middleware(Idempotency, store=idempotency, auth=app.state.auth)
    app.add_middleware(errors.BodyLimit, limit=max_body_bytes)
    return app
