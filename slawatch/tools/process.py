"""Ending a process that ran Temporal workers."""

from __future__ import annotations

import os
import sys
from typing import NoReturn


def exit_now(code: int = 0) -> NoReturn:
    """Flush and exit without interpreter finalization.

    The Temporal core's threads can abort a finalizing interpreter ("Fatal Python error:
    PyGILState_Release") after a clean shutdown: a worker stopped by SIGTERM would
    then report exit 134 to its supervisor although nothing went wrong.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
