"""Processes the dev stack, the stand-ins, the benchmarks and the test fixtures start: waiting
until one is ready, stopping it (TERM, then KILL), and exiting a process that ran workers."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any, NoReturn


def exit_now(code: int = 0) -> NoReturn:
    """Flush and exit without interpreter finalization.

    The Temporal core's threads can abort a finalizing interpreter ("Fatal Python error:
    PyGILState_Release") after a clean shutdown: a worker stopped by SIGTERM would
    then report exit 134 to its supervisor although nothing went wrong.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


async def poll_until(
    what: str, check: Callable[[], Any], limit: float = 60.0, interval: float = 0.2
) -> Any:
    """Call `check()` (plain or async) until it returns something truthy, and return that; after
    `limit` seconds fail with an AssertionError naming `what`. Used where no event can be
    awaited instead: a process coming up, a log line, visibility catching up."""
    deadline = time.monotonic() + limit
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {limit:g} s waiting for {what}")
        await asyncio.sleep(interval)


def stop_process(
    proc: subprocess.Popen[bytes],
    grace: float = 10.0,
    first: signal.Signals = signal.SIGTERM,
    group: bool = False,
) -> None:
    """Ask `proc` to stop with `first` (TERM), wait `grace` seconds, then KILL it. With `group`,
    signal its whole process group (it was started with start_new_session=True)."""
    if proc.poll() is not None:
        return

    def send(sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):  # it ended between the poll and now
            if group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)

    send(first)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        proc.wait()
