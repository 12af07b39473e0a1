"""A Temporal dev server of a test's own (the real server, not the time-skipping test server).

For tests whose workflows must not meet another test's: each gets a fresh server, shut down
after it. tests/intake_fixtures.py's `dev_env` is the shared, once-a-session one. A test module
takes this one with `from tests.temporal_fixtures import fresh_dev_env`. `slawatch_cli` runs the CLI
as its own process, as an operator would against that server, while the test's loop goes on.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from workers.worker import ensure_search_attributes


@pytest.fixture
async def fresh_dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=shutil.which("temporal"),
    )
    try:
        await ensure_search_attributes(env.client)
        yield env
    finally:
        await env.shutdown()


async def slawatch_cli(env: dict[str, str], *args: str) -> str:
    """`slawatch ARGS` in a subprocess with `env`; it must succeed. Its standard output."""
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("slawatch")),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await proc.communicate()
    assert proc.returncode == 0, stderr.decode()
    return stdout.decode()
