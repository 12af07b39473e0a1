"""The one process helper (slawatch/tools/process.py): waiting fails fast, and names why, when
the process meant to provide the thing exits; stopping escalates TERM to KILL."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from slawatch.tools.process import NotReady, port_open, stop_async, wait_until
from slawatch.tools.standins.tools import free_port

# Ignores SIGTERM, says so, then sleeps: only KILL ends it.
STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('up', flush=True); time.sleep(60)"
)


def test_wait_until_fails_at_once_when_the_process_exits(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "print('no port for you'); raise SystemExit(3)"], stdout=out
        )
    began = time.monotonic()
    with pytest.raises(NotReady, match=r"(?s)the port: the process exited with 3.*no port for you"):
        wait_until("the port", lambda: port_open(free_port()), 30, proc=proc, log=log)
    assert time.monotonic() - began < 10  # not the 30 s limit


def test_wait_until_counts_listed_errors_as_not_yet() -> None:
    refusals = iter(range(2))

    def check() -> str:
        if next(refusals, None) is not None:
            raise OSError("refused")
        return "ready"

    assert wait_until("a flaky check", check, 5, interval=0.01, errors=(OSError,)) == "ready"
    with pytest.raises(NotReady, match=r"timed out after 0\.1 s waiting for never"):
        wait_until("never", lambda: False, 0.1, interval=0.01)


async def test_stop_async_kills_what_ignores_term() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", STUBBORN, stdout=asyncio.subprocess.PIPE, start_new_session=True
    )
    assert proc.stdout is not None
    assert await asyncio.wait_for(proc.stdout.readline(), 30) == b"up\n"  # TERM is ignored now
    await stop_async(proc, grace=0.5, group=True)
    assert proc.returncode == -signal.SIGKILL
