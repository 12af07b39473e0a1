"""Start and stop both stand-ins; `python -m slawatch.tools.standins` runs them in front."""

from __future__ import annotations

import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from slawatch.settings import Settings
from slawatch.tools.standins.faults import FaultPlan
from slawatch.tools.standins.outbox import SENDGRID_OUTBOX, TWILIO_OUTBOX, outbox_dir
from slawatch.tools.standins.sendgrid import RunningSendgrid, start_sendgrid
from slawatch.tools.standins.twilio import RunningTwilio, start_twilio

TWILIO_FAULTS_ENV = "SLAWATCH_STANDIN_TWILIO_FAULTS"
SENDGRID_FAULTS_ENV = "SLAWATCH_STANDIN_SENDGRID_FAULTS"


@dataclass
class Standins:
    """The running Twilio (Prism + proxy) and SendGrid stand-ins and their outbox folder."""

    twilio: RunningTwilio
    sendgrid: RunningSendgrid
    outbox_dir: Path

    def stop(self) -> None:
        self.twilio.stop()
        self.sendgrid.stop()


def start_standins(
    data_dir: Path,
    *,
    twilio_port: int,
    prism_port: int,
    sendgrid_port: int,
    twilio_faults: FaultPlan | None = None,
    sendgrid_faults: FaultPlan | None = None,
    twilio_auth_token: str | None = None,
    sendgrid_api_key: str | None = None,
) -> Standins:
    """Both stand-ins on loopback, writing outboxes under data_dir/standins/."""
    out = outbox_dir(data_dir)
    sendgrid = start_sendgrid(
        sendgrid_port, out / SENDGRID_OUTBOX, sendgrid_faults, sendgrid_api_key
    )
    try:
        twilio = start_twilio(
            twilio_port, prism_port, out / TWILIO_OUTBOX, twilio_faults, twilio_auth_token
        )
    except BaseException:
        sendgrid.stop()
        raise
    return Standins(twilio, sendgrid, out)


def _port(url: str, field: str) -> int:
    port = urlsplit(url).port
    if port is None:
        raise ValueError(f"{field}: {url!r} needs an explicit port for the local stand-in")
    return port


def main() -> None:
    """Serve the stand-ins on the ports in settings until SIGINT or SIGTERM."""
    try:
        standins = _start_from_env()
    except (ValueError, RuntimeError) as exc:  # bad settings, missing tools, port in use
        print(f"slawatch stand-ins: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    print(f"twilio stand-in {standins.twilio.url}, sendgrid stand-in {standins.sendgrid.url}")
    print(f"outboxes in {standins.outbox_dir}", flush=True)
    done.wait()
    standins.stop()


def _start_from_env() -> Standins:
    settings = Settings()
    twilio_port = _port(settings.twilio_base_url, "SLAWATCH_TWILIO_BASE_URL")
    return start_standins(
        settings.data_dir,
        twilio_port=twilio_port,
        prism_port=twilio_port + 1,
        sendgrid_port=_port(settings.sendgrid_base_url, "SLAWATCH_SENDGRID_BASE_URL"),
        twilio_faults=FaultPlan.from_env(TWILIO_FAULTS_ENV),
        sendgrid_faults=FaultPlan.from_env(SENDGRID_FAULTS_ENV),
        twilio_auth_token=settings.twilio_auth_token.get_secret_value(),
        sendgrid_api_key=settings.sendgrid_api_key.get_secret_value(),
    )
