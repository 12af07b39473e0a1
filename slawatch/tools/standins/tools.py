"""Where the npm-installed stand-in tools live (Prism and Twilio's OpenAPI spec)."""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

# .ci/install-standins installs them here; SLAWATCH_STANDINS_DIR points elsewhere if wanted.
DEFAULT_DIR = Path(__file__).resolve().parents[3] / ".standins"
SPEC = "node_modules/@twilio-alpha/mcp/twilio-oai/spec/json/twilio_api_v2010.json"
PRISM = "node_modules/.bin/prism"


class StandinToolsMissing(RuntimeError):
    """Prism or the Twilio spec is not installed."""


def standins_dir() -> Path:
    return Path(os.environ.get("SLAWATCH_STANDINS_DIR") or DEFAULT_DIR)


def _require(relative: str, what: str) -> Path:
    path = standins_dir() / relative
    if not path.exists():
        raise StandinToolsMissing(f"{what} not found at {path}: run .ci/install-system")
    return path


def prism_binary() -> Path:
    """The prism executable installed by .ci/install-standins."""
    return _require(PRISM, "Prism (@stoplight/prism-cli)")


def twilio_spec() -> Path:
    """Twilio's official OpenAPI spec for the 2010-04-01 API (from @twilio-alpha/mcp)."""
    return _require(SPEC, "Twilio OpenAPI spec (@twilio-alpha/mcp)")


# `SLAWATCH_PORT_RANGE=LOW-HIGH` makes free_port pick there instead of asking the kernel. The
# test suite gives each of its pytest processes its own range below the kernel's ephemeral ports
# (tests/conftest.py), so a port one process picked and released a moment before starting a
# server on it cannot be handed to the other process, nor to anybody's bind to port 0.
PORT_RANGE = "SLAWATCH_PORT_RANGE"
_handed: dict[str, set[int]] = {}  # per range: the ports this process handed out


def free_port() -> int:
    """A loopback port free right now (another process could still take it before us)."""
    span = os.environ.get(PORT_RANGE, "")
    if not span:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    try:
        low, high = (int(x) for x in span.split("-"))
    except ValueError:
        raise ValueError(f"{PORT_RANGE}: {span!r} is not LOW-HIGH (e.g. 10000-20999)") from None
    handed = _handed.setdefault(span, set())
    if len(handed) > (high - low) // 2:
        handed.clear()  # long ago enough: those servers are gone
    for port in random.sample(range(low, high + 1), high - low + 1):
        if port in handed:
            continue  # handed out by this process already, maybe not listening yet
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        handed.add(port)
        return port
    raise RuntimeError(f"{PORT_RANGE}: no free port in {span}")
