"""Processes the dev stack, the stand-ins, the benchmarks and the test fixtures start: waiting
until one is ready, stopping it (TERM, then KILL), and exiting a process that ran workers."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
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


class NotReady(RuntimeError):
    """What was awaited did not come: the time ran out, or the process meant to provide it
    exited. The message names what, and ends with the tail of the process's log if given."""


Process = subprocess.Popen[bytes] | asyncio.subprocess.Process


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on `host`:`port` now."""
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def _returncode(proc: Process | None) -> int | None:
    if isinstance(proc, subprocess.Popen):
        return proc.poll()
    return None if proc is None else proc.returncode


class _Deadline:
    """The shared end of poll_until and wait_until: give up when the process is gone or the
    time is over, saying which."""

    def __init__(self, what: str, limit: float, proc: Process | None, log: Path | None) -> None:
        self.what, self.limit, self.proc, self.log = what, limit, proc, log
        self.end = time.monotonic() + limit

    def check(self) -> None:
        code = _returncode(self.proc)
        if code is not None:
            raise NotReady(f"{self.what}: the process exited with {code}{self._tail()}")
        if time.monotonic() >= self.end:
            raise NotReady(
                f"timed out after {self.limit:g} s waiting for {self.what}{self._tail()}"
            )

    def _tail(self) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return "\n" + self.log.read_text(errors="replace")[-2000:]


async def poll_until(
    what: str,
    check: Callable[[], Any],
    limit: float = 60.0,
    interval: float = 0.2,
    *,
    proc: Process | None = None,
    log: Path | None = None,
    errors: tuple[type[BaseException], ...] = (),
) -> Any:
    """Call `check()` (plain or async) until it returns something truthy, and return that; an
    exception in `errors` counts as "not yet". After `limit` seconds, or as soon as `proc`
    exits, raise NotReady naming `what` (with the end of `log`). Used where no event can be
    awaited instead: a process coming up, a log line, visibility catching up."""
    deadline = _Deadline(what, limit, proc, log)
    while True:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
        except errors:
            result = None
        if result:
            return result
        deadline.check()
        await asyncio.sleep(interval)


def wait_until(
    what: str,
    check: Callable[[], Any],
    limit: float = 60.0,
    interval: float = 0.1,
    *,
    proc: Process | None = None,
    log: Path | None = None,
    errors: tuple[type[BaseException], ...] = (),
) -> Any:
    """poll_until for code with no event loop (fixtures, the stand-ins' start, benchmarks)."""
    deadline = _Deadline(what, limit, proc, log)
    while True:
        try:
            result = check()
        except errors:
            result = None
        if result:
            return result
        deadline.check()
        time.sleep(interval)


def _send(proc: Process, sig: signal.Signals, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended between the check and now
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)


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
    _send(proc, first, group)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        _send(proc, signal.SIGKILL, group)
        proc.wait()


async def stop_async(
    proc: asyncio.subprocess.Process,
    grace: float = 10.0,
    first: signal.Signals = signal.SIGTERM,
    group: bool = False,
) -> None:
    """stop_process for a process started with asyncio.create_subprocess_exec; `first=SIGKILL`
    is `kill -9` (no shutdown at all)."""
    if proc.returncode is not None:
        return
    _send(proc, first, group)
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        _send(proc, signal.SIGKILL, group)
        await proc.wait()
