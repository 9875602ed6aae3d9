"""The running suite for e2e tests: the run's shared one (tests/conftest.py), or a module's own where it is marked
`own_suite`. Tests on the shared suite make their own records (fresh ids) and assert on those."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from support.auth import reader
from support.journey import Journey

from jusou.runner import Suite

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")


@pytest.fixture(scope="module")
def running_suite(module_suite: Suite) -> Suite:
    return module_suite


@pytest.fixture
async def journey(running_suite: Suite) -> AsyncIterator[Journey]:
    async with httpx.AsyncClient(timeout=10, headers=reader()) as client:  # reads not the test's point
        yield Journey({name: running_suite.url(name) for name in running_suite.services}, client)
