"""A Temporal dev server of a test's own (the real server, not the time-skipping test server).

For tests whose workflows must not meet another test's: each gets a fresh server, shut down
after it. tests/intake_fixtures.py's `dev_env` is the shared, once-a-session one. A test module
takes this one with `from tests.temporal_fixtures import dev_env`.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from workers.worker import ensure_search_attributes


@pytest.fixture
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=shutil.which("temporal"),
    )
    try:
        await ensure_search_attributes(env.client)
        yield env
    finally:
        await env.shutdown()
