"""The running suite for e2e tests: one per module, on its own nats-server, SQLite stores."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from support.auth import reader
from support.journey import Journey
from support.servers import free_port, nats_server

from jusou.runner import Suite

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")


@pytest.fixture(scope="module")
def running_suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    root = tmp_path_factory.mktemp("branches")
    ports = {name: free_port() for name in SERVICES}
    with nats_server(root / "nats") as nats, Suite(root / "data", nats_url=nats.url, ports=ports) as running:
        yield running


@pytest.fixture
async def journey(running_suite: Suite) -> AsyncIterator[Journey]:
    async with httpx.AsyncClient(timeout=10, headers=reader()) as client:  # reads not the test's point
        yield Journey({name: running_suite.url(name) for name in running_suite.services}, client)


