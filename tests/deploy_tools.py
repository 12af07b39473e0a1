"""What the deploy/ checks share: where deploy/ is, and the installed tools they run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


DEPLOY = ROOT / "deploy"


def tool(name: str) -> str:
    """The tool's path: the venv's bin first (CI runs .venv/bin/pytest without activating)."""
    found = shutil.which(
        name, path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    )
    if found is None:
        pytest.fail(f"{name} is not installed: run `bash .ci/install-system` and `make install`")
    return found


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
