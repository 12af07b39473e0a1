"""`slawatch worker --processes N`: N worker processes on one host, each its own Temporal client.

A Python worker runs its workflow code under one GIL, so one process uses about one core. N
processes poll the same task queues; the server spreads new tickets over them, and each
ticket stays in the sticky cache of the process that first ran it. This process supervises:
it starts the N (spawned, not forked: the Temporal core's threads do not survive a fork),
passes SIGTERM/SIGINT on to them, and when one exits on its own it stops the others and
exits 1, so the supervisor above it (systemd, Kubernetes) restarts the set.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
from types import FrameType

import structlog

from slawatch.logging import configure_logging
from slawatch.settings import Settings
from slawatch.tools.process import exit_now

log = structlog.get_logger()


def metrics_address_for(address: str | None, index: int) -> str | None:
    """Process `index` serves /metrics on the configured port + index (one port each)."""
    if not address or index == 0:
        return address
    host, _, port = address.rpartition(":")
    return f"{host}:{int(port) + index}"


def run_in_this_process(settings: Settings, index: int = 0, processes: int = 1) -> None:
    """One worker process: run until SIGTERM/SIGINT, then exit without finalization."""
    # Here, not at the top: the supervisor of --processes N runs no worker itself, and without
    # the worker wiring (temporalio's worker, the workflows, the vendor clients) it stays small.
    from workers.worker import run_worker

    address = metrics_address_for(settings.metrics_bind_address, index)
    settings = settings.model_copy(update={"metrics_bind_address": address})
    configure_logging(settings.log_format, settings.log_level)
    if processes > 1:
        structlog.contextvars.bind_contextvars(process=index)
    try:
        asyncio.run(run_worker(settings, processes=processes))
    except (ValueError, OSError, RuntimeError) as exc:
        # Unreachable server, bad TLS files, a port in use: one line, not a traceback. And no
        # interpreter finalization: the Temporal core's threads abort it about one time in five
        # once a client was tried, turning exit 1 into SIGABRT and a fatal-error dump.
        print(f"error: {exc}", file=sys.stderr)
        exit_now(1)
    exit_now(0)


def _child(index: int, processes: int) -> None:
    # The settings were validated by the parent; the child reads the same environment.
    run_in_this_process(Settings(), index, processes)


def supervise(settings: Settings, processes: int) -> int:
    """Start `processes` worker processes and wait for them; returns the exit code."""
    configure_logging(settings.log_format, settings.log_level)
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=_child, args=(i, processes), name=f"slawatch-worker-{i}")
        for i in range(processes)
    ]
    stopping = False

    def stop_all(signum: int = signal.SIGTERM, _frame: FrameType | None = None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.pid is not None and child.exitcode is None:
                os.kill(child.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    for child in children:
        child.start()
    log.info("worker_processes_started", processes=processes, pids=[c.pid for c in children])
    code, running = 0, list(children)
    while running:
        ready = multiprocessing.connection.wait([c.sentinel for c in running])
        for child in [c for c in running if c.sentinel in ready]:
            child.join()
            running.remove(child)
            if child.exitcode != 0 or not stopping:
                log.error("worker_process_exited", process=child.name, exitcode=child.exitcode)
                code = 1
            if not stopping:
                stop_all()
    return code
