"""Where the npm-installed stand-in tools live (Prism and Twilio's OpenAPI spec)."""

from __future__ import annotations

import os
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


def free_port() -> int:
    """A loopback port free right now (another process could still take it before us)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
