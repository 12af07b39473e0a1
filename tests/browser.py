"""Headless Chromium for the tests that look at a page: the Temporal UI, the HTML report.

Screenshots go to test-artifacts/ for people to look at after a run.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1600,1000",
    # Let the single-page app fetch and render the workflow list before the DOM is taken.
    "--virtual-time-budget=20000",
]


def chromium(tmp: Path, *args: str) -> str:
    binary = shutil.which("chromium")
    assert binary, "Debian's chromium package must be installed (.ci/install-system)"
    profile = tmp / f"profile-{uuid.uuid4().hex[:6]}"  # a fresh profile for every run
    run = subprocess.run(
        [binary, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout
