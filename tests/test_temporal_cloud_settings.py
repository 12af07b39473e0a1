"""Temporal Cloud and self-hosted TLS: environment → Settings → tls_config → Client.connect."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, TLSConfig
from temporalio.contrib.pydantic import pydantic_data_converter

from slawatch import temporal
from slawatch.settings import Settings
from slawatch.telemetry import runtime_for

CLOUD_NAMESPACE = "slawatch-prod.a1b2c"
API_KEY = "tc-api-key-do-not-log"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SLAWATCH_ variable from the machine leaks into these tests."""
    for name in list(os.environ):
        if name.startswith("SLAWATCH_"):
            monkeypatch.delenv(name)


@pytest.fixture
def pems(tmp_path: Path) -> dict[str, Path]:
    files = {}
    for name in ("client.pem", "client.key", "ca.pem"):
        files[name] = tmp_path / name
        files[name].write_bytes(f"-----BEGIN {name}-----\n".encode())
    return files


def test_mtls_files_are_read_from_env_paths(
    monkeypatch: pytest.MonkeyPatch, pems: dict[str, Path]
) -> None:
    monkeypatch.setenv("SLAWATCH_TEMPORAL_ADDRESS", f"{CLOUD_NAMESPACE}.tmprl.cloud:7233")
    monkeypatch.setenv("SLAWATCH_TEMPORAL_NAMESPACE", CLOUD_NAMESPACE)
    monkeypatch.setenv("SLAWATCH_TEMPORAL_TLS_CLIENT_CERT", str(pems["client.pem"]))
    monkeypatch.setenv("SLAWATCH_TEMPORAL_TLS_CLIENT_KEY", str(pems["client.key"]))
    monkeypatch.setenv("SLAWATCH_TEMPORAL_TLS_SERVER_CA", str(pems["ca.pem"]))
    tls = temporal.tls_config(Settings())
    assert isinstance(tls, TLSConfig)
    assert tls.client_cert == b"-----BEGIN client.pem-----\n"
    assert tls.client_private_key == b"-----BEGIN client.key-----\n"
    assert tls.server_root_ca_cert == b"-----BEGIN ca.pem-----\n"


@pytest.mark.parametrize("given", ["CERT", "KEY"])
def test_cert_and_key_go_together(
    monkeypatch: pytest.MonkeyPatch, pems: dict[str, Path], given: str
) -> None:
    monkeypatch.setenv(f"SLAWATCH_TEMPORAL_TLS_CLIENT_{given}", str(pems["client.pem"]))
    with pytest.raises(ValueError, match="TLS_CLIENT_CERT and SLAWATCH_TEMPORAL_TLS_CLIENT_KEY"):
        temporal.tls_config(Settings())


def test_missing_pem_names_the_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SLAWATCH_TEMPORAL_TLS_CLIENT_CERT", str(tmp_path / "absent.pem"))
    monkeypatch.setenv("SLAWATCH_TEMPORAL_TLS_CLIENT_KEY", str(tmp_path / "absent.key"))
    with pytest.raises(
        ValueError, match=r"SLAWATCH_TEMPORAL_TLS_CLIENT_CERT: cannot read .*absent"
    ):
        temporal.tls_config(Settings())


def test_server_ca_alone_gives_server_verified_tls(
    monkeypatch: pytest.MonkeyPatch, pems: dict[str, Path]
) -> None:
    monkeypatch.setenv("SLAWATCH_TEMPORAL_TLS_SERVER_CA", str(pems["ca.pem"]))
    tls = temporal.tls_config(Settings())
    assert isinstance(tls, TLSConfig)
    assert tls.server_root_ca_cert == b"-----BEGIN ca.pem-----\n"
    assert tls.client_cert is None


def test_api_key_implies_tls_and_stays_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLAWATCH_TEMPORAL_API_KEY", API_KEY)
    settings = Settings()
    assert temporal.tls_config(settings) is True
    assert API_KEY not in repr(settings)
    assert API_KEY not in str(settings.model_dump())


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("false", False)])
def test_plain_tls_flag(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("SLAWATCH_TEMPORAL_TLS", value)
    assert temporal.tls_config(Settings()) is expected


class Captured:
    """Stands in for Client.connect: records what slawatch would send to Temporal."""

    def __init__(self) -> None:
        self.args: tuple[Any, ...] = ()
        self.kwargs: dict[str, Any] = {}
        self.client: Any = object()

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.args, self.kwargs = args, kwargs
        return self.client


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Captured:
    capture = Captured()
    monkeypatch.setattr(Client, "connect", capture)
    return capture


async def test_connect_with_api_key(monkeypatch: pytest.MonkeyPatch, captured: Captured) -> None:
    monkeypatch.setenv("SLAWATCH_TEMPORAL_ADDRESS", "eu-west-1.aws.api.temporal.io:7233")
    monkeypatch.setenv("SLAWATCH_TEMPORAL_NAMESPACE", CLOUD_NAMESPACE)
    monkeypatch.setenv("SLAWATCH_TEMPORAL_API_KEY", API_KEY)
    settings = Settings()
    runtime = runtime_for(settings)
    assert await temporal.connect(settings, runtime) is captured.client
    assert captured.args == ("eu-west-1.aws.api.temporal.io:7233",)
    assert captured.kwargs["namespace"] == CLOUD_NAMESPACE
    assert captured.kwargs["api_key"] == API_KEY
    assert captured.kwargs["tls"] is True
    assert captured.kwargs["data_converter"] is pydantic_data_converter
    assert captured.kwargs["runtime"] is runtime


async def test_connect_with_mtls(
    monkeypatch: pytest.MonkeyPatch, captured: Captured, pems: dict[str, Path]
) -> None:
    monkeypatch.setenv("SLAWATCH_TEMPORAL_ADDRESS", f"{CLOUD_NAMESPACE}.tmprl.cloud:7233")
    monkeypatch.setenv("SLAWATCH_TEMPORAL_NAMESPACE", CLOUD_NAMESPACE)
    monkeypatch.setenv("SLAWATCH_TEMPORAL_TLS_CLIENT_CERT", str(pems["client.pem"]))
    monkeypatch.setenv("SLAWATCH_TEMPORAL_TLS_CLIENT_KEY", str(pems["client.key"]))
    await temporal.connect(Settings())
    assert captured.args == (f"{CLOUD_NAMESPACE}.tmprl.cloud:7233",)
    tls = captured.kwargs["tls"]
    assert isinstance(tls, TLSConfig)
    assert tls.client_cert == b"-----BEGIN client.pem-----\n"
    assert captured.kwargs["api_key"] is None


async def test_connect_defaults_to_plain_local(captured: Captured) -> None:
    await temporal.connect(Settings())
    assert captured.args == ("127.0.0.1:7233",)
    assert captured.kwargs["namespace"] == "default"
    assert captured.kwargs["tls"] is False
    assert captured.kwargs["api_key"] is None
