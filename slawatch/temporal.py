"""Connecting to Temporal from settings: local dev server, self-hosted mTLS, or Temporal Cloud."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client, TLSConfig
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from slawatch.settings import Settings

CA_ENV = "SLAWATCH_TEMPORAL_TLS_SERVER_CA"


def _read(path: Path, env_name: str) -> bytes:
    # A missing or unreadable PEM must name the setting, not end in a FileNotFoundError trace.
    try:
        return path.read_bytes()
    except OSError as err:
        raise ValueError(f"{env_name}: cannot read {path}: {err.strerror}") from err


def tls_config(settings: Settings) -> TLSConfig | bool:
    """mTLS when a client cert is configured, plain TLS when asked (or with an API key)."""
    cert, key = settings.temporal_tls_client_cert, settings.temporal_tls_client_key
    if (cert is None) != (key is None):
        raise ValueError(
            "SLAWATCH_TEMPORAL_TLS_CLIENT_CERT and SLAWATCH_TEMPORAL_TLS_CLIENT_KEY go together"
        )
    ca = settings.temporal_tls_server_ca
    if cert is not None and key is not None:
        return TLSConfig(
            client_cert=_read(cert, "SLAWATCH_TEMPORAL_TLS_CLIENT_CERT"),
            client_private_key=_read(key, "SLAWATCH_TEMPORAL_TLS_CLIENT_KEY"),
            server_root_ca_cert=_read(ca, CA_ENV) if ca else None,
        )
    if ca is not None:
        return TLSConfig(server_root_ca_cert=_read(ca, CA_ENV))
    # Temporal Cloud API keys are only accepted over TLS.
    return settings.temporal_tls or settings.temporal_api_key is not None


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        tls=tls_config(settings),
        api_key=api_key,
        data_converter=pydantic_data_converter,
        runtime=runtime,
    )
