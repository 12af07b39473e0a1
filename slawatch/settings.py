"""Process settings from the environment (prefix SLAWATCH_). Created only in entry points."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Built-in development values: they let `slawatch dev` run with no setup, and slawatch/safety.py
# refuses every one of them outside the local stand-in mode. The SID has Twilio's own format so
# the real client works against the local stand-in.
DEV_ACCOUNT_SID = "AC" + "0" * 32
DEV_TWILIO_AUTH_TOKEN = "dev-auth-token"
DEV_SENDGRID_API_KEY = "SG.dev-key"
DEV_API_TOKEN = "dev-token"


def notify_queue_for(ticket_task_queue: str) -> str:
    """The rate-limited notification queue that belongs to a ticket queue."""
    return f"{ticket_task_queue}-notify"


def outbound_queue_for(ticket_task_queue: str) -> str:
    """The queue of webhook, write-back and customer-notice deliveries: apart from the
    notifications, so a receiver that is down never takes a page's place in the rate limit."""
    return f"{ticket_task_queue}-outbound"


def reports_queue_for(ticket_task_queue: str) -> str:
    """The queue of the monthly report workflow and its activity, beside a ticket queue."""
    return f"{ticket_task_queue}-reports"


class Settings(BaseSettings):
    """Everything slawatch reads from its environment. Secrets are SecretStr: never logged."""

    # hide_input_in_errors: a validation error must not echo a secret (a ledger URL's password).
    model_config = SettingsConfigDict(
        env_prefix="SLAWATCH_", extra="ignore", hide_input_in_errors=True
    )

    # Temporal
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_tls: bool = False
    temporal_tls_client_cert: Path | None = None
    temporal_tls_client_key: Path | None = None
    temporal_tls_server_ca: Path | None = None
    temporal_api_key: SecretStr | None = None
    ticket_task_queue: str = "slawatch-tickets"
    # Sends per second across the notification task queue (Twilio long codes: about 1/s).
    notify_rate_per_second: float = 5.0
    # Seconds per Twilio or SendGrid request; the notify activities' start_to_close_timeout
    # must exceed it (the fault tests lower it to see a hung vendor quickly).
    vendor_request_timeout: float = Field(default=10.0, gt=0)
    # Workflows kept in worker memory. Unset, it is sized from worker_memory_mb and the measured
    # memory per cached ticket (workers/cache.py); a cached ticket's timer fires without a replay.
    worker_max_cached_workflows: int | None = Field(default=None, ge=1)
    # Memory for one `slawatch worker` (all its --processes together), in MB.
    worker_memory_mb: int = Field(default=400, ge=1)
    # Threads that run workflow tasks in each worker process. Workflow code holds the GIL, so
    # more threads only take turns with the event loop that runs the notification activities.
    worker_workflow_threads: int | None = Field(default=None, ge=1)
    # Workflow tasks each worker process runs at once (Temporal's default is 100). A task's
    # clock (`workflow.now()`) is the instant it started, so time a started task spends waiting
    # for the GIL makes the timers it sets late by as much; a task still queued on the server
    # does not. 8 measured best of 2, 8 and 100 (docs/benchmarks.md, "The ladder after the
    # first window").
    worker_workflow_tasks: int = Field(default=8, ge=1)
    # Workflow task polls each worker process keeps open (Temporal's default, 5). A fifth of
    # them (at least one) poll for tasks of tickets the process has not cached, which is how
    # every new ticket's first task arrives; the rest poll the process's own sticky queue.
    # Each open poll holds one of the `worker_workflow_tasks` slots.
    worker_workflow_polls: int = Field(default=5, ge=2)
    # Garbage collection in the worker: "frozen" freezes the survivors of each full collection
    # so that the next walks only what changed, and walks everything again after a quarter of
    # the cache has been evicted; "python" is CPython's default (workers/collector.py).
    worker_gc: Literal["frozen", "python"] = "frozen"
    # How long a ticket's next workflow task waits for the worker that has the ticket cached
    # before any worker takes it and replays the ticket's history. After a crash, timers due
    # meanwhile fire up to this late; under load, a shorter wait turns a queue into replays,
    # which cost more CPU and lengthen the queue (2 s did that at 10,000 open tickets:
    # docs/benchmarks.md, "Full collections and replays at 10,000 open"). 10 is Temporal's own.
    worker_sticky_timeout_seconds: float = Field(default=10, gt=0)

    # Policies: the built-in seeds unless a directory of tenant files is given.
    policy_dir: Path | None = None

    # Notifications. "stand-in" talks to the local Twilio/SendGrid stand-ins on loopback;
    # "live" to the real services (chosen automatically when real credentials are set).
    notifier_mode: Literal["stand-in", "live"] = "stand-in"
    twilio_account_sid: str = DEV_ACCOUNT_SID
    twilio_auth_token: SecretStr = SecretStr(DEV_TWILIO_AUTH_TOKEN)
    twilio_base_url: str = "http://127.0.0.1:4010"
    twilio_from_number: str = "+15005550006"
    sendgrid_api_key: SecretStr = SecretStr(DEV_SENDGRID_API_KEY)
    sendgrid_base_url: str = "http://127.0.0.1:4020"
    email_from: str = "slawatch@example.com"
    # Where Twilio reaches our webhooks (status callbacks, voice TwiML, SMS replies).
    public_base_url: str = "http://127.0.0.1:8000"

    # Intake API
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # "token=tenant1,tenant2;token2=*": bearer tokens per intake system, scoped to tenants.
    api_tokens: SecretStr = SecretStr(f"{DEV_API_TOKEN}=*")
    # /docs, /redoc and /openapi.json. None: on in the local stand-in mode, off otherwise (the
    # schema maps the whole attack surface for anyone who can reach the API).
    api_docs: bool | None = None
    # Help-desk adapters (docs/helpdesk.md): "tenant=secret;tenant2=secret2" per help desk. A
    # tenant without an entry gets nothing through that adapter.
    zendesk_secrets: SecretStr = SecretStr("")
    jira_secrets: SecretStr = SecretStr("")
    # "tenant=<base64 public key>": SendGrid Inbound Parse's signature verification key.
    email_parse_keys: str = ""
    # Signs the on-call calendar feeds' secret URLs (`.ics?key=`, docs/oncall.md): calendar
    # apps cannot send a bearer token. Empty: only bearer tokens read the feeds. Changing it
    # revokes every feed URL handed out.
    oncall_feed_secret: SecretStr = SecretStr("")
    # Outbound (docs/helpdesk.md, "Outbound"): "tenant.webhook=secret;..." signs each webhook's
    # deliveries; "tenant=agent@example.com:api-token" writes back into Zendesk / Jira.
    webhook_secrets: SecretStr = SecretStr("")
    zendesk_api_tokens: SecretStr = SecretStr("")
    jira_api_tokens: SecretStr = SecretStr("")

    # Local stack
    data_dir: Path = Path(".slawatch")
    # The notification send ledger: unset = SQLite in data_dir (one host); a
    # postgresql://user:password@host:5432/db URL = one ledger shared by workers on every host.
    # A secret: the URL carries the password.
    ledger_url: SecretStr | None = None
    # The SLA record (tickets, breaches, pages; the reports read it): unset = where the ledger
    # is (its PostgreSQL database, else records.sqlite3 in data_dir); or a postgresql:// URL,
    # or sqlite:///path/to/file. A secret like the ledger's.
    records_url: SecretStr | None = None

    # host:port for the Prometheus scrape endpoint (SDK and slawatch metrics); None = off.
    metrics_bind_address: str | None = None

    @field_validator("ledger_url", mode="before")
    @classmethod
    def _ledger_url(cls, value: object) -> object:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if text is None or (isinstance(text, str) and not text.strip()):
            return None  # an empty variable means "not set": the SQLite default
        if not isinstance(text, str) or urlsplit(text).scheme not in {"postgresql", "postgres"}:
            # Never echo the value: it may hold the password.
            raise ValueError("must be a postgresql://user:password@host:port/database URL")
        return value

    @field_validator("records_url", mode="before")
    @classmethod
    def _records_url(cls, value: object) -> object:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if text is None or (isinstance(text, str) and not text.strip()):
            return None
        scheme = urlsplit(text).scheme if isinstance(text, str) else ""
        if scheme not in {"postgresql", "postgres", "sqlite"}:
            raise ValueError(
                "must be a postgresql://user:password@host:port/database URL or "
                "sqlite:///path/to/file"
            )
        return value

    @property
    def notify_task_queue(self) -> str:
        """Notification activities' queue: derived, because workflows derive it the same way."""
        return notify_queue_for(self.ticket_task_queue)

    log_format: Literal["auto", "console", "json"] = "auto"
    log_level: str = "INFO"
